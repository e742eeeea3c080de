/**
 * Restart backoff with jitter: the delay doubles with each restart in the current intensity
 * window, capped, and is spread by ±jitter so that failing actors do not all hit a shared
 * backend at the same instant (the reason Pekko's BackoffSupervisor jitters).
 */

export interface BackoffPolicy {
  minMs: number;
  maxMs: number;
  /** Relative spread in [0, 1]: 0.2 means ±20 %. */
  jitter: number;
}

export const DEFAULT_BACKOFF = { minMs: 10, maxMs: 5_000, jitter: 0.2 } as const satisfies BackoffPolicy;

/** Delay before restart number `attempt` (1-based) within the window; `random` in [0, 1). */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: number = Math.random()): number {
  if (policy.minMs <= 0) return 0;
  const base = Math.min(policy.maxMs, policy.minMs * 2 ** Math.max(0, attempt - 1));
  const spread = base * policy.jitter * (2 * random - 1);
  return Math.max(0, Math.round(base + spread));
}

/**
 * Privacy events: what happened, as the parameters an accountant needs — never an ε.
 * The Accountant's ledger stores events and derives ε, so a better accountant recomputes every spend
 * exactly. Events are a wire format (after Google's dp_accounting `dp_event.py`): never
 * remove a `kind` or change its meaning; add a new kind, make new fields optional.
 */

export type PrivacyEvent =
  /** Gaussian mechanism: noise N(0, sigma²) on a query of L2 sensitivity `sensitivity`. */
  | { readonly kind: "gaussian"; readonly sigma: number; readonly sensitivity: number }
  /** Laplace mechanism: noise Lap(scale) on a query of L1 sensitivity `sensitivity`. */
  | { readonly kind: "laplace"; readonly scale: number; readonly sensitivity: number }
  /** A pure ε-DP selection: the exponential mechanism or report-noisy-max with Laplace/Gumbel noise. */
  | { readonly kind: "exponential"; readonly epsilon: number }
  /**
   * Gaussian noisy argmax over a vote histogram (PATE's GNMax, Papernot et al. 2018): one
   * contributor moves one vote between two bins, so the histogram's L2 sensitivity is √2.
   */
  | { readonly kind: "gnmax"; readonly sigma: number }
  /**
   * PATE's noisy threshold check (Confident-GNMax, Papernot et al. 2018, Alg. 1): is the top vote
   * count + N(0, sigma²) at least a threshold T? One contributor changing its vote moves the top
   * count by at most 1, so this is the Gaussian mechanism of sensitivity 1 on that count (RDP
   * α/(2σ²); the authors' `compute_rdp_data_independent_threshold`, "stability 1, compared to
   * GNMax, which has stability 2"). T is not a parameter: the data-independent charge does not
   * depend on it. Charged whatever the check answers.
   */
  | { readonly kind: "thresholdCheck"; readonly sigma: number }
  /** Each record takes part independently with probability `samplingRate` (Poisson subsampling). */
  | { readonly kind: "poissonSampled"; readonly samplingRate: number; readonly event: PrivacyEvent }
  /** The same event `count` times (e.g. DP-SGD steps). */
  | { readonly kind: "selfComposed"; readonly event: PrivacyEvent; readonly count: number }
  /** Several events, in any order. */
  | { readonly kind: "composed"; readonly events: readonly PrivacyEvent[] };

export type PrivacyEventKind = PrivacyEvent["kind"];

/**
 * The fields of each kind besides `kind`, in one fixed order: a nested event is `event`, a list
 * of them `events`, `count` a whole number ≥ 1, every other field a finite number. For code that
 * walks events without a case per kind (an event's identity, a fast shape check); a new kind in
 * the union above fails to compile until it is listed here.
 */
export const EVENT_FIELDS = {
  gaussian: ["sigma", "sensitivity"], laplace: ["scale", "sensitivity"], exponential: ["epsilon"], gnmax: ["sigma"], thresholdCheck: ["sigma"],
  poissonSampled: ["samplingRate", "event"], selfComposed: ["count", "event"], composed: ["events"],
} as const satisfies { readonly [K in PrivacyEventKind]: readonly Exclude<keyof Extract<PrivacyEvent, { kind: K }>, "kind">[] };

/**
 * The fields of `v`'s kind (EVENT_FIELDS) when `v` is an object of a known kind with exactly those
 * own fields besides `kind` (their values unchecked); undefined otherwise.
 */
export function exactEventFields(v: unknown): readonly string[] | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const kind = (v as { kind?: unknown }).kind;
  if (typeof kind !== "string" || !Object.hasOwn(EVENT_FIELDS, kind)) return undefined;
  const fields = EVENT_FIELDS[kind as PrivacyEventKind];
  let own = 0;
  for (const k in v) if (Object.hasOwn(v, k)) own++;
  return own === fields.length + 1 ? fields : undefined;
}

/** An accountant's answer for an event it cannot account for (the caller must not charge it). */
export interface Unsupported {
  readonly kind: "unsupported";
  /** The innermost offending event, as given. */
  readonly event: PrivacyEvent;
  readonly reason: string;
}

/** A privacy guarantee: (ε, δ)-DP. */
export interface EpsilonDelta {
  readonly epsilon: number;
  readonly delta: number;
}

/**
 * How to count events (STYLE §5). `check` looks and changes nothing; `compose` adds an event
 * that check accepted (it throws on one it did not); `epsilon`/`delta` read the total.
 */
export interface Accountant {
  check(event: PrivacyEvent): Unsupported | null;
  compose(event: PrivacyEvent, count?: number): void;
  /** Smallest ε such that everything composed so far is (ε, targetDelta)-DP. */
  epsilon(targetDelta: number): number;
  /** Smallest δ such that everything composed so far is (targetEpsilon, δ)-DP. */
  delta(targetEpsilon: number): number;
}

export const gaussian = (sigma: number, sensitivity = 1): PrivacyEvent => ({ kind: "gaussian", sigma, sensitivity });
export const laplace = (scale: number, sensitivity = 1): PrivacyEvent => ({ kind: "laplace", scale, sensitivity });
export const exponential = (epsilon: number): PrivacyEvent => ({ kind: "exponential", epsilon });
export const gnmax = (sigma: number): PrivacyEvent => ({ kind: "gnmax", sigma });
export const thresholdCheck = (sigma: number): PrivacyEvent => ({ kind: "thresholdCheck", sigma });
export const poissonSampled = (samplingRate: number, event: PrivacyEvent): PrivacyEvent => ({ kind: "poissonSampled", samplingRate, event });
export const selfComposed = (event: PrivacyEvent, count: number): PrivacyEvent => ({ kind: "selfComposed", event, count });
export const composed = (...events: PrivacyEvent[]): PrivacyEvent => ({ kind: "composed", events });

/** DP-SGD: `steps` steps of the Poisson-subsampled Gaussian with the given noise multiplier (σ/Δ). */
export const dpSgd = (samplingRate: number, noiseMultiplier: number, steps: number): PrivacyEvent =>
  selfComposed(poissonSampled(samplingRate, gaussian(noiseMultiplier, 1)), steps);

/**
 * Children as data: a supervisor is given ChildSpecs and the runtime starts them (OTP's
 * child_spec). Builders fill the defaults once, so docs, REPL and tests quote one set.
 */
import type { ActorDefinition } from "../actor/behavior.ts";
import { DEFAULT_MAILBOX, type MailboxConfig } from "../actor/mailbox.ts";
import { isValidName } from "../actor/path.ts";
import { InvalidArgument } from "../errors.ts";
import type { Placement } from "../events.ts";
import { DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.ts";
import type { RestartType, StrategyName } from "./strategies.ts";

export interface SupervisorOptions {
  strategy: StrategyName;
  /** At most `intensity` restarts in `periodMs`, then this supervisor fails and escalates. */
  intensity: number;
  periodMs: number;
  backoff: BackoffPolicy;
}

/** OTP's default_flags (one-for-one, intensity 1, period 5 s) plus our restart backoff. */
export const DEFAULT_SUPERVISION = {
  strategy: "one-for-one",
  intensity: 1,
  periodMs: 5_000,
  backoff: DEFAULT_BACKOFF,
} as const satisfies SupervisorOptions;

/** The one default of a child's restart type and shutdown time (OTP's default shutdown for a worker is 5 s too). */
export const DEFAULT_CHILD = { restart: "permanent", shutdownMs: 5_000 } as const;

export interface ActorChildOptions {
  placement?: Exclude<Placement, "supervisor">;
  mailbox?: Partial<MailboxConfig>;
  restart?: RestartType;
  /**
   * How long a stop, a halt before a restart, or a restart waits for the message being handled
   * and the stop hook, together (OTP's shutdown time); past it they are left behind. A pool's
   * tasks in flight get as long; a worker that does not answer in it is ended.
   */
  shutdownMs?: number;
  /** Threads of the piscina pool, for placement "pool". */
  poolThreads?: number;
  /**
   * Error codes after which restarting cannot help (a broken audit trail, a corrupt file): a
   * crash or a failed restart with one of them stops the child for good, with the reason, instead
   * of restarting it until the intensity is spent. A decider per error, as Pekko's.
   */
  stopOn?: readonly string[];
}

export interface ActorChildSpec<M = unknown, A = unknown> {
  readonly kind: "actor";
  readonly id: string;
  readonly definition: ActorDefinition<M, A>;
  readonly args: A;
  readonly placement: Exclude<Placement, "supervisor">;
  readonly mailbox: MailboxConfig;
  readonly restart: RestartType;
  readonly shutdownMs: number;
  readonly poolThreads: number;
  readonly stopOn: readonly string[];
}

export interface SupervisorChildSpec {
  readonly kind: "supervisor";
  readonly id: string;
  readonly options: SupervisorOptions;
  readonly children: readonly ChildSpec[];
  readonly restart: RestartType;
  readonly shutdownMs: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ChildSpec = ActorChildSpec<any, any> | SupervisorChildSpec;

export function actor<M, A>(
  id: string,
  definition: ActorDefinition<M, A>,
  args: A,
  opts: ActorChildOptions = {},
): ActorChildSpec<M, A> {
  checkName(id);
  const mailbox = { ...DEFAULT_MAILBOX, ...opts.mailbox };
  if (!Number.isInteger(mailbox.capacity) || mailbox.capacity < 1) {
    throw new InvalidArgument(`${id}.mailbox.capacity`, `must be a positive integer, got ${mailbox.capacity}`);
  }
  if (mailbox.overflow !== "drop-newest" && mailbox.overflow !== "backpressure") {
    throw new InvalidArgument(`${id}.mailbox.overflow`, `must be "drop-newest" or "backpressure", got ${String(mailbox.overflow)}`);
  }
  return {
    kind: "actor",
    id,
    definition,
    args,
    placement: opts.placement ?? "local",
    mailbox,
    restart: opts.restart ?? DEFAULT_CHILD.restart,
    shutdownMs: opts.shutdownMs ?? DEFAULT_CHILD.shutdownMs,
    poolThreads: opts.poolThreads ?? 2,
    stopOn: opts.stopOn ?? [],
  };
}

export function supervisor(
  id: string,
  children: readonly ChildSpec[],
  opts: Partial<SupervisorOptions> & { restart?: RestartType; shutdownMs?: number } = {},
): SupervisorChildSpec {
  checkName(id);
  const ids = new Set<string>();
  for (const child of children) {
    if (ids.has(child.id)) throw new InvalidArgument(`${id}.children`, `duplicate child id "${child.id}"`);
    ids.add(child.id);
  }
  const options = { ...DEFAULT_SUPERVISION, ...opts, backoff: { ...DEFAULT_BACKOFF, ...opts.backoff } };
  if (!Number.isInteger(options.intensity) || options.intensity < 0) {
    throw new InvalidArgument(`${id}.intensity`, `must be an integer ≥ 0, got ${options.intensity}`);
  }
  if (!(options.periodMs > 0)) throw new InvalidArgument(`${id}.periodMs`, `must be > 0, got ${options.periodMs}`);
  return {
    kind: "supervisor",
    id,
    options: { strategy: options.strategy, intensity: options.intensity, periodMs: options.periodMs, backoff: options.backoff },
    children,
    restart: opts.restart ?? DEFAULT_CHILD.restart,
    shutdownMs: opts.shutdownMs ?? DEFAULT_CHILD.shutdownMs,
  };
}

function checkName(id: string): void {
  if (!isValidName(id)) throw new InvalidArgument("child id", `"${id}" must match [A-Za-z0-9][A-Za-z0-9._-]*`);
}

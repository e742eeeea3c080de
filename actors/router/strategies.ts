/**
 * Routing strategies: which hospital (or which k hospitals) serves a request, given what the
 * Router knows of each — its breaker, region, weight, requests outstanding, latency EWMA and
 * whether its budget admits the query. Pure: candidates and a random source in, a choice out;
 * the Router keeps the `RouteStats` and feeds it every start and end. Filters (breaker,
 * residency, privacy) apply first in every strategy, so no strategy can pick a node the
 * request may not use.
 *
 * - round-robin: in turn.
 * - weighted: smooth weighted round-robin (nginx's algorithm: every node gains its weight, the
 *   largest is chosen and loses the total), so a cycle of Σw picks holds each node exactly w
 *   times, interleaved.
 * - least-outstanding: the power of two choices (Mitzenmacher 2001): two distinct nodes at
 *   random, the one with fewer requests in flight.
 * - latency: the lowest peak-EWMA cost, latency EWMA × (outstanding + 1) (Finagle's "peak
 *   EWMA"), so a fast node that is piling up requests stops looking fast.
 * - privacy-aware: among nodes whose hospital budget admits the query, the least outstanding.
 * - consensus: k distinct nodes for an ensemble, the least loaded first.
 *
 * What a node's breaker learns is routing too: `classifyFailure` says whose fault a failed call
 * to a hospital is, and only the hospital's own failures count against it (issue 15).
 */
import type { ShardExecutorErrorCode } from "../shard-executor/protocol.ts";

export interface Candidate {
  /** The hospital (node) id. */
  readonly id: string;
  readonly region: string;
  /** For the weighted strategy (default 1). */
  readonly weight?: number;
  /** The node's circuit breaker; open (or forced open) nodes are never chosen. */
  readonly breakerOpen?: boolean;
  /** Privacy-aware: false when the hospital's own budget would refuse the query. */
  readonly budgetAdmits?: boolean;
}

export type StrategyName = "round-robin" | "weighted" | "least-outstanding" | "latency" | "privacy-aware" | "consensus";
export const STRATEGIES: readonly StrategyName[] = ["round-robin", "weighted", "least-outstanding", "latency", "privacy-aware", "consensus"];

export interface RouteRequest {
  /** Only nodes of this region may serve it (data residency). */
  readonly region?: string;
  /** Consensus: how many distinct nodes (default 3). */
  readonly k?: number;
}

/** No node may serve the request; `reasons` says why each candidate was excluded. */
export class NoRoute extends Error {
  readonly code = "NO_ROUTE";
  constructor(readonly strategy: StrategyName, readonly needed: number, readonly reasons: Readonly<Record<string, string>>) {
    super(`no route (${strategy}, ${needed} node${needed === 1 ? "" : "s"} needed): ${Object.entries(reasons).map(([id, r]) => `${id}: ${r}`).join("; ") || "no nodes known"}`);
  }
  override get name(): string {
    return this.constructor.name;
  }
}

/** What the Router has seen of each node: requests in flight and a latency EWMA. */
export class RouteStats {
  readonly #outstanding = new Map<string, number>();
  readonly #ewmaMs = new Map<string, number>();
  #turn = 0;
  readonly #current = new Map<string, number>();

  /** `alpha`: the EWMA's weight of a new sample (default 0.2). */
  constructor(readonly alpha = 0.2) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must lie in (0, 1], got ${alpha}`);
  }

  started(id: string): void {
    this.#outstanding.set(id, this.outstanding(id) + 1);
  }

  /** A request to `id` ended after `latencyMs` (failures count too: a slow failure is slow). */
  ended(id: string, latencyMs: number): void {
    this.#outstanding.set(id, Math.max(0, this.outstanding(id) - 1));
    const before = this.#ewmaMs.get(id);
    this.#ewmaMs.set(id, before === undefined ? latencyMs : before + this.alpha * (latencyMs - before));
  }

  outstanding(id: string): number {
    return this.#outstanding.get(id) ?? 0;
  }

  /** Undefined until the first sample. */
  ewmaMs(id: string): number | undefined {
    return this.#ewmaMs.get(id);
  }

  /** @internal round-robin's and weighted's memory */
  nextTurn(): number {
    return this.#turn++;
  }

  /** @internal smooth weighted round-robin's current weights */
  get currentWeights(): Map<string, number> {
    return this.#current;
  }
}

/** The candidates a request may use, and why each other one may not. */
export function eligible(candidates: readonly Candidate[], request: RouteRequest, strategy: StrategyName): { ok: Candidate[]; reasons: Record<string, string> } {
  const ok: Candidate[] = [];
  const reasons: Record<string, string> = {};
  for (const c of candidates) {
    if (c.breakerOpen) reasons[c.id] = "breaker open";
    else if (request.region !== undefined && c.region !== request.region) reasons[c.id] = `region ${c.region}, the request needs ${request.region}`;
    else if (strategy === "privacy-aware" && c.budgetAdmits === false) reasons[c.id] = "its budget would refuse the query";
    else ok.push(c);
  }
  return { ok, reasons };
}

/**
 * Picks the node(s) for one request: one id, or k for consensus. Throws NoRoute when too few
 * nodes are eligible. `random` returns a uniform number in [0, 1).
 * @example
 * const [node] = choose("least-outstanding", candidates, {}, stats, Math.random);
 */
export function choose(strategy: StrategyName, candidates: readonly Candidate[], request: RouteRequest, stats: RouteStats, random: () => number): string[] {
  const { ok, reasons } = eligible(candidates, request, strategy);
  const needed = strategy === "consensus" ? (request.k ?? 3) : 1;
  if (!Number.isSafeInteger(needed) || needed < 1) throw new RangeError(`k must be an integer ≥ 1, got ${needed}`);
  if (ok.length < needed) throw new NoRoute(strategy, needed, reasons);
  const byLoad = (a: Candidate, b: Candidate) => stats.outstanding(a.id) - stats.outstanding(b.id) || (a.id < b.id ? -1 : 1);
  switch (strategy) {
    case "round-robin":
      return [ok[stats.nextTurn() % ok.length]!.id];
    case "weighted": {
      const current = stats.currentWeights;
      let total = 0;
      let best: Candidate | undefined;
      for (const c of ok) {
        const w = c.weight ?? 1;
        if (!(w > 0 && Number.isFinite(w))) throw new RangeError(`${c.id}: weight must be a positive number, got ${w}`);
        total += w;
        current.set(c.id, (current.get(c.id) ?? 0) + w);
        if (best === undefined || current.get(c.id)! > current.get(best.id)!) best = c;
      }
      current.set(best!.id, current.get(best!.id)! - total);
      return [best!.id];
    }
    case "least-outstanding":
    case "privacy-aware": {
      if (ok.length === 1) return [ok[0]!.id];
      const i = Math.floor(random() * ok.length);
      let j = Math.floor(random() * (ok.length - 1));
      if (j >= i) j++;
      // Ties go to the first of the random pair: a random node, not the lowest id.
      return [stats.outstanding(ok[i]!.id) <= stats.outstanding(ok[j]!.id) ? ok[i]!.id : ok[j]!.id];
    }
    case "latency": {
      // A node never measured costs 0: it gets tried, then its EWMA speaks for it.
      const cost = (c: Candidate) => (stats.ewmaMs(c.id) ?? 0) * (stats.outstanding(c.id) + 1);
      return [ok.reduce((best, c) => (cost(c) < cost(best) || (cost(c) === cost(best) && byLoad(c, best) < 0) ? c : best)).id];
    }
    case "consensus":
      return [...ok].sort(byLoad).slice(0, needed).map((c) => c.id);
    default: {
      const never: never = strategy;
      throw new RangeError(`unknown routing strategy ${String(never)}`);
    }
  }
}

/**
 * Whose fault a failed call to a hospital is (issue 15). The test: would the same request fail
 * the same way on every healthy hospital?
 * - "caller": yes, because of the request itself (a prompt past the model's context, a value a
 *   stage refuses). A 400; never retried on another hospital, never counted against a breaker,
 *   or one user's bad requests would take every hospital out of routing.
 * - "peer": no, it is this hospital's (unreachable, past the deadline, crashed, lost the
 *   sequence's cache, full, running other blocks than the plan). Counted against its breaker;
 *   a single answer that has released nothing is retried on another hospital.
 * - "internal": this node's own side (its driver, a defect). Not counted and not retried (it
 *   would fail the same there); a 503.
 * @example
 * classifyFailure(new PipelineStepFailed("s", "fed://h-b/user/node/shard-executor", "h-b", "CONTEXT_EXCEEDED", "…", 0)); // "caller"
 */
export type FailureClass = "caller" | "peer" | "internal";

/** Each ShardExecutor code's class: a new code is a compile error here until it is classified. */
export const STAGE_FAILURE_CLASS = Object.freeze({
  // Positions are the model's, the same on every hospital serving it: the request does not fit.
  CONTEXT_EXCEEDED: "caller",
  // The driver sends well-formed steps (pipeline.ts checks token ids first): what a stage still
  // finds invalid is the request's own values (sampling, a token id past the vocabulary).
  INVALID_STEP: "caller",
  SEQUENCE_LOST: "peer",
  TOO_MANY_SEQUENCES: "peer",
  WRONG_BLOCKS: "peer",
  STAGE_UNREACHABLE: "peer",
  DEADLINE_EXCEEDED: "peer",
  EXECUTOR_FAILED: "peer",
} satisfies Record<ShardExecutorErrorCode, FailureClass>);

/**
 * The class of `error`, read from its stable `code` (and the pipeline's `stageCode`), never its
 * message. A stage code this node does not know is the peer's (a newer hospital reports it);
 * anything untyped is internal.
 */
export function classifyFailure(error: unknown): FailureClass {
  const e = error as { readonly code?: unknown; readonly stageCode?: unknown; readonly field?: unknown } | null | undefined;
  switch (e?.code) {
    case "PIPELINE_STEP_FAILED":
      return Object.hasOwn(STAGE_FAILURE_CLASS, e.stageCode as string) ? STAGE_FAILURE_CLASS[e.stageCode as ShardExecutorErrorCode] : "peer";
    case "INVALID_GENERATE_REQUEST": // refused by the driver before sending: the prompt is the caller's, the rest ours
      return e.field === "prompt" ? "caller" : "internal";
    case "BREAKER_OPEN":
      return "peer";
    case "invalid_request":
      return "caller";
    default:
      return "internal";
  }
}

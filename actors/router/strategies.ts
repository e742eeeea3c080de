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
 * Whose fault a failed call to a hospital is, and so what its breaker learns, is failures.ts
 * (`classifyFailure`, issue 15).
 */
import { FedrouterError, registerErrors } from "../../errors/index.ts";

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
/**
 * The strategies the Router offers for single answers (config `http.strategy`, PUT
 * /v1/admin/config). Not "consensus" (that is how an ensemble picks its k), not "privacy-aware":
 * it needs each hospital's budget verdict, and no component produces one yet.
 */
export const FRONT_DOOR_STRATEGIES = ["round-robin", "weighted", "least-outstanding", "latency"] as const satisfies readonly StrategyName[];
export type FrontDoorStrategy = (typeof FRONT_DOOR_STRATEGIES)[number];

export interface RouteRequest {
  /** Only nodes of this region may serve it (data residency). */
  readonly region?: string;
  /** Consensus: how many distinct nodes (default 3). */
  readonly k?: number;
}

/** No node may serve the request; `reasons` says why each candidate was excluded. */
export class NoRoute extends FedrouterError {
  readonly code = "NO_ROUTE";
  constructor(readonly strategy: StrategyName, readonly needed: number, readonly reasons: Readonly<Record<string, string>>) {
    super(`no route (${strategy}, ${needed} node${needed === 1 ? "" : "s"} needed): ${Object.entries(reasons).map(([id, r]) => `${id}: ${r}`).join("; ") || "no nodes known"}`);
  }
}

registerErrors({ NO_ROUTE: (f) => new NoRoute(f.string("strategy") as StrategyName, f.number("needed"), f.value("reasons") as Record<string, string>) });

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

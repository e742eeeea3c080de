/**
 * Exact placement of a model's L transformer blocks over executors: contiguous stages, at most
 * one per executor, minimising the slowest stage — its blocks' measured compute on that executor
 * plus the link that carries the hidden state on to the next stage. Pure: no I/O, no clock, no
 * actor. Never a heuristic: every answer is an optimum, and ties are broken the same way every
 * time (fewest stages, then the lexicographically smallest chain), so equal inputs give equal plans.
 *
 * The search, in both modes, is a dynamic programme over states (context, e, j): executor `e`
 * runs the stage that starts at block `j`, and the context says which executors may follow it
 * (ordered: those after `e` in the given order; unordered: those not used yet, so the state
 * holds the used set and the last executor). A forward pass gives each state the smallest
 * bottleneck of the stages before it. That depends on the state alone, so min-max composes:
 * prefix(e' at k) = min over (e at j) of max(prefix(e at j), compute(e, j..k) + link(e, e')),
 * and the optimum is the min over states of max(prefix, compute(e, j..L)). A backward pass then
 * keeps the optimum as a limit and counts the fewest stages that meet it from each state, and
 * the chain is read off greedily in tie-break order.
 */
import { InvalidCalibration, NoExecutors, TooManyExecutors } from "./errors.ts";

/**
 * The unordered search has 2^n · n · L states with up to n · L moves each, and keeps 10 bytes
 * per state: at 12 executors that is 24 MB and about 0.2 s of one core for 48 blocks (GPT-2 XL),
 * 63 MB and about 1 s for 128 (measured on the development machine); every executor more
 * doubles both. The Planner re-plans inside its message loop on every join, leave and breaker
 * change, so we stop at 12 rather than stall it for seconds; a larger federation plans an
 * ordered chain (n² · L² work, any n) or groups its executors.
 */
export const MAX_UNORDERED_EXECUTORS = 12;
/** Blocks of the largest model we place (GPT-2 has 12–48, the largest open models about 126); it bounds the memory above. */
export const MAX_BLOCKS = 128;
/** A measured time above this (about 11.6 days) is a broken calibration, and sums of such times could overflow. */
export const MAX_COST_MS = 1e9;

/** What one executor costs: its measured time for each block, and its link to the next stage. */
export interface ExecutorCost {
  readonly id: string;
  /** Measured ms of each of the L blocks on this executor (length L). */
  readonly blockMs: readonly number[];
  /**
   * Ms to send one hidden state from this executor to the next stage: one figure for every next
   * executor, or a figure per next executor id. An id missing from the record has no link from
   * here: the two are never adjacent in a plan.
   */
  readonly linkMs: number | Readonly<Record<string, number>>;
}

export interface PartitionStage {
  readonly executor: string;
  readonly from: number;
  /** Exclusive. */
  readonly to: number;
  /** Sum of blockMs[from..to) on this executor. */
  readonly computeMs: number;
  /** The link to the next stage's executor; 0 for the last stage. */
  readonly linkMs: number;
  /** computeMs + linkMs: how long this stage holds one hidden state. */
  readonly costMs: number;
}

export interface Partition {
  /** Cover blocks 0..L-1 contiguously, in order; each executor appears at most once. */
  readonly stages: readonly PartitionStage[];
  /** The largest stage cost: the pipeline's time per token in steady state. */
  readonly bottleneckMs: number;
}

export interface PartitionOptions {
  /** True: the chain follows the given executor order (a subsequence of it); false: any order. */
  readonly ordered: boolean;
}

/**
 * The optimal contiguous partition of `blocks` blocks over `executors`. Throws
 * InvalidCalibration, NoExecutors (an empty list) or TooManyExecutors (unordered, > 12).
 *
 * @example
 * const plan = optimalPartition(4, [
 *   { id: "a", blockMs: [1, 1, 1, 1], linkMs: 1 },
 *   { id: "b", blockMs: [1, 1, 1, 1], linkMs: 1 },
 * ], { ordered: true });
 * // plan.bottleneckMs === 3: a runs block 0 (1 ms + 1 ms link), b runs 1..4 (3 ms); the tie with
 * // a 0..2 (2 + 1), b 2..4 (2) goes to the chain whose first stage ends first
 */
export function optimalPartition(blocks: number, executors: readonly ExecutorCost[], opts: PartitionOptions): Partition {
  checkCalibration(blocks, executors);
  if (opts.ordered) {
    const table = costTableOf(blocks, executors);
    return solve(table, chainGraph(table), Infinity);
  }
  if (executors.length > MAX_UNORDERED_EXECUTORS) throw new TooManyExecutors(executors.length, MAX_UNORDERED_EXECUTORS);
  // Indexed in id order, so an executor's index is its rank in the tie-break.
  const table = costTableOf(blocks, [...executors].sort((a, b) => compareIds(a.id, b.id)));
  // The best chain in id order is one unordered plan: its bottleneck bounds the subset search,
  // which then never extends a stage past it from the start.
  const boundMs = prefixBottlenecksOf(table, chainGraph(table), Infinity).bottleneckMs;
  return solve(table, subsetGraph(table), boundMs);
}

/** Throws InvalidCalibration for the first field the optimiser cannot use, NoExecutors for none. */
export function checkCalibration(blocks: number, executors: readonly ExecutorCost[]): void {
  checkBlocks(blocks);
  if (executors.length === 0) throw new NoExecutors(blocks);
  const seen = new Set<string>();
  executors.forEach((x, i) => {
    if (typeof x.id !== "string" || x.id.length === 0) throw new InvalidCalibration(`executors[${i}].id`, x.id, "an executor id must be a non-empty string");
    if (seen.has(x.id)) throw new InvalidCalibration(`executors[${i}].id`, x.id, "two executors share this id; ids must be unique", x.id);
    seen.add(x.id);
    if (!Array.isArray(x.blockMs) || x.blockMs.length !== blocks) {
      throw new InvalidCalibration("blockMs", x.blockMs, `must hold one measured time per block (${blocks}); calibrate this executor on the model it will run`, x.id);
    }
    x.blockMs.forEach((ms, b) => requireCost(`blockMs[${b}]`, ms, x.id));
    if (typeof x.linkMs === "number") requireCost("linkMs", x.linkMs, x.id);
    else if (typeof x.linkMs === "object" && x.linkMs !== null && !Array.isArray(x.linkMs)) {
      for (const [to, ms] of Object.entries(x.linkMs)) requireCost(`linkMs.${to}`, ms, x.id);
    } else throw new InvalidCalibration("linkMs", x.linkMs, "must be ms (a number), or a record of ms per next executor id", x.id);
  });
}

/** Throws InvalidCalibration unless `blocks` is a whole number from 1 to MAX_BLOCKS. */
export function checkBlocks(blocks: number): void {
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > MAX_BLOCKS) {
    throw new InvalidCalibration("blocks", blocks, `the model's block count must be a whole number from 1 to ${MAX_BLOCKS}`);
  }
}

function requireCost(field: string, ms: unknown, executor: string): void {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0 || ms > MAX_COST_MS) {
    throw new InvalidCalibration(field, ms, `a measured time must be a finite number of ms from 0 to ${MAX_COST_MS}`, executor);
  }
}

/** Code-unit order: the same in every locale and every Node version. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Costs indexed by executor position: blockMs[e][b], linkMs[e · n + e'] (Infinity: no link). */
interface CostTable {
  readonly blocks: number;
  readonly ids: readonly string[];
  readonly blockMs: readonly (readonly number[])[];
  readonly linkMs: Float64Array;
  /** rank[e]: e's position among the ids in code-unit order (the tie-break). */
  readonly rank: readonly number[];
}

function costTableOf(blocks: number, executors: readonly ExecutorCost[]): CostTable {
  const n = executors.length;
  const ids = executors.map((x) => x.id);
  const linkMs = new Float64Array(n * n).fill(Infinity);
  executors.forEach((x, e) => {
    ids.forEach((to, next) => {
      const ms = typeof x.linkMs === "number" ? x.linkMs : Object.hasOwn(x.linkMs, to) ? x.linkMs[to] : undefined;
      if (ms !== undefined) linkMs[e * n + next] = ms;
    });
  });
  const sorted = ids.map((id, e) => ({ id, e })).sort((a, b) => compareIds(a.id, b.id));
  const rank = new Array<number>(n);
  sorted.forEach(({ e }, r) => (rank[e] = r));
  return { blocks, ids, blockMs: executors.map((x) => x.blockMs), linkMs, rank };
}

/**
 * The states' graph: a node is an executor in a context; its edges go to the nodes of the
 * executors that may run the next stage, each with the link's cost. Stored flat (the edges of
 * node v are first[v]..first[v + 1]) because both passes walk every edge L² times and a
 * per-node allocation would cost more than the search itself.
 */
interface StageGraph {
  readonly size: number;
  /** Every node, each after all of its successors. */
  readonly backward: Int32Array;
  /** The executor of each node. */
  readonly executor: Int32Array;
  readonly first: Int32Array;
  /** Edge targets, in rank order of their executors within each node. */
  readonly target: Int32Array;
  readonly linkMs: Float64Array;
  /** The node of each executor running the first stage, in rank order. */
  readonly starts: readonly number[];
}

/** Lays out the graph whose node v runs executor executorOf(v) and may hand over to successors(v). */
function graphOf(table: CostTable, size: number, backward: readonly number[], executorOf: (node: number) => number, successors: (node: number) => number[], starts: readonly number[]): StageGraph {
  const n = table.ids.length;
  const executor = new Int32Array(size).fill(-1);
  const first = new Int32Array(size + 1);
  const target: number[] = [];
  const linkMs: number[] = [];
  const inOrder = [...backward].sort((a, b) => a - b);
  let at = 0;
  for (const node of inOrder) {
    for (; at <= node; at++) first[at] = target.length;
    const e = executorOf(node);
    executor[node] = e;
    for (const s of successors(node)) {
      target.push(s);
      linkMs.push(table.linkMs[e * n + executorOf(s)]!);
    }
  }
  for (; at <= size; at++) first[at] = target.length;
  return { size, backward: Int32Array.from(backward), executor, first, target: Int32Array.from(target), linkMs: Float64Array.from(linkMs), starts };
}

/** Ordered: node e; any executor after e in the given order may follow it. */
function chainGraph(table: CostTable): StageGraph {
  const n = table.ids.length;
  const byRank = [...Array(n).keys()].sort((a, b) => table.rank[a]! - table.rank[b]!);
  const nodes = [...Array(n).keys()];
  return graphOf(table, n, nodes.reverse(), (node) => node, (node) => byRank.filter((e) => e > node), byRank);
}

/** Unordered: node S · n + e, with S the executors used so far (e among them); any other may follow. */
function subsetGraph(table: CostTable): StageGraph {
  const n = table.ids.length; // indexed in rank order: index = rank
  const backward: number[] = [];
  for (let used = (1 << n) - 1; used >= 1; used--) {
    for (let e = 0; e < n; e++) if (used & (1 << e)) backward.push(used * n + e); // successors have larger sets
  }
  const successors = (node: number): number[] => {
    const used = Math.floor(node / n);
    const next: number[] = [];
    for (let e = 0; e < n; e++) if (!(used & (1 << e))) next.push((used | (1 << e)) * n + e);
    return next;
  };
  return graphOf(table, (1 << n) * n, backward, (node) => node % n, successors, [...Array(n).keys()].map((e) => (1 << e) * n + e));
}

/**
 * The forward pass. prefix[node · L + j]: the smallest bottleneck of the stages before the
 * node's executor starts at block j (Infinity: no way there). Every complete plan it meets
 * lowers the bound, and no stage above the bound is ever extended, so the pass touches only
 * states a plan at least as good as the best so far could pass through. Returns the optimum.
 */
function prefixBottlenecksOf(table: CostTable, graph: StageGraph, boundMs: number): { prefix: Float64Array; bottleneckMs: number } {
  const blocks = table.blocks;
  const { target, linkMs } = graph;
  const prefix = new Float64Array(graph.size * blocks).fill(Infinity);
  for (const s of graph.starts) prefix[s * blocks] = 0;
  let bestMs = boundMs;
  for (let at = graph.backward.length - 1; at >= 0; at--) {
    const node = graph.backward[at]!; // forward: every predecessor already done
    const ms = table.blockMs[graph.executor[node]!]!;
    const edgesFrom = graph.first[node]!;
    const edgesTo = graph.first[node + 1]!;
    for (let j = 0; j < blocks; j++) {
      const beforeMs = prefix[node * blocks + j]!;
      if (beforeMs > bestMs) continue;
      let computeMs = 0;
      for (let k = j + 1; k <= blocks; k++) {
        computeMs += ms[k - 1]!;
        // Costs are ≥ 0: a longer stage only costs more, so nothing past here can beat the bound.
        if (computeMs > bestMs) break;
        if (k === blocks) {
          const planMs = beforeMs > computeMs ? beforeMs : computeMs;
          if (planMs < bestMs) bestMs = planMs;
          break;
        }
        for (let i = edgesFrom; i < edgesTo; i++) {
          const stageMs = computeMs + linkMs[i]!;
          if (stageMs > bestMs) continue;
          const throughMs = beforeMs > stageMs ? beforeMs : stageMs;
          const slot = target[i]! * blocks + k;
          if (throughMs < prefix[slot]!) prefix[slot] = throughMs;
        }
      }
    }
  }
  return { prefix, bottleneckMs: bestMs };
}

const NO_WAY = 0xffff;

/**
 * The backward pass. counts[node · L + j]: the fewest stages that run blocks j..L-1 from that
 * state with no stage above `limitMs`, for every state a plan within the limit can reach (the
 * others, by `prefix`, are skipped and read NO_WAY).
 */
function stageCountsOf(table: CostTable, graph: StageGraph, prefix: Float64Array, limitMs: number): Uint16Array {
  const blocks = table.blocks;
  const { target, linkMs } = graph;
  const counts = new Uint16Array(graph.size * blocks).fill(NO_WAY);
  for (const node of graph.backward) {
    const ms = table.blockMs[graph.executor[node]!]!;
    const edgesFrom = graph.first[node]!;
    const edgesTo = graph.first[node + 1]!;
    for (let j = 0; j < blocks; j++) {
      if (prefix[node * blocks + j]! > limitMs) continue;
      let count = NO_WAY;
      let computeMs = 0;
      for (let k = j + 1; k <= blocks; k++) {
        computeMs += ms[k - 1]!;
        if (computeMs > limitMs) break;
        if (k === blocks) {
          count = 1;
          break;
        }
        for (let i = edgesFrom; i < edgesTo; i++) {
          const after = counts[target[i]! * blocks + k]!;
          if (after + 1 < count && computeMs + linkMs[i]! <= limitMs) count = after + 1;
        }
      }
      counts[node * blocks + j] = count;
    }
  }
  return counts;
}

/** The optimum, then the fewest stages that reach it, then the chain smallest in (executor id, end) order. */
function solve(table: CostTable, graph: StageGraph, boundMs: number): Partition {
  const blocks = table.blocks;
  const { prefix, bottleneckMs } = prefixBottlenecksOf(table, graph, boundMs);
  const counts = stageCountsOf(table, graph, prefix, bottleneckMs);
  let remaining = NO_WAY;
  for (const s of graph.starts) remaining = Math.min(remaining, counts[s * blocks]!);
  // One executor alone can always run every block (finite costs), and the bound is a real plan's.
  if (remaining === NO_WAY) throw new Error(`defect: no plan meets its own optimum ${bottleneckMs} ms`);
  let node = graph.starts.find((s) => counts[s * blocks] === remaining)!;
  let from = 0;
  const stages: PartitionStage[] = [];
  // Greedy in tie-break order: each step takes the smallest (end, next id) that can still finish
  // in exactly the stages left under the optimum; counts[] says which can.
  while (remaining > 1) {
    const e = graph.executor[node]!;
    const ms = table.blockMs[e]!;
    let computeMs = 0;
    let chosen: { to: number; node: number; linkMs: number } | undefined;
    for (let k = from + 1; k < blocks && chosen === undefined; k++) {
      computeMs += ms[k - 1]!;
      for (let i = graph.first[node]!; i < graph.first[node + 1]!; i++) {
        const linkMs = graph.linkMs[i]!;
        if (computeMs + linkMs <= bottleneckMs && counts[graph.target[i]! * blocks + k] === remaining - 1) {
          chosen = { to: k, node: graph.target[i]!, linkMs };
          break;
        }
      }
    }
    if (chosen === undefined) throw new Error("defect: the stage counts promise a chain that is not there");
    stages.push({ executor: table.ids[e]!, from, to: chosen.to, computeMs, linkMs: chosen.linkMs, costMs: computeMs + chosen.linkMs });
    node = chosen.node;
    from = chosen.to;
    remaining--;
  }
  const last = graph.executor[node]!;
  let computeMs = 0;
  for (let k = from; k < blocks; k++) computeMs += table.blockMs[last]![k]!;
  stages.push({ executor: table.ids[last]!, from, to: blocks, computeMs, linkMs: 0, costMs: computeMs });
  return { stages, bottleneckMs };
}

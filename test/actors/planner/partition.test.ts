/**
 * The placement optimiser against brute force: every ordering (or order-keeping subsequence) of
 * every subset of executors, times every contiguous split of the blocks, on random small cases
 * (≤ 8 blocks, ≤ 4 executors, scalar and per-pair links) and on an exhaustive grid; then cases
 * worked by hand, the tie-break, the executor cap, and the typed errors for bad calibrations.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_BLOCKS, MAX_UNORDERED_EXECUTORS, optimalPartition, type ExecutorCost, type Partition, type PartitionStage } from "../../../actors/planner/partition.ts";

/** Every chain of distinct executors: all orders of all subsets, or only order-keeping subsequences. */
function chainsOf(executors: readonly ExecutorCost[], ordered: boolean): ExecutorCost[][] {
  const out: ExecutorCost[][] = [];
  const grow = (chain: ExecutorCost[], from: number): void => {
    if (chain.length > 0) out.push([...chain]);
    executors.forEach((x, i) => {
      if (chain.includes(x) || (ordered && i < from)) return;
      chain.push(x);
      grow(chain, i + 1);
      chain.pop();
    });
  };
  grow([], 0);
  return out;
}

/** Every way to cut `blocks` into `parts` non-empty contiguous runs, as the end of each run. */
function cutsOf(blocks: number, parts: number): number[][] {
  if (parts === 1) return [[blocks]];
  const out: number[][] = [];
  for (let first = 1; first <= blocks - parts + 1; first++) {
    for (const rest of cutsOf(blocks - first, parts - 1)) out.push([first, ...rest.map((end) => end + first)]);
  }
  return out;
}

function linkOf(from: ExecutorCost, to: ExecutorCost): number {
  if (typeof from.linkMs === "number") return from.linkMs;
  return Object.hasOwn(from.linkMs, to.id) ? from.linkMs[to.id]! : Infinity;
}

/** The same objective and tie-break as the optimiser, by enumeration. */
function bruteForce(blocks: number, executors: readonly ExecutorCost[], ordered: boolean): Partition {
  let best: Partition | undefined;
  for (const chain of chainsOf(executors, ordered)) {
    if (chain.length > blocks) continue;
    for (const ends of cutsOf(blocks, chain.length)) {
      const stages: PartitionStage[] = chain.map((x, i) => {
        const from = i === 0 ? 0 : ends[i - 1]!;
        let computeMs = 0;
        for (let b = from; b < ends[i]!; b++) computeMs += x.blockMs[b]!;
        const linkMs = i === chain.length - 1 ? 0 : linkOf(x, chain[i + 1]!);
        return { executor: x.id, from, to: ends[i]!, computeMs, linkMs, costMs: computeMs + linkMs };
      });
      const bottleneckMs = Math.max(...stages.map((s) => s.costMs));
      if (bottleneckMs === Infinity) continue;
      const candidate = { stages, bottleneckMs };
      if (best === undefined || isBetter(candidate, best)) best = candidate;
    }
  }
  return best!;
}

function isBetter(a: Partition, b: Partition): boolean {
  if (a.bottleneckMs !== b.bottleneckMs) return a.bottleneckMs < b.bottleneckMs;
  if (a.stages.length !== b.stages.length) return a.stages.length < b.stages.length;
  for (let i = 0; i < a.stages.length; i++) {
    const [x, y] = [a.stages[i]!, b.stages[i]!];
    if (x.executor !== y.executor) return x.executor < y.executor;
    if (x.to !== y.to) return x.to < y.to;
  }
  return false;
}

const ID_POOL = ["h-b", "h-a", "h-d", "h-c"];

interface Case { blocks: number; ordered: boolean; executors: ExecutorCost[] }

/** Up to 4 executors with integer costs (so sums are exact); links scalar or per pair, some pairs unlinked. */
const casesArb: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 8 }).chain((blocks) =>
  fc.record({
    blocks: fc.constant(blocks),
    ordered: fc.boolean(),
    executors: fc.shuffledSubarray(ID_POOL, { minLength: 1, maxLength: 4 }).chain((ids) =>
      fc.tuple(...ids.map((id) =>
        fc.record({
          id: fc.constant(id),
          blockMs: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: blocks, maxLength: blocks }),
          linkMs: fc.oneof(
            fc.integer({ min: 0, max: 12 }),
            fc.dictionary(fc.constantFrom(...ids.filter((to) => to !== id), "h-x"), fc.integer({ min: 0, max: 12 }), { maxKeys: 4 }),
          ),
        }),
      )),
    ),
  }),
);

test("the optimum, stage count and chain agree with brute force on random cases of ≤ 8 blocks and ≤ 4 executors", () => {
  fc.assert(
    fc.property(casesArb, ({ blocks, ordered, executors }) => {
      assert.deepEqual(optimalPartition(blocks, executors, { ordered }), bruteForce(blocks, executors, ordered));
    }),
    { numRuns: 2_000 },
  );
});

test("brute force agrees on every case of an exhaustive grid (2 executors × ≤ 3 blocks × costs 0..2, 3 executors × 2 blocks × costs 0..1)", () => {
  let cases = 0;
  const grids: { ids: string[]; blocks: number[]; costs: number[]; links: number[] }[] = [
    { ids: ["x", "w"], blocks: [1, 2, 3], costs: [0, 1, 2], links: [0, 1, 2] },
    { ids: ["x", "w", "y"], blocks: [1, 2], costs: [0, 1], links: [0, 2] },
  ];
  for (const { ids, blocks: sizes, costs, links } of grids) {
    for (const blocks of sizes) {
      const cells = ids.length * blocks;
      for (let code = 0; code < costs.length ** cells; code++) {
        const digits = [...Array(cells).keys()].map((i) => costs[Math.floor(code / costs.length ** i) % costs.length]!);
        for (let linkCode = 0; linkCode < links.length ** ids.length; linkCode++) {
          const executors = ids.map((id, e) => ({
            id,
            blockMs: digits.slice(e * blocks, (e + 1) * blocks),
            linkMs: links[Math.floor(linkCode / links.length ** e) % links.length]!,
          }));
          for (const ordered of [true, false]) {
            const got = optimalPartition(blocks, executors, { ordered });
            const want = bruteForce(blocks, executors, ordered);
            if (JSON.stringify(got) !== JSON.stringify(want)) assert.deepEqual({ blocks, executors, ordered, got }, { blocks, executors, ordered, got: want });
            cases++;
          }
        }
      }
    }
  }
  assert.equal(cases, 2 * ((3 ** 2 + 3 ** 4 + 3 ** 6) * 9 + (2 ** 3 + 2 ** 6) * 8), "every grid case was checked");
});

test("the unordered plan does not depend on the order the executors are listed in", () => {
  fc.assert(
    fc.property(casesArb, fc.integer(), ({ blocks, executors }, seed) => {
      const shuffled = [...executors].sort((a, b) => ((a.id.charCodeAt(3) * seed) % 7) - ((b.id.charCodeAt(3) * seed) % 7));
      assert.deepEqual(optimalPartition(blocks, shuffled, { ordered: false }), optimalPartition(blocks, executors, { ordered: false }));
    }),
    { numRuns: 300 },
  );
});

test("the doc example: two equal executors, 4 blocks, 1 ms links — bottleneck 3, the first stage ending first", () => {
  const plan = optimalPartition(4, [
    { id: "a", blockMs: [1, 1, 1, 1], linkMs: 1 },
    { id: "b", blockMs: [1, 1, 1, 1], linkMs: 1 },
  ], { ordered: true });
  assert.equal(plan.bottleneckMs, 3);
  assert.deepEqual(plan.stages.map((s) => [s.executor, s.from, s.to, s.computeMs, s.linkMs, s.costMs]), [["a", 0, 1, 1, 1, 2], ["b", 1, 4, 3, 0, 3]]);
});

test("one executor runs every block in one stage, with no link", () => {
  const plan = optimalPartition(3, [{ id: "solo", blockMs: [2, 3, 4], linkMs: 50 }], { ordered: false });
  assert.deepEqual(plan, { stages: [{ executor: "solo", from: 0, to: 3, computeMs: 9, linkMs: 0, costMs: 9 }], bottleneckMs: 9 });
});

test("a slow executor takes one block in front of a fast one: max(4, 5) = 5 beats the fast one alone (6)", () => {
  const executors = [
    { id: "gpu", blockMs: [1, 1, 1, 1, 1, 1], linkMs: 0 },
    { id: "cpu", blockMs: [4, 4, 4, 4, 4, 4], linkMs: 0 },
  ];
  const ordered = optimalPartition(6, executors, { ordered: true }); // gpu must come first
  assert.deepEqual(ordered.stages.map((s) => [s.executor, s.from, s.to]), [["gpu", 0, 5], ["cpu", 5, 6]]);
  assert.equal(ordered.bottleneckMs, 5);
  const free = optimalPartition(6, executors, { ordered: false }); // same bottleneck; "cpu" < "gpu" wins the tie
  assert.deepEqual(free.stages.map((s) => [s.executor, s.from, s.to]), [["cpu", 0, 1], ["gpu", 1, 6]]);
  assert.equal(free.bottleneckMs, 5);
});

test("when links cost more than they save, one executor runs everything (the smallest id among equals)", () => {
  const plan = optimalPartition(4, [
    { id: "b", blockMs: [1, 1, 1, 1], linkMs: 10 },
    { id: "a", blockMs: [1, 1, 1, 1], linkMs: 10 },
  ], { ordered: false });
  assert.deepEqual(plan.stages.map((s) => [s.executor, s.from, s.to]), [["a", 0, 4]]);
  assert.equal(plan.bottleneckMs, 4);
});

test("per-pair links pick the cheap direction; in ordered mode the expensive one is the only one allowed", () => {
  const executors: ExecutorCost[] = [
    { id: "a", blockMs: [5, 5], linkMs: { b: 100 } },
    { id: "b", blockMs: [5, 5], linkMs: { a: 1 } },
  ];
  const free = optimalPartition(2, executors, { ordered: false });
  assert.deepEqual(free.stages.map((s) => [s.executor, s.costMs]), [["b", 6], ["a", 5]]);
  assert.equal(free.bottleneckMs, 6);
  const chain = optimalPartition(2, executors, { ordered: true }); // a → b costs 105: a alone (10) wins the tie with b alone
  assert.deepEqual(chain.stages.map((s) => [s.executor, s.from, s.to]), [["a", 0, 2]]);
});

test("a pair missing from a link record is never adjacent", () => {
  const executors: ExecutorCost[] = [
    { id: "a", blockMs: [9, 9], linkMs: {} },
    { id: "b", blockMs: [9, 9], linkMs: {} },
  ];
  for (const ordered of [true, false]) assert.equal(optimalPartition(2, executors, { ordered }).stages.length, 1, `ordered ${ordered}`);
  const linked = optimalPartition(2, [executors[0]!, { id: "b", blockMs: [9, 9], linkMs: { a: 0 } }], { ordered: false });
  assert.deepEqual(linked.stages.map((s) => s.executor), ["b", "a"]);
});

test(`the unordered search takes ${MAX_UNORDERED_EXECUTORS} executors and refuses one more; the ordered chain takes any number`, () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `e${String(i).padStart(2, "0")}`, blockMs: Array.from({ length: 12 }, (_, b) => 1 + ((i * 7 + b * 3) % 5)), linkMs: 1 + (i % 3) }));
  const plan = optimalPartition(12, many(MAX_UNORDERED_EXECUTORS), { ordered: false });
  assert.equal(plan.stages.at(-1)!.to, 12);
  assert.throws(() => optimalPartition(12, many(MAX_UNORDERED_EXECUTORS + 1), { ordered: false }), { code: "TOO_MANY_EXECUTORS", count: 13, max: 12 });
  const chain = optimalPartition(12, many(40), { ordered: true });
  assert.ok(chain.bottleneckMs <= plan.bottleneckMs + 5, `an ordered plan over 40 executors: ${chain.bottleneckMs} ms`);
});

test("bad calibrations are typed errors that name the executor and the field", () => {
  const ok = { id: "h1", blockMs: [1, 2], linkMs: 1 };
  const cases: [string, () => unknown, Record<string, unknown>][] = [
    ["no blocks", () => optimalPartition(0, [ok], { ordered: true }), { code: "INVALID_CALIBRATION", field: "blocks" }],
    ["fractional blocks", () => optimalPartition(1.5, [ok], { ordered: true }), { code: "INVALID_CALIBRATION", field: "blocks" }],
    ["too many blocks", () => optimalPartition(MAX_BLOCKS + 1, [ok], { ordered: true }), { code: "INVALID_CALIBRATION", field: "blocks" }],
    ["no executors", () => optimalPartition(2, [], { ordered: false }), { code: "NO_EXECUTORS", blocks: 2 }],
    ["blockMs too short", () => optimalPartition(3, [ok], { ordered: true }), { code: "INVALID_CALIBRATION", field: "blockMs", executor: "h1" }],
    ["a NaN block", () => optimalPartition(2, [{ ...ok, blockMs: [1, Number.NaN] }], { ordered: true }), { code: "INVALID_CALIBRATION", field: "blockMs[1]", executor: "h1" }],
    ["a negative block", () => optimalPartition(2, [{ ...ok, blockMs: [-1, 1] }], { ordered: true }), { code: "INVALID_CALIBRATION", field: "blockMs[0]" }],
    ["an infinite block", () => optimalPartition(2, [{ ...ok, blockMs: [Infinity, 1] }], { ordered: false }), { code: "INVALID_CALIBRATION", field: "blockMs[0]" }],
    ["a negative link", () => optimalPartition(2, [{ ...ok, linkMs: -3 }], { ordered: true }), { code: "INVALID_CALIBRATION", field: "linkMs" }],
    ["a NaN link to one peer", () => optimalPartition(2, [{ ...ok, linkMs: { h2: Number.NaN } }], { ordered: true }), { code: "INVALID_CALIBRATION", field: "linkMs.h2" }],
    ["a link that is not a number", () => optimalPartition(2, [{ ...ok, linkMs: "fast" as unknown as number }], { ordered: true }), { code: "INVALID_CALIBRATION", field: "linkMs" }],
    ["a duplicate id", () => optimalPartition(2, [ok, ok], { ordered: false }), { code: "INVALID_CALIBRATION", field: "executors[1].id" }],
  ];
  for (const [name, run, fields] of cases) {
    assert.throws(run, (error: unknown) => {
      for (const [key, value] of Object.entries(fields)) assert.equal((error as Record<string, unknown>)[key], value, `${name}: ${key}`);
      assert.ok(error instanceof Error && error.message.length > 20, `${name}: the message says what to do`);
      return true;
    }, name);
  }
});

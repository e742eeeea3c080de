import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BelowThreshold, MaskingOutOfOrder, MaskingServer, MaskingClient, resolveMaskingParams, type MaskingParams } from "../../../secagg/index.ts";
import { clientIds, randomUpdate, runRound, seeded, type Dropouts } from "./round.ts";

function assertExactSum(run: Awaited<ReturnType<typeof runRound>>): void {
  assert.deepEqual(run.result.contributors, run.contributors);
  assert.ok(run.result.ringSum.every((v, i) => v === run.plainRingSum[i]), "the unmasked ring sum equals the plain ring sum, coordinate by coordinate");
  for (let i = 0; i < run.floatSum.length; i++) {
    const error = Math.abs(run.result.sum[i]! - run.floatSum[i]!);
    // The float reference itself is a float64 sum of ≤ 20 float32 values: allow its own round-off too.
    assert.ok(error <= run.result.errorBound + 1e-12, `coordinate ${i}: |${run.result.sum[i]} − ${run.floatSum[i]}| = ${error} > ${run.result.errorBound}`);
  }
}

/** Splits `count` distinct ids, drawn from `ids` by `random`, across the four dropout points. */
function drawDropouts(ids: readonly string[], count: number, random: () => number): Dropouts {
  const pool = [...ids].sort(() => random() - 0.5).slice(0, count);
  const buckets: string[][] = [[], [], [], []];
  for (const id of pool) buckets[Math.floor(random() * 4)]!.push(id);
  return { beforeAdvertising: buckets[0], beforeSharing: buckets[1], beforeMasking: buckets[2], beforeUnmasking: buckets[3] };
}

test("with up to n − t dropouts at any stages, the unmasked sum is exactly the ring sum of the contributors' quantised updates (SecAgg, n ≤ 20)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 3, max: 20 }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.double({ min: 0.01, max: 100, noNaN: true }),
      async (n, d, seed, clipNorm) => {
        const random = seeded(seed);
        const t = Math.floor(n / 2) + 1 + Math.floor(random() * (n - Math.floor(n / 2))); // a majority, up to n
        const ids = clientIds(n);
        const updates = new Map(ids.map((id) => [id, randomUpdate(d, clipNorm, random)]));
        const drops = drawDropouts(ids, Math.floor(random() * (n - t + 1)), random);
        const run = await runRound({ roundId: `prop-${seed}`, maxClients: n, threshold: t, dimension: d, clipNorm }, ids, updates, drops);
        assertExactSum(run);
        assert.equal(run.contributors.length, n - (drops.beforeAdvertising!.length + drops.beforeSharing!.length + drops.beforeMasking!.length));
      },
    ),
    { numRuns: 20, seed: 20_260_513 },
  );
});

test("SecAgg+ on a random Harary graph sums exactly too, with dropouts spread over neighbourhoods", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 8, max: 20 }), fc.constantFrom(4, 6), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (n, k, d, seed) => {
      const random = seeded(seed);
      const ids = clientIds(n);
      const updates = new Map(ids.map((id) => [id, randomUpdate(d, 1, random)]));
      const params: MaskingParams = { roundId: `plus-${seed}`, maxClients: n, threshold: 2, dimension: d, clipNorm: 1, neighbours: k };
      // One client dropping before its masked input and one after: every secret keeps ≥ k − 1 live holders, and the
      // majority threshold ⌊(k + 1)/2⌋ + 1 is at most k − 1 for k ≥ 4.
      const late = ids[Math.floor(random() * n)]!;
      const early = ids.filter((id) => id !== late)[Math.floor(random() * (n - 1))]!;
      const run = await runRound(params, ids, updates, { beforeMasking: [early], beforeUnmasking: [late] });
      assertExactSum(run);
      assert.deepEqual(run.result.droppedAfterSharing, [early]);
    }),
    { numRuns: 12, seed: 7 },
  );
});

test("the result names who was summed and who dropped at which point, and its error bound counts the contributors", async () => {
  const ids = clientIds(7);
  const random = seeded(3);
  const updates = new Map(ids.map((id) => [id, randomUpdate(50, 2, random)]));
  const run = await runRound({ roundId: "named", maxClients: 7, threshold: 4, dimension: 50, clipNorm: 2 }, ids, updates, { beforeSharing: ["h-02"], beforeMasking: ["h-05"], beforeUnmasking: ["h-07"] });
  assertExactSum(run);
  assert.deepEqual(run.result.contributors, ["h-01", "h-03", "h-04", "h-06", "h-07"]);
  assert.deepEqual(run.result.droppedAfterSharing, ["h-05"]);
  assert.deepEqual(run.result.droppedBeforeSharing, ["h-02"]);
  const f = resolveMaskingParams({ roundId: "named", maxClients: 7, threshold: 4, dimension: 50, clipNorm: 2 }).fractionalBits;
  assert.equal(run.result.errorBound, 5 * 2 ** -(f + 1));
});

for (const [stage, drops] of [
  ["advertiseKeys", { beforeAdvertising: ["h-01", "h-02", "h-03"] }],
  ["shareKeys", { beforeSharing: ["h-01", "h-02"], beforeAdvertising: ["h-03"] }],
  ["maskedInput", { beforeMasking: ["h-04", "h-05", "h-06"] }],
  ["unmasking", { beforeMasking: ["h-01"], beforeUnmasking: ["h-02", "h-03"] }],
] as const) {
  test(`more than n − t dropouts by the ${stage} stage end the round with SECAGG_BELOW_THRESHOLD, never a sum`, async () => {
    const ids = clientIds(6);
    const updates = new Map(ids.map((id) => [id, new Float32Array(10).fill(0.1)]));
    await assert.rejects(runRound({ roundId: `low-${stage}`, maxClients: 6, threshold: 4, dimension: 10, clipNorm: 1 }, ids, updates, drops), (error: unknown) => {
      assert.ok(error instanceof BelowThreshold, String(error));
      assert.equal(error.code, "SECAGG_BELOW_THRESHOLD");
      assert.equal(error.stage, stage);
      assert.equal(error.threshold, 4);
      assert.ok(error.alive < 4);
      return true;
    });
  });
}

test("after a failed stage the server refuses every further step", async () => {
  const params = { roundId: "failed", maxClients: 4, threshold: 3, dimension: 4, clipNorm: 1 };
  const server = new MaskingServer(params);
  const client = new MaskingClient(params, "h-01");
  server.receive(client.advertise());
  assert.throws(() => server.keyDirectory(), BelowThreshold);
  assert.equal(server.stage, "failed");
  assert.throws(() => server.shareInboxes(), MaskingOutOfOrder);
  await assert.rejects(server.result(), MaskingOutOfOrder);
});

test("SecAgg+: too few holders of one client's shares left is SECAGG_BELOW_THRESHOLD naming that client", async () => {
  const n = 10;
  const ids = clientIds(n);
  const params: MaskingParams = { roundId: "plus-low", maxClients: n, threshold: 2, dimension: 8, clipNorm: 1, neighbours: 2 };
  // k = 2: each client's secrets sit with itself and 2 neighbours, threshold 2. Find a client and drop both neighbours after masking.
  const { neighbourhoods } = await import("../../../secagg/index.ts");
  const graph = neighbourhoods(ids, 2, "plus-low");
  const owner = ids[0]!;
  const updates = new Map(ids.map((id) => [id, new Float32Array(8).fill(0.01)]));
  await assert.rejects(runRound(params, ids, updates, { beforeUnmasking: [owner, ...graph.get(owner)!] }), (error: unknown) => {
    assert.ok(error instanceof BelowThreshold, String(error));
    assert.equal(error.stage, "unmasking");
    assert.ok(error.owner !== undefined && [owner, ...graph.get(owner)!].includes(error.owner));
    return true;
  });
});

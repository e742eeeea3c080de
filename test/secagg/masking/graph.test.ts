import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { addMask, expandMask, neighbourhoods } from "../../../secagg/index.ts";
import { clientIds } from "./round.ts";

test("the SecAgg+ graph is k-regular and symmetric, the same for every party of a round, complete when k ≥ m − 1", () => {
  fc.assert(
    fc.property(fc.integer({ min: 3, max: 60 }), fc.integer({ min: 1, max: 10 }), fc.string({ minLength: 1, maxLength: 12 }), (m, half, round) => {
      const k = 2 * half;
      const ids = clientIds(m);
      const graph = neighbourhoods(ids, k, round);
      const shuffled = neighbourhoods([...ids].reverse(), k, round);
      for (const id of ids) {
        const peers = graph.get(id)!;
        assert.deepEqual(shuffled.get(id), peers, "the input order does not matter");
        assert.ok(!peers.includes(id));
        assert.equal(new Set(peers).size, peers.length);
        assert.equal(peers.length, Math.min(k, m - 1));
        for (const peer of peers) assert.ok(graph.get(peer)!.includes(id), `${id}–${peer} is an edge both ways`);
      }
    }),
    { numRuns: 60 },
  );
});

test("different rounds draw different graphs (the ring order comes from the round id)", () => {
  const ids = clientIds(40);
  const graphs = new Set(["a", "b", "c", "d"].map((round) => JSON.stringify([...neighbourhoods(ids, 4, round)])));
  assert.equal(graphs.size, 4);
  assert.deepEqual(neighbourhoods(ids, null, "a").get("h-01"), ids.slice(1), "null is the complete graph");
});

test("a mask added and subtracted cancels exactly, and masks from different seeds differ", () => {
  const seed = new Uint8Array(32).fill(1);
  const other = new Uint8Array(32).fill(2);
  const v = Uint32Array.from({ length: 40_000 }, (_, i) => (i * 2_654_435_761) >>> 0);
  const original = Uint32Array.from(v);
  addMask(v, seed, 1);
  assert.notDeepEqual(v, original);
  addMask(v, seed, -1);
  assert.deepEqual(v, original);
  assert.notDeepEqual(expandMask(seed, 100), expandMask(other, 100));
  // Chunking is invisible: a prefix of a longer mask is the shorter mask.
  assert.deepEqual(expandMask(seed, 40_000).subarray(0, 17_000), expandMask(seed, 17_000));
});

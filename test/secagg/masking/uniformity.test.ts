/**
 * A masked update, as the server sees it, is uniform on Z_{2^32}: a χ² goodness-of-fit test on
 * the top 8 bits of 100,000 coordinates (256 bins, 255 degrees of freedom).
 *
 * Threshold: P(χ²₂₅₅ > 385) = 2.5e−7, by numerical integration of the χ²₂₅₅ density (Simpson's
 * rule on [385, 985], log-space density with lgamma); Wilson–Hilferty gives the same order. The
 * masks come from node:crypto's CSPRNG (they cannot be seeded), so each evaluation of a uniform
 * vector fails with that probability; this file evaluates two, so a false failure has probability
 * ≤ 5.1e−7. The power check shows the same statistic rejects the unmasked vector by far.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MaskingClient, MaskingServer, quantiseInto, resolveMaskingParams, type MaskedInput, type MaskingParams } from "../../../secagg/index.ts";
import { clientIds } from "./round.ts";

const D = 100_000;
const BINS = 256;
const THRESHOLD = 385;

function chiSquaredTopByte(words: Uint32Array): number {
  const counts = new Float64Array(BINS);
  for (const w of words) counts[w >>> 24]! += 1;
  const expected = words.length / BINS;
  let statistic = 0;
  for (const c of counts) statistic += ((c - expected) ** 2) / expected;
  return statistic;
}

/** The masked input of the first client of a round where every client's update is the same constant vector. */
async function maskedInputOfOne(params: MaskingParams, n: number, update: Float32Array): Promise<MaskedInput> {
  const server = new MaskingServer(params);
  const clients = clientIds(n).map((id) => new MaskingClient(params, id));
  for (const c of clients) server.receive(c.advertise());
  const directory = server.keyDirectory();
  for (const c of clients) server.receive(await c.shareKeys(directory));
  const inboxes = server.shareInboxes();
  return clients[0]!.maskInput(inboxes.find((i) => i.clientId === clients[0]!.clientId)!, update);
}

test("one SecAgg client's masked update is uniform on the ring (χ², top 8 bits, false-failure rate ≤ 2.5e−7)", async () => {
  const params = { roundId: "uniform", maxClients: 3, threshold: 2, dimension: D, clipNorm: 1 };
  const update = new Float32Array(D).fill(1 / Math.sqrt(D) * 0.999);
  const { masked } = await maskedInputOfOne(params, 3, update);
  const statistic = chiSquaredTopByte(masked);
  assert.ok(statistic < THRESHOLD, `χ² = ${statistic.toFixed(1)} ≥ ${THRESHOLD}`);

  // Power: the same statistic on the unmasked quantised update (all in one bin) is far beyond the threshold.
  const plain = new Uint32Array(D);
  const resolved = resolveMaskingParams(params);
  quantiseInto(update, plain, resolved.clipNorm, resolved.fractionalBits, "h-01");
  assert.ok(chiSquaredTopByte(plain) > 100 * THRESHOLD);
});

test("one SecAgg+ client's masked update is uniform on the ring as well (χ², false-failure rate ≤ 2.5e−7)", async () => {
  const params = { roundId: "uniform-plus", maxClients: 8, threshold: 2, dimension: D, clipNorm: 1, neighbours: 2 };
  const { masked } = await maskedInputOfOne(params, 8, new Float32Array(D));
  const statistic = chiSquaredTopByte(masked);
  assert.ok(statistic < THRESHOLD, `χ² = ${statistic.toFixed(1)} ≥ ${THRESHOLD}`);
});

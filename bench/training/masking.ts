/**
 * Pairwise-masking secure aggregation (secagg/masking) against its raw floor, the AES-CTR
 * keystream it cannot avoid, measured in the same process and run.
 *
 * Client: one `maskInput` of a real round (n clients, complete graph): open the n − 1 sealed
 * share pairs, quantise d floats, expand and add the self mask and n − 1 pairwise masks. Floor:
 * n raw AES-128-CTR keystream passes of 4d bytes (node:crypto `update`, 64 KiB at a time, over a
 * reused zero buffer), nothing added. Coordinator: with one client dropped after sharing its keys, from the
 * first revealed shares to the decoded sum — check the n − 1 reveals, rebuild n − 1 self-mask
 * seeds and the dropped client's key (Shamir), expand and subtract n − 1 self masks and the n − 1
 * masks the survivors shared with the dropped client, decode. Floor: 2(n − 1) raw keystream passes.
 * The coordinator's running sum of masked inputs (one add pass per input, as each arrives) is in
 * neither figure.
 *
 * Each round is a fresh protocol round (a client's step runs once); the figures are medians over
 * every client of every round (client) and over rounds (coordinator), each timed alone with its
 * floor timed right after it, so a slow spell of a shared machine hits both alike.
 */
import { createCipheriv, randomBytes } from "node:crypto";
import { MaskingClient, MaskingServer, resolveMaskingParams } from "../../secagg/index.ts";
import { CHUNK_WORDS } from "../../secagg/masking/mask.ts";
import { compared, type BenchResult } from "../report.ts";

export interface MaskingBenchOptions {
  /** n, default 10. */
  clients?: number;
  /** d, default 1,000,000. */
  dimension?: number;
  /** Protocol rounds, default 11 (n − 1 client samples each): external-memory GCs (each keystream chunk is a new Buffer) land in some rounds and not others, and 5 left the median to chance. */
  rounds?: number;
}

export async function runMaskingBench(options: MaskingBenchOptions = {}): Promise<BenchResult[]> {
  const n = options.clients ?? 10;
  const d = options.dimension ?? 1_000_000;
  const rounds = options.rounds ?? 11;
  // The floor makes the same keystream bytes the fastest way we found: 64 KiB updates over a reused
  // zero buffer (one 4d-byte update is slower, ~2.5× here: it allocates and faults in 4d fresh bytes).
  const zeros = new Uint8Array(CHUNK_WORDS * 4);
  const rawPasses = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const key = randomBytes(32);
      const cipher = createCipheriv("aes-128-ctr", key.subarray(0, 16), key.subarray(16));
      for (let done = 0; done < 4 * d; done += zeros.length) cipher.update(zeros.subarray(0, Math.min(zeros.length, 4 * d - done)));
    }
  };
  const update = new Float32Array(d);
  for (let i = 0; i < d; i++) update[i] = (Math.random() * 2 - 1) / Math.sqrt(d);

  const clientMs: number[] = [];
  const clientFloorMs: number[] = [];
  const serverMs: number[] = [];
  const serverFloorMs: number[] = [];
  for (let round = -1; round < rounds; round++) { // round −1 warms the JIT and is not counted
    const params = resolveMaskingParams({ roundId: `bench-${round}-${randomBytes(8).toString("hex")}`, maxClients: n, threshold: Math.floor(n / 2) + 1, dimension: d, clipNorm: 1 });
    const server = new MaskingServer(params);
    const clients = Array.from({ length: n }, (_, i) => new MaskingClient(params, `h-${i}`));
    for (const c of clients) server.receive(c.advertise());
    const directory = server.keyDirectory();
    for (const c of clients) server.receive(await c.shareKeys(directory));
    const inboxes = server.shareInboxes();
    const survivors = clients.slice(1); // h-0 drops after sharing its keys
    for (const c of survivors) {
      const inbox = inboxes.find((i) => i.clientId === c.clientId)!;
      let started = performance.now();
      const masked = c.maskInput(inbox, update);
      const elapsed = performance.now() - started;
      started = performance.now();
      rawPasses(n);
      const floor = performance.now() - started;
      if (round >= 0) {
        clientMs.push(elapsed);
        clientFloorMs.push(floor);
      }
      server.receive(masked);
    }
    const request = server.unmaskRequest();
    const reveals = survivors.map((c) => c.unmask(request));
    let started = performance.now();
    for (const reveal of reveals) server.receive(reveal);
    const result = await server.result();
    const elapsed = performance.now() - started;
    started = performance.now();
    rawPasses(2 * (n - 1));
    const floor = performance.now() - started;
    if (result.contributors.length !== n - 1) throw new Error(`bench: ${result.contributors.length} contributors, expected ${n - 1}`);
    if (round >= 0) {
      serverMs.push(elapsed);
      serverFloorMs.push(floor);
    }
  }
  const µs = (ms: number[]) => median(ms) * 1_000;
  const size = `n = ${n}, d = ${d.toLocaleString("en-US")}`;
  return [
    compared(`secagg masking: one client's masked input (${size})`, "µs", µs(clientMs), { name: `${n} raw AES-128-CTR keystreams of ${4 * d} B`, value: µs(clientFloorMs) }, "≤ 2"),
    compared(`secagg masking: coordinator unmasking, 1 dropout (${size})`, "µs", µs(serverMs), { name: `${2 * (n - 1)} raw AES-128-CTR keystreams of ${4 * d} B`, value: µs(serverFloorMs) }, "≤ 2"),
  ];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

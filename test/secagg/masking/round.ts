/**
 * Test driver for the masking protocol: runs one round of MaskingServer and MaskingClients in
 * process, with clients that drop out at chosen stages, and computes what the result must be
 * (the plain ring sum of the contributors' quantised updates) independently of the protocol.
 */
import { MaskingClient, MaskingServer, quantiseInto, resolveMaskingParams, type MaskingParams, type MaskingResult, type ResolvedMaskingParams } from "../../../secagg/index.ts";

/** Who stops answering before which step: never advertising, before sharing keys, before the masked input, before unmasking. */
export interface Dropouts {
  readonly beforeAdvertising?: readonly string[];
  readonly beforeSharing?: readonly string[];
  readonly beforeMasking?: readonly string[];
  readonly beforeUnmasking?: readonly string[];
}

export interface RoundRun {
  readonly result: MaskingResult;
  /** Σ round(x_u · 2^f) mod 2^32 over the clients that sent a masked input, computed without masks. */
  readonly plainRingSum: Uint32Array;
  /** Σ x_u in float64 over the same clients. */
  readonly floatSum: Float64Array;
  readonly contributors: readonly string[];
}

export const clientIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `h-${String(i + 1).padStart(2, "0")}`);

/** mulberry32: a small seeded generator for test data only (never for masks). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random float32 vector of length d with L2 norm ≤ clipNorm (scaled to a random fraction of it, sometimes all of it). */
export function randomUpdate(d: number, clipNorm: number, random: () => number): Float32Array {
  const x = new Float32Array(d);
  let squares = 0;
  for (let i = 0; i < d; i++) {
    x[i] = random() * 2 - 1;
    squares += x[i]! * x[i]!;
  }
  const target = clipNorm * (random() < 0.3 ? 1 : random()) * 0.999_99;
  const factor = squares === 0 ? 0 : target / Math.sqrt(squares);
  for (let i = 0; i < d; i++) x[i] = x[i]! * factor;
  return x;
}

export async function runRound(params: MaskingParams, ids: readonly string[], updates: ReadonlyMap<string, Float32Array>, drops: Dropouts = {}): Promise<RoundRun> {
  const resolved: ResolvedMaskingParams = resolveMaskingParams(params);
  const out = (list?: readonly string[]) => new Set(list ?? []);
  const [a, s, m, u] = [out(drops.beforeAdvertising), out(drops.beforeSharing), out(drops.beforeMasking), out(drops.beforeUnmasking)];
  const server = new MaskingServer(resolved);
  const clients = new Map(ids.map((id) => [id, new MaskingClient(resolved, id)]));
  for (const [id, client] of clients) if (!a.has(id)) server.receive(client.advertise(), id);
  const directory = server.keyDirectory();
  for (const entry of directory.clients) {
    if (!s.has(entry.clientId)) server.receive(await clients.get(entry.clientId)!.shareKeys(directory), entry.clientId);
  }
  const inboxes = server.shareInboxes();
  for (const inbox of inboxes) {
    if (!m.has(inbox.clientId)) server.receive(clients.get(inbox.clientId)!.maskInput(inbox, updates.get(inbox.clientId)!), inbox.clientId);
  }
  const request = server.unmaskRequest();
  for (const id of request.survivors) if (!u.has(id)) server.receive(clients.get(id)!.unmask(request), id);
  const result = await server.result();

  const plainRingSum = new Uint32Array(resolved.dimension);
  const floatSum = new Float64Array(resolved.dimension);
  const q = new Uint32Array(resolved.dimension);
  for (const id of request.survivors) {
    const x = updates.get(id)!;
    quantiseInto(x, q, resolved.clipNorm, resolved.fractionalBits, id);
    for (let i = 0; i < q.length; i++) {
      plainRingSum[i] = plainRingSum[i]! + q[i]!;
      floatSum[i] = floatSum[i]! + x[i]!;
    }
  }
  return { result, plainRingSum, floatSum, contributors: request.survivors };
}

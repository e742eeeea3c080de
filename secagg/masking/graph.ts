/**
 * Who masks with whom: the complete graph (SecAgg, Bonawitz et al. 2017) or, for SecAgg+ (Bell
 * et al., CCS 2020), a random k-regular Harary graph H(k, m) over the m clients that
 * advertised keys. Every party computes the same graph from public data alone — the round id and
 * the sorted list of clients — so the server cannot hand two clients different neighbourhoods
 * without the masks failing to cancel. Never draws on a private random source.
 *
 * Harary graph: place the m clients on a ring in a random order and link each to the k/2 nearest
 * on either side (k even). The order is a Fisher–Yates shuffle driven by AES-128-CTR under
 * SHA-256(label ‖ roundId), with rejection sampling so every permutation is equally likely.
 * Bell et al. take k = O(log n) (the constant set by the tolerated dropout and corruption
 * rates) and a per-neighbourhood threshold; when k ≥ m − 1 the graph is complete.
 *
 * Limit: the graph is only as random as the round id is unpredictable to the clients' adversary;
 * a server that chose the round id after seeing who joined could grind for a graph it likes. The
 * coordinator should fix the round id before the advertisements arrive (it does: the id is bound
 * into every advertisement's key derivations).
 */
import { createCipheriv, createHash } from "node:crypto";
import { context, LABELS } from "./keys.ts";
import { compareIds } from "./params.ts";

/** Each client's neighbours (never itself), sorted; both directions of every edge are present. */
export type Neighbourhoods = ReadonlyMap<string, readonly string[]>;

/** The neighbourhoods of `clients` (any order; duplicates are the caller's error) for degree k, or the complete graph for k null. */
export function neighbourhoods(clients: readonly string[], degree: number | null, roundId: string): Neighbourhoods {
  const sorted = [...clients].sort(compareIds);
  const m = sorted.length;
  const out = new Map<string, string[]>();
  if (degree === null || degree >= m - 1) {
    for (const id of sorted) out.set(id, sorted.filter((other) => other !== id));
    return out;
  }
  const ring = shuffle(sorted, roundId);
  const half = degree / 2;
  for (let position = 0; position < m; position++) {
    const peers: string[] = [];
    for (let step = 1; step <= half; step++) {
      peers.push(ring[(position + step) % m]!, ring[(position - step + m) % m]!);
    }
    out.set(ring[position]!, peers.sort(compareIds));
  }
  return out;
}

/** A uniformly random permutation of `items`, the same for every party that knows the round id. */
function shuffle(items: readonly string[], roundId: string): string[] {
  const key = createHash("sha256").update(context(LABELS.graph, roundId)).digest();
  const cipher = createCipheriv("aes-128-ctr", key.subarray(0, 16), key.subarray(16, 32));
  const zeros = new Uint8Array(4 * 64);
  let words = new Uint32Array(0);
  let next = 0;
  const draw = (): number => {
    if (next === words.length) {
      const bytes = cipher.update(zeros);
      words = new Uint32Array(new Uint8Array(bytes).buffer);
      next = 0;
    }
    return words[next++]!;
  };
  /** Uniform in [0, bound): rejects the top 2^32 mod bound values so no residue is favoured. */
  const below = (bound: number): number => {
    const limit = 2 ** 32 - (2 ** 32 % bound);
    for (;;) {
      const x = draw();
      if (x < limit) return x % bound;
    }
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = below(i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

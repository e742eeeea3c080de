/**
 * The public parameters of one masking round, shared by the server and every client, and their
 * validation. Never accepts a parameter set under which the protocol could return a wrong sum
 * (a ring that could wrap) or hand a server both kinds of shares of one client (a minority
 * threshold, unless the caller opts out explicitly).
 *
 * Why t > n/2 by default (Bonawitz et al., CCS 2017): at
 * unmasking every survivor reveals, for each peer v, either its share of v's self-mask seed b_v
 * (when v is said to have survived) or its share of v's masking key s_v (when v is said to have
 * dropped), never both. A malicious server could tell half the clients that v dropped and the
 * other half that v survived; with t > n/2 the two halves cannot both reach t, so it never holds
 * b_v and s_v together — which would unmask v's input alone. With SecAgg+ (Bell et al., CCS 2020)
 * the same argument runs per neighbourhood: v's shares are held by v's k neighbours and v itself,
 * so the per-neighbourhood threshold must exceed (k + 1)/2.
 *
 * The floor is 2 in every case: the Shamir library needs two shares at least, and a threshold of
 * 1 would make every share the secret itself.
 */
import { InvalidMaskingParameter } from "./errors.ts";
import { safeFractionalBits, requireNoWrap } from "./quantise.ts";

export interface MaskingParams {
  /** Bound into every derived key and into the SecAgg+ graph; a fresh, unguessable id per round (1–128 printable ASCII). */
  readonly roundId: string;
  /** n: the most clients that may join the round; the overflow bound and the majority rule use it. */
  readonly maxClients: number;
  /** t: the fewest clients that must be alive at every stage, and the Shamir threshold of the complete graph. */
  readonly threshold: number;
  /** d: the update's length. */
  readonly dimension: number;
  /** C: every update is already clipped to L2 norm ≤ C, so every coordinate lies in [−C, C]. */
  readonly clipNorm: number;
  /** f: coordinates are rounded to multiples of 2^−f. Omitted: the largest f for which n clients cannot wrap the ring. */
  readonly fractionalBits?: number;
  /** SecAgg+: each client masks with (and shares its secrets among) its k neighbours on a random Harary graph; k even. Omitted: the complete graph (SecAgg). */
  readonly neighbours?: number;
  /** SecAgg+: shares of one client's secrets needed to rebuild them, out of k + 1 holders. Default ⌊(k + 1)/2⌋ + 1, a majority. */
  readonly neighbourThreshold?: number;
  /** Default true: the share threshold must exceed half its holders (see the module comment). false keeps only the floor of 2. */
  readonly requireMajority?: boolean;
}

/** The parameters with every default filled in, as the state machines use them. */
export interface ResolvedMaskingParams {
  readonly roundId: string;
  readonly maxClients: number;
  readonly threshold: number;
  readonly dimension: number;
  readonly clipNorm: number;
  readonly fractionalBits: number;
  /** 2^f */
  readonly scale: number;
  /** null: the complete graph (SecAgg); a number: the Harary degree k (SecAgg+). */
  readonly neighbours: number | null;
  /** The Shamir threshold each client's secrets are split with: t for the complete graph, the per-neighbourhood threshold for SecAgg+. */
  readonly shareThreshold: number;
  readonly requireMajority: boolean;
}

export const DEFAULT_MASKING = { requireMajority: true } as const;

/** Above this many holders the GF(256) Shamir library runs out of x-coordinates (it allows 255). */
export const MAX_SHARE_HOLDERS = 255;
/** The most clients of one round: the complete graph is capped at MAX_SHARE_HOLDERS, SecAgg+ at this. */
export const MAX_CLIENTS = 10_000;
/** 2^27 coordinates (512 MiB per masked vector) is more than a round can carry. */
export const MAX_DIMENSION = 2 ** 27;

const ROUND_ID = /^[\x21-\x7e]{1,128}$/;

function fail(field: string, value: unknown, reason: string): never {
  throw new InvalidMaskingParameter(field, String(value), reason);
}

function requireInteger(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) fail(field, value, `must be a whole number from ${min} to ${max}`);
}

/**
 * Checks `params` and fills in the defaults; throws InvalidMaskingParameter or OverflowRisk.
 * @example
 * resolveMaskingParams({ roundId: "r-1", maxClients: 10, threshold: 6, dimension: 1000, clipNorm: 1 }).fractionalBits; // 27
 */
export function resolveMaskingParams(params: MaskingParams): ResolvedMaskingParams {
  const { roundId, maxClients, threshold, dimension, clipNorm } = params;
  const requireMajority = params.requireMajority ?? DEFAULT_MASKING.requireMajority;
  if (typeof roundId !== "string" || !ROUND_ID.test(roundId)) fail("roundId", JSON.stringify(roundId), "must be 1–128 printable ASCII characters without spaces");
  const neighbours = params.neighbours ?? null;
  requireInteger("maxClients", maxClients, 2, neighbours === null ? MAX_SHARE_HOLDERS : MAX_CLIENTS);
  requireInteger("threshold", threshold, 2, maxClients);
  requireInteger("dimension", dimension, 1, MAX_DIMENSION);
  if (!Number.isFinite(clipNorm) || clipNorm <= 0) fail("clipNorm", clipNorm, "must be a finite number > 0");

  let shareThreshold = threshold;
  if (neighbours === null) {
    if (params.neighbourThreshold !== undefined) fail("neighbourThreshold", params.neighbourThreshold, "applies only with neighbours (SecAgg+)");
    if (requireMajority && 2 * threshold <= maxClients) {
      fail("threshold", threshold, `must exceed maxClients / 2 = ${maxClients / 2} so that the server can never hold both kinds of shares of one client (or set requireMajority: false)`);
    }
  } else {
    requireInteger("neighbours", neighbours, 2, MAX_SHARE_HOLDERS - 1);
    if (neighbours % 2 !== 0) fail("neighbours", neighbours, "must be even (the Harary graph links k/2 clients on each side of the ring)");
    shareThreshold = params.neighbourThreshold ?? Math.floor((neighbours + 1) / 2) + 1;
    requireInteger("neighbourThreshold", shareThreshold, 2, neighbours + 1);
    if (requireMajority && 2 * shareThreshold <= neighbours + 1) {
      fail("neighbourThreshold", shareThreshold, `must exceed (neighbours + 1) / 2 = ${(neighbours + 1) / 2} so that the server can never hold both kinds of shares of one client (or set requireMajority: false)`);
    }
  }

  let fractionalBits: number;
  if (params.fractionalBits === undefined) {
    fractionalBits = safeFractionalBits(maxClients, clipNorm);
  } else {
    fractionalBits = params.fractionalBits;
    requireInteger("fractionalBits", fractionalBits, 0, 31);
    requireNoWrap(maxClients, clipNorm, fractionalBits);
  }
  return { roundId, maxClients, threshold, dimension, clipNorm, fractionalBits, scale: 2 ** fractionalBits, neighbours, shareThreshold, requireMajority };
}

const CLIENT_ID = /^[\x21-\x7e]{1,64}$/;

/** Whether `id` can name a client: 1–64 printable ASCII characters, no spaces. */
export function isClientId(id: unknown): id is string {
  return typeof id === "string" && CLIENT_ID.test(id);
}

/** The one order every party uses for client ids (UTF-16 code units, as `<` compares strings): it decides each pairwise mask's sign. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

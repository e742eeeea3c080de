/**
 * Which hospitals take part in a federated training round (DP-FedAvg, issue 13): pure logic, kept
 * apart from messaging. The coordinator states a round's cost before anyone trains — the ε it
 * adds to each participant's training budget at the federation's δ — and its quorum; the Planner
 * answers with the participants or a refusal, so that a round that cannot run (too few hospitals
 * up, or too few with budget left) is refused before any hospital trains.
 *
 * A hospital is left out when it is unavailable (its link or trainer is down) or when its training
 * budget has less than the round's ε left. Among the rest, with a sampling rate q < 1 each joins
 * independently with probability q (Poisson sampling, drawn from node:crypto): only then may the
 * accountant count the round as `poissonSampled(q, …)`; with q = 1 (the default) every eligible
 * hospital joins and no amplification by sampling is claimed. Leaving out hospitals for
 * availability or budget depends on no one's data, so it changes nothing in that accounting.
 *
 *   selectRound({ round: "r-7", candidates, quorum: 2, roundEpsilon: 0.4 })
 *   // { type: "selected", participants: ["hospital-a", "hospital-c"], excluded: [{ hospital: "hospital-b", reason: "budget", … }], samplingRate: 1 }
 */
import { randomInt } from "node:crypto";
import { FedrouterError, registerErrors } from "../../errors/index.ts";

/** At most this many candidates in one request (a bound on a message from the network). */
export const MAX_ROUND_CANDIDATES = 1_000;

export interface RoundCandidate {
  readonly hospital: string;
  /** Its link and its trainer are up now. */
  readonly available: boolean;
  /** ε its training budget has left this period (its Accountant's answer), at the federation's δ. */
  readonly remainingEpsilon: number;
}

export interface RoundSelectionRequest {
  readonly round: string;
  readonly candidates: readonly RoundCandidate[];
  /** The fewest participants the round may run with (≥ 1; secure aggregation needs its threshold t ≤ this). */
  readonly quorum: number;
  /** The ε this round adds to each participant's training budget (its stated cost). */
  readonly roundEpsilon: number;
  /** Poisson sampling rate q in (0, 1]: each eligible hospital joins with probability q; default 1 (all). */
  readonly samplingRate?: number;
}

export type ExclusionReason = "unavailable" | "budget" | "not-sampled";

export interface Exclusion {
  readonly hospital: string;
  readonly reason: ExclusionReason;
  readonly message: string;
}

export type RoundSelection =
  | { readonly type: "selected"; readonly round: string; readonly participants: readonly string[]; readonly excluded: readonly Exclusion[]; readonly samplingRate: number }
  | { readonly type: "refused"; readonly round: string; readonly code: "QUORUM_NOT_MET"; readonly message: string; readonly excluded: readonly Exclusion[] };

export class InvalidRoundRequest extends FedrouterError {
  readonly code = "INVALID_ROUND_REQUEST";
  constructor(readonly field: string, readonly reason: string) {
    super(`invalid round request: ${field}: ${reason}`);
  }
}
registerErrors({ INVALID_ROUND_REQUEST: (f) => new InvalidRoundRequest(f.string("field"), f.string("reason")) });

/** A uniform draw in [0, 1) at 2^-48 resolution, from node:crypto (tests pass their own). */
export type UnitRandom = () => number;
const cryptoUnit: UnitRandom = () => randomInt(2 ** 24) / 2 ** 24 + randomInt(2 ** 24) / 2 ** 48;

/** Checks a request's shape and values; throws InvalidRoundRequest naming the field. */
export function checkRoundRequest(request: RoundSelectionRequest): void {
  const { round, candidates, quorum, roundEpsilon, samplingRate } = request;
  if (typeof round !== "string" || !/^[\x21-\x7e]{1,128}$/.test(round)) throw new InvalidRoundRequest("round", "must be 1..128 printable ASCII characters");
  if (!Array.isArray(candidates) || candidates.length === 0) throw new InvalidRoundRequest("candidates", "must be a non-empty list");
  if (candidates.length > MAX_ROUND_CANDIDATES) throw new InvalidRoundRequest("candidates", `at most ${MAX_ROUND_CANDIDATES}, got ${candidates.length}`);
  const seen = new Set<string>();
  candidates.forEach((c, i) => {
    if (typeof c?.hospital !== "string" || !/^[\x21-\x7e]{1,128}$/.test(c.hospital)) throw new InvalidRoundRequest(`candidates[${i}].hospital`, "must be 1..128 printable ASCII characters");
    if (seen.has(c.hospital)) throw new InvalidRoundRequest(`candidates[${i}].hospital`, `${c.hospital} is listed twice`);
    seen.add(c.hospital);
    if (typeof c.available !== "boolean") throw new InvalidRoundRequest(`candidates[${i}].available`, "must be true or false");
    if (typeof c.remainingEpsilon !== "number" || Number.isNaN(c.remainingEpsilon) || c.remainingEpsilon < 0) throw new InvalidRoundRequest(`candidates[${i}].remainingEpsilon`, "must be a number ≥ 0");
  });
  if (!Number.isSafeInteger(quorum) || quorum < 1) throw new InvalidRoundRequest("quorum", `must be an integer ≥ 1, got ${String(quorum)}`);
  if (typeof roundEpsilon !== "number" || !Number.isFinite(roundEpsilon) || roundEpsilon <= 0) throw new InvalidRoundRequest("roundEpsilon", `must be a finite number > 0, got ${String(roundEpsilon)}`);
  if (samplingRate !== undefined && (typeof samplingRate !== "number" || !(samplingRate > 0 && samplingRate <= 1))) throw new InvalidRoundRequest("samplingRate", `must be in (0, 1], got ${String(samplingRate)}`);
}

/** The participants of a round, or why it cannot run; see the file's comment. */
export function selectRound(request: RoundSelectionRequest, random: UnitRandom = cryptoUnit): RoundSelection {
  checkRoundRequest(request);
  const q = request.samplingRate ?? 1;
  const excluded: Exclusion[] = [];
  const participants: string[] = [];
  for (const c of [...request.candidates].sort((a, b) => (a.hospital < b.hospital ? -1 : a.hospital > b.hospital ? 1 : 0))) {
    if (!c.available) excluded.push({ hospital: c.hospital, reason: "unavailable", message: `${c.hospital} is not reachable or has no trainer up` });
    else if (c.remainingEpsilon < request.roundEpsilon) {
      excluded.push({ hospital: c.hospital, reason: "budget", message: `${c.hospital} has ε ${c.remainingEpsilon} of training budget left; the round costs ε ${request.roundEpsilon}` });
    } else if (q < 1 && random() >= q) excluded.push({ hospital: c.hospital, reason: "not-sampled", message: `${c.hospital} was not drawn (sampling rate ${q})` });
    else participants.push(c.hospital);
  }
  if (participants.length < request.quorum) {
    const why = excluded.length === 0 ? "" : `; left out: ${excluded.map((e) => `${e.hospital} (${e.reason})`).join(", ")}`;
    return { type: "refused", round: request.round, code: "QUORUM_NOT_MET", message: `round ${request.round} needs ${request.quorum} hospitals and ${participants.length} can take part${why}`, excluded };
  }
  return { type: "selected", round: request.round, participants, excluded, samplingRate: q };
}

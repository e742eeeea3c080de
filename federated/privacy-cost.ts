/**
 * The privacy cost of DP-FedAvg training, as privacy events (what happened) counted by the
 * privacy library's accountants (how to count it). One round with client sampling rate q (the
 * expected number of clients over the population; 1 when every available hospital takes part)
 * and noise multiplier z is the Poisson-subsampled Gaussian mechanism on user-level data
 * (McMahan et al. 2018, Sec. 3): `poissonSampled(q, gaussian(z))`, or `gaussian(z)` at q = 1.
 * Never reports an ε that neither accountant vouches for: both are upper bounds, and the
 * tighter is the minimum of the two.
 */
import { gaussian, poissonSampled, type PrivacyEvent } from "../privacy/events.ts";
import { PldAccountant } from "../privacy/pld.ts";
import { RdpAccountant } from "../privacy/rdp.ts";
import { requireTraining } from "./errors.ts";

/**
 * The event one round releases.
 * @example roundEvent(1, 1.1); // { kind: "gaussian", sigma: 1.1, sensitivity: 1 }
 */
export function roundEvent(samplingRate: number, noiseMultiplier: number): PrivacyEvent {
  requireTraining(samplingRate > 0 && samplingRate <= 1, "samplingRate", samplingRate, "q = expected clients / population must lie in (0, 1]");
  requireTraining(Number.isFinite(noiseMultiplier) && noiseMultiplier > 0, "noiseMultiplier", noiseMultiplier, "must be a finite number > 0");
  const round = gaussian(noiseMultiplier, 1);
  return samplingRate === 1 ? round : poissonSampled(samplingRate, round);
}

export interface TrainingPrivacyRequest {
  /** Client sampling rate q in (0, 1]. */
  readonly q: number;
  /** Noise multiplier z = σ/C. */
  readonly z: number;
  readonly rounds: number;
  readonly delta: number;
}

export interface TrainingEpsilon {
  /** RDP (Mironov 2017) over Opacus's orders, and the order that gave it. */
  readonly rdp: { readonly epsilon: number; readonly order: number };
  /** PLD (dp_accounting's grid 1e-4), not capped by RDP. */
  readonly pld: number;
  /** min(rdp, pld): both are upper bounds. */
  readonly epsilon: number;
  readonly tightest: "rdp" | "pld";
}

function requireRequest({ q, z, rounds, delta }: TrainingPrivacyRequest): void {
  roundEvent(q, z);
  requireTraining(Number.isSafeInteger(rounds) && rounds >= 1, "rounds", rounds, "must be a positive integer");
  requireTraining(delta > 0 && delta < 1, "delta", delta, "must lie in (0, 1); take it below 1/population");
}

/**
 * ε after `rounds` rounds at δ, by both accountants.
 * @example trainingEpsilon({ q: 1, z: 2, rounds: 4, delta: 1e-5 }); // one Gaussian of σ = 2/√4 = 1: ε ≈ 4.22
 */
export function trainingEpsilon(request: TrainingPrivacyRequest): TrainingEpsilon {
  requireRequest(request);
  const event = roundEvent(request.q, request.z);
  const rdpAccountant = new RdpAccountant();
  rdpAccountant.compose(event, request.rounds);
  const rdp = rdpAccountant.privacySpent(request.delta);
  const pldAccountant = new PldAccountant({ capByRdp: false });
  pldAccountant.compose(event, request.rounds);
  const pld = pldAccountant.epsilon(request.delta);
  return { rdp, pld, epsilon: Math.min(rdp.epsilon, pld), tightest: pld <= rdp.epsilon ? "pld" : "rdp" };
}

export interface MaxRoundsRequest {
  readonly q: number;
  readonly z: number;
  readonly delta: number;
  /** The ε training may spend. */
  readonly epsilonBudget: number;
  /** Never search past this many rounds (default 10⁶). */
  readonly roundLimit?: number;
}

/** The search stops at this many rounds unless told otherwise. */
export const DEFAULT_ROUND_LIMIT = 1_000_000;

/**
 * The most rounds whose tight ε (min of RDP and PLD) stays within the budget; 0 if even one
 * round exceeds it. ε grows with the number of rounds, so an exponential then binary search
 * finds it; RDP alone (fast, looser) gives the lower end of the bracket, since any R it allows
 * the tight ε allows too.
 * @example maxRounds({ q: 1, z: 2, delta: 1e-5, epsilonBudget: 4.3 }); // 4
 */
export function maxRounds(request: MaxRoundsRequest): { rounds: number; epsilon: number } {
  const { q, z, delta, epsilonBudget } = request;
  const limit = request.roundLimit ?? DEFAULT_ROUND_LIMIT;
  requireRequest({ q, z, delta, rounds: 1 });
  requireTraining(epsilonBudget > 0, "epsilonBudget", epsilonBudget, "must be a number > 0");
  requireTraining(Number.isSafeInteger(limit) && limit >= 1, "roundLimit", limit, "must be a positive integer");
  const event = roundEvent(q, z);
  const rdpEpsilon = (rounds: number): number => {
    const accountant = new RdpAccountant();
    accountant.compose(event, rounds);
    return accountant.epsilon(delta);
  };
  const tight = (rounds: number): number => trainingEpsilon({ q, z, rounds, delta }).epsilon;
  // Lower end: the largest R RDP alone allows (cheap to evaluate), by doubling then bisection.
  const largest = (fits: (rounds: number) => boolean, from: number): number => {
    if (!fits(from)) return from - 1;
    let lo = from, hi = from;
    while (hi < limit) {
      hi = Math.min(limit, hi * 2);
      if (!fits(hi)) break;
      lo = hi;
    }
    if (lo === hi) return lo; // the limit itself fits
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (fits(mid)) lo = mid;
      else hi = mid;
    }
    return lo;
  };
  const byRdp = largest((r) => rdpEpsilon(r) <= epsilonBudget, 1);
  const rounds = largest((r) => tight(r) <= epsilonBudget, Math.max(1, byRdp));
  return { rounds, epsilon: rounds === 0 ? 0 : tight(rounds) };
}

/**
 * Restart intensity, as OTP's supervisor judges it: at most `intensity` restarts within any
 * `periodMs`; one more and the supervisor gives up. Pure: history in, verdict out.
 */

export interface IntensityPolicy {
  /** Most restarts allowed within periodMs (OTP's MaxR). */
  intensity: number;
  /** The sliding period in ms (OTP's MaxT). */
  periodMs: number;
}

export type IntensityVerdict = "restart" | "give-up";

/** Records a restart at nowMs; drops restarts older than the period. */
export function recordRestart(
  history: readonly number[],
  nowMs: number,
  policy: IntensityPolicy,
): { history: number[]; verdict: IntensityVerdict } {
  const recent = history.filter((atMs) => nowMs - atMs < policy.periodMs);
  recent.push(nowMs);
  return { history: recent, verdict: recent.length > policy.intensity ? "give-up" : "restart" };
}

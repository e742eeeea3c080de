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

/**
 * Records a restart at nowMs (monotonic time); drops restarts older than the period. As OTP's
 * `add_restart` (supervisor.erl: a restart is kept while `Restart >= Now - Period`), the bound is
 * inclusive: a restart exactly `periodMs` ago still counts.
 */
export function recordRestart(
  history: readonly number[],
  nowMs: number,
  policy: IntensityPolicy,
): { history: number[]; verdict: IntensityVerdict } {
  const recent = history.filter((atMs) => nowMs - atMs <= policy.periodMs);
  recent.push(nowMs);
  return { history: recent, verdict: recent.length > policy.intensity ? "give-up" : "restart" };
}

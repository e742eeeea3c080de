/**
 * The one message every figure of the runtime suite moves: about 100 bytes as JSON
 * (`{"type":"add","n":12345,"label":"xxx…"}` is 96), built fresh for each send on both sides.
 */
export const LABEL = "x".repeat(60);

export interface AddMsg {
  type: "add";
  n: number;
  label: string;
}

export function addMessage(): AddMsg {
  return { type: "add", n: 12345, label: LABEL };
}

/** What the counting side answers at the end of a batch, fedrouter and raw alike. */
export interface Tally {
  count: number;
  sum: number;
}

/** The per-message work of every counting receiver (actor, raw worker, direct-call loop). */
export function count(tally: Tally, msg: AddMsg): void {
  tally.count++;
  tally.sum += msg.n;
}

/**
 * Stop sequences (OpenAI's `stop`): the text of an answer, piece by piece as it is decoded, cut
 * before the first occurrence of any stop sequence. Never releases a character at or after that
 * occurrence, not even while a stop sequence is only half generated: the end of what it has seen
 * that could begin one is held back until the next piece says whether it does. Pure: text in,
 * text to release out.
 *
 *   const filter = new StopFilter(["\n\n"]);
 *   filter.push("Rest.\n");   // { text: "Rest.", stopped: false }   ("\n" held back)
 *   filter.push("\nNext");    // { text: "", stopped: true }         (the answer is "Rest.")
 *
 * Invariant between pushes: the text released contains no stop sequence and ends with no proper
 * prefix of one (that part is held), so an occurrence always begins in the held text or the new
 * piece, and one search of held + piece finds the first.
 */
import { InvalidRequestError } from "./http/errors.ts";

/** The most stop sequences a request may give (OpenAI's bound). */
export const MAX_STOP_SEQUENCES = 4;
/** The longest stop sequence, in characters. */
export const MAX_STOP_CHARS = 256;

export interface StopStep {
  /** What may be released now (possibly empty). */
  readonly text: string;
  /** A stop sequence was reached: the answer ends after `text`; generate nothing more. */
  readonly stopped: boolean;
}

export class StopFilter {
  readonly #stops: readonly string[];
  #held = "";
  #stopped = false;

  /** Refuses (InvalidRequestError on `stop`) what the HTTP layer refuses too: more than 4, an empty or overlong one. */
  constructor(stops: readonly string[]) {
    if (stops.length > MAX_STOP_SEQUENCES) throw new InvalidRequestError("stop", `at most ${MAX_STOP_SEQUENCES} stop sequences (got ${stops.length})`);
    if (stops.some((s) => typeof s !== "string" || s.length === 0 || s.length > MAX_STOP_CHARS)) {
      throw new InvalidRequestError("stop", `a stop sequence must be 1..${MAX_STOP_CHARS} characters`);
    }
    this.#stops = [...stops];
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** The next decoded piece: what to release now, and whether a stop sequence ended the answer. */
  push(piece: string): StopStep {
    if (this.#stopped) return { text: "", stopped: true };
    const text = this.#held + piece;
    const at = firstOccurrence(text, this.#stops);
    if (at >= 0) {
      this.#held = "";
      this.#stopped = true;
      return { text: text.slice(0, at), stopped: true };
    }
    const hold = longestStopPrefixSuffix(text, this.#stops);
    this.#held = text.slice(text.length - hold);
    return { text: text.slice(0, text.length - hold), stopped: false };
  }

  /** The answer ended without a stop sequence: what is still held is released. */
  flush(): string {
    const held = this.#stopped ? "" : this.#held;
    this.#held = "";
    return held;
  }
}

/** The first index at which any of `stops` occurs in `text`, or -1. */
function firstOccurrence(text: string, stops: readonly string[]): number {
  let first = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && (first < 0 || at < first)) first = at;
  }
  return first;
}

/** The length of the longest suffix of `text` that is a proper prefix of one of `stops`. */
function longestStopPrefixSuffix(text: string, stops: readonly string[]): number {
  let longest = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

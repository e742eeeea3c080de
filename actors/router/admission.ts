/**
 * How many answers the Router generates at once, and who goes next: at most `maxConcurrent`
 * requests run; the others wait, the highest `priority` first (5 before 1), in arrival order
 * within a priority; past `maxQueued` waiting, a request is refused at once (503) rather than
 * queued without bound. `PUT /v1/admin/config` `performance.maxConcurrentRequests` changes the
 * limit while running (a lower one lets the running finish; a higher one admits waiters at once).
 *
 * Hand-written: a priority queue of a few hundred waiters wants no library.
 */
import { UnavailableError } from "./http/errors.ts";

interface Waiter {
  readonly priority: number;
  readonly seq: number;
  readonly admit: () => void;
}

export class Admission {
  #running = 0;
  #seq = 0;
  /** Waiters, highest priority first, then oldest first. */
  readonly #waiting: Waiter[] = [];

  constructor(private maxConcurrent: number, private readonly maxQueued: number) {
    Admission.check(maxConcurrent);
  }

  static check(maxConcurrent: number): void {
    if (!(Number.isSafeInteger(maxConcurrent) && maxConcurrent >= 1)) throw new RangeError(`maxConcurrent must be an integer ≥ 1, got ${maxConcurrent}`);
  }

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  get limit(): number {
    return this.maxConcurrent;
  }

  /** Resolves with a release function once the request may run; refuses when the queue is full. */
  acquire(priority: number): Promise<() => void> {
    if (this.#running < this.maxConcurrent && this.#waiting.length === 0) return Promise.resolve(this.#take());
    if (this.#waiting.length >= this.maxQueued) {
      return Promise.reject(new UnavailableError(`the router is answering ${this.#running} requests with ${this.#waiting.length} waiting (performance.maxConcurrentRequests = ${this.maxConcurrent}); retry shortly`, 1));
    }
    return new Promise((resolve) => {
      const waiter: Waiter = { priority, seq: this.#seq++, admit: () => resolve(this.#take()) };
      // Insert after every waiter of higher or equal priority: FIFO within a priority.
      let at = this.#waiting.findIndex((w) => w.priority < priority);
      if (at === -1) at = this.#waiting.length;
      this.#waiting.splice(at, 0, waiter);
    });
  }

  setLimit(maxConcurrent: number): void {
    Admission.check(maxConcurrent);
    this.maxConcurrent = maxConcurrent;
    this.#drain();
  }

  #take(): () => void {
    this.#running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      this.#drain();
    };
  }

  #drain(): void {
    while (this.#running < this.maxConcurrent && this.#waiting.length > 0) this.#waiting.shift()!.admit();
  }
}

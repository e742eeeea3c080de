/**
 * A bounded FIFO mailbox with a per-actor overflow policy. It never grows past its
 * capacity: a message that does not fit is refused, and the caller decides between a dead
 * letter (`tell`) and waiting for room (`send` under the "backpressure" policy).
 */

export type OverflowPolicy = "drop-newest" | "backpressure";

export interface MailboxConfig {
  /** Most messages waiting at once. */
  capacity: number;
  overflow: OverflowPolicy;
}

export const DEFAULT_MAILBOX = { capacity: 10_000, overflow: "drop-newest" } as const satisfies MailboxConfig;

/** A ring buffer: O(1) push and shift without the cost of Array#shift on long queues. */
export class Mailbox<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;
  private readonly roomWaiters: (() => void)[] = [];

  constructor(readonly config: MailboxConfig) {
    this.items = new Array(Math.min(config.capacity, 64));
  }

  get size(): number {
    return this.count;
  }

  get isFull(): boolean {
    return this.count >= this.config.capacity;
  }

  /** Adds at the tail; false when full. */
  offer(item: T): boolean {
    if (this.count >= this.config.capacity) return false;
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
    return true;
  }

  poll(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    if (this.roomWaiters.length > 0) this.roomWaiters.shift()!();
    return item;
  }

  /** Resolves when a slot frees up (FIFO among waiters). */
  waitForRoom(): Promise<void> {
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  get waiting(): number {
    return this.roomWaiters.length;
  }

  /** Empties the mailbox, returning what was in it (oldest first). */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.poll(); item !== undefined; item = this.poll()) out.push(item);
    return out;
  }

  /** Wakes every waiter (used when the actor stops, so senders do not hang). */
  releaseWaiters(): void {
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  private grow(): void {
    const next = new Array<T | undefined>(Math.min(this.items.length * 2, this.config.capacity));
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}

/**
 * Senders that may wait for room at once under "backpressure". Each waiting sender holds its
 * own message, so this bounds the memory a runaway sender can pin (one that does not await).
 */
export function maxWaitingSenders(capacity: number): number {
  return Math.max(capacity, 1_024);
}

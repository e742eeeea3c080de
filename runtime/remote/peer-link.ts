/**
 * The link to one peer node: a bounded outbound queue flushed as batches onto the peer's
 * gRPC stream (respecting the stream's backpressure: no write while the last one has not
 * drained), and the bookkeeping of asks sent to that peer so that a broken stream fails
 * them at once with PeerUnavailable and the peer's circuit breaker sees every outcome.
 */
import { Mailbox } from "../actor/mailbox.ts";
import { createFrameCodec, type FrameCodec } from "../codec/index.ts";
import { BreakerOpen, MailboxFull, PeerUnavailable, type FedrouterError } from "../errors.ts";
import type { CircuitBreaker, Permit } from "../breaker/index.ts";
import type { Envelope } from "../internal/envelope.ts";
import type { Fabric } from "../internal/fabric.ts";
import { toRows } from "../internal/frame-rows.ts";
import type { WireFrame } from "./proto.ts";
import type { PeerSender } from "../actor/sender.ts";

/** What a link writes to: a gRPC duplex stream, client or server side. */
export interface FrameStream {
  write(frame: WireFrame): boolean;
  once(event: "drain", listener: () => void): unknown;
}

export interface LinkOptions {
  /** Envelopes that may wait for the stream; past it tells are dead letters and asks fail. */
  outboundCapacity: number;
  maxFrameBytes: number;
  /** Envelopes per batch frame. */
  maxBatch: number;
}

export const DEFAULT_LINK = { outboundCapacity: 10_000, maxFrameBytes: 4 * 1024 * 1024, maxBatch: 256 } as const satisfies LinkOptions;

/** Expired asks remembered so that their late answers are told apart from forged ones. */
const EXPIRED_KEPT = 4_096;

interface PendingAsk {
  permit: Permit;
  timer: NodeJS.Timeout;
}

export class PeerLink {
  private stream: FrameStream | undefined;
  /** A ring buffer: taking a batch off the front costs the batch, not the queue's length. */
  private readonly queue: Mailbox<Envelope>;
  /** Mirrors the breaker's state$, so a tell does not run the breaker's state machine. */
  private breakerOpen = false;
  private draining = false;
  private scheduled = false;
  private readonly pending = new Map<string, PendingAsk>();
  /** Asks to this peer that passed their deadline, newest last (bounded): their answers are late, not forged. */
  private readonly expired = new Set<string>();
  private readonly encoder: FrameCodec;
  /** What every envelope from this peer carries, whatever its frame said: the node its certificate proved. */
  readonly sender: PeerSender;
  lastDownReason = "not connected yet";
  private everUp = false;
  framesSent = 0;

  constructor(
    readonly peer: string,
    private readonly fabric: Fabric,
    readonly breaker: CircuitBreaker,
    private readonly opts: LinkOptions,
  ) {
    this.sender = Object.freeze({ kind: "peer", node: peer });
    this.encoder = createFrameCodec({ maxFrameBytes: opts.maxFrameBytes });
    this.queue = new Mailbox<Envelope>({ capacity: opts.outboundCapacity, overflow: "drop-newest" });
    breaker.state$.subscribe((change) => {
      this.breakerOpen = change.to === "open" || change.to === "forced-open";
    });
  }

  get isUp(): boolean {
    return this.stream !== undefined;
  }

  /** Whether `stream` is the one this link writes to now. */
  isStreamOf(stream: FrameStream): boolean {
    return this.stream === stream;
  }

  get queued(): number {
    return this.queue.size;
  }

  /** The stream is open and handshaken: queued envelopes go out. */
  up(stream: FrameStream): void {
    this.stream = stream;
    // The dials that failed while the cluster was forming (the peer not listening yet) are not
    // held against a peer that has now answered: its first stream starts a fresh window. Left
    // in, they tripped the breaker a few healthy calls later, once the window reached its
    // minimum. An operator's forced state stays as it is.
    if (!this.everUp && !this.breaker.state.startsWith("forced")) this.breaker.reset();
    this.everUp = true;
    this.draining = false;
    this.schedule();
  }

  /** The stream broke: asks waiting on this peer fail now; tells stay queued for the next stream. */
  down(reason: string, stream?: FrameStream): void {
    // A stream that was already replaced by a newer one takes nothing down with it.
    if (stream !== undefined && stream !== this.stream) return;
    if (this.stream === undefined && this.pending.size === 0) return;
    this.stream = undefined;
    this.lastDownReason = reason;
    for (const [askPath, ask] of this.pending) {
      clearTimeout(ask.timer);
      this.breaker.onError(ask.permit);
      this.fabric.failTemp(askPath, new PeerUnavailable(this.peer, reason));
    }
    this.pending.clear();
    for (const env of this.queue.drain()) {
      if (env.ask !== undefined || env.ackTo !== undefined) this.fabric.reject(env, "no-such-actor", new PeerUnavailable(this.peer, reason));
      else this.queue.offer(env);
    }
  }

  send(env: Envelope): void {
    const waiter = env.ask ?? env.ackTo;
    if (waiter !== undefined) {
      const admission = this.breaker.tryAcquire();
      if (admission.type === "refused") {
        this.fabric.reject(env, "no-such-actor", admission.error as BreakerOpen);
        return;
      }
      if (this.stream === undefined) {
        // Fail fast. A peer we had and lost is charged the failure, so one that stays down
        // opens its breaker; one not reached yet (the cluster is still forming) is not.
        if (this.everUp) this.breaker.onError(admission.permit);
        else this.breaker.release(admission.permit);
        this.fabric.reject(env, "no-such-actor", new PeerUnavailable(this.peer, this.lastDownReason));
        return;
      }
      const timeoutMs = Math.max(0, (env.deadlineMs ?? Date.now() + 30_000) - Date.now());
      const timer = setTimeout(() => {
        // The asker's own deadline fails the ask; here the peer is charged a failure.
        if (this.pending.delete(waiter)) {
          this.breaker.onError(admission.permit);
          this.expired.add(waiter);
          if (this.expired.size > EXPIRED_KEPT) this.expired.delete(this.expired.values().next().value!);
        }
      }, timeoutMs);
      timer.unref();
      this.pending.set(waiter, { permit: admission.permit, timer });
    } else if (this.breakerOpen) {
      this.fabric.deadLetter(env, "no-such-actor", `circuit breaker for ${this.peer} is open`);
      return;
    }
    if (!this.queue.offer(env)) {
      this.settle(waiter, false);
      this.fabric.reject(env, "mailbox-full", new MailboxFull(`fed://${this.peer}`, this.opts.outboundCapacity));
      return;
    }
    this.schedule();
  }

  /**
   * An envelope from this peer addressed to one of our temp paths: the answer to an ask (or the
   * acknowledgement of a send) that went to this peer, one that came after its deadline, or one
   * this peer was never asked for (a forgery: it is not delivered).
   */
  answered(tempPath: string): "expected" | "late" | "unsolicited" {
    if (this.pending.has(tempPath)) {
      this.settle(tempPath, true);
      return "expected";
    }
    return this.expired.has(tempPath) ? "late" : "unsolicited";
  }

  close(reason: string): void {
    this.down(reason);
    for (const env of this.queue.drain()) this.fabric.reject(env, "actor-stopped", new PeerUnavailable(this.peer, reason));
  }

  private settle(waiter: string | undefined, ok: boolean): void {
    if (waiter === undefined) return;
    const ask = this.pending.get(waiter);
    if (ask === undefined) return;
    this.pending.delete(waiter);
    clearTimeout(ask.timer);
    if (ok) this.breaker.onSuccess(ask.permit);
    else this.breaker.onError(ask.permit);
  }

  private schedule(): void {
    if (!this.scheduled && !this.draining && this.stream !== undefined && this.queue.size > 0) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes batches until the queue is empty or the stream asks us to wait for 'drain'. */
  private flush(): void {
    this.scheduled = false;
    const stream = this.stream;
    while (stream !== undefined && stream === this.stream && !this.draining && this.queue.size > 0) {
      let writable = true;
      const batch: Envelope[] = [];
      while (batch.length < this.opts.maxBatch && this.queue.size > 0) batch.push(this.queue.poll()!);
      for (const bytes of this.encode(batch)) {
        this.framesSent++;
        writable = stream.write({ batch: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
      }
      if (!writable) {
        this.draining = true;
        stream.once("drain", () => {
          this.draining = false;
          this.schedule();
        });
      }
    }
  }

  /** Frames for the batch; an envelope that cannot be encoded is refused alone, the rest go. */
  private encode(batch: Envelope[]): Uint8Array[] {
    try {
      return [this.encoder.encode(toRows(batch, false)).bytes];
    } catch (error) {
      if (batch.length === 1) {
        this.settle(batch[0]!.ask ?? batch[0]!.ackTo, false);
        this.fabric.reject(batch[0]!, "encode-error", error as FedrouterError);
        return [];
      }
      const half = batch.length >> 1;
      return [...this.encode(batch.slice(0, half)), ...this.encode(batch.slice(half))];
    }
  }
}

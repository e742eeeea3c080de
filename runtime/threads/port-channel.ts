/**
 * One side of a cross-thread link: envelopes are batched per port and flushed as one msgpack
 * frame at the end of the current microtask turn; ArrayBuffers listed for transfer move with
 * the frame instead of being copied. Input from the other side is never trusted: a frame
 * that does not decode, or an envelope that is malformed, becomes a dead letter with a reason.
 * The frame's values are rows (see internal/frame-rows.ts).
 */
import { createFrameCodec, type FrameCodec } from "../codec/index.ts";
import { DecodeError, EncodeError, type FedrouterError } from "../errors.ts";
import type { Envelope } from "../internal/envelope.ts";
import { readRows, toRows } from "../internal/frame-rows.ts";

/** The part of MessagePort / Worker / parentPort that a channel uses. */
export interface PortLike {
  postMessage(value: unknown, transferList?: readonly ArrayBuffer[]): void;
  on(event: "message", listener: (value: unknown) => void): unknown;
}

export interface ChannelSink {
  /** A decoded, well-formed envelope from the other side. */
  envelope(env: Envelope): void;
  /** Input that could not become an envelope: the channel keeps running. */
  malformed(error: FedrouterError, env?: unknown): void;
  /** An envelope of ours that could not be encoded (it is dropped; its waiters must be failed). */
  unsendable(env: Envelope, error: FedrouterError): void;
  /** Any non-frame message on the port (worker notifications), if the owner uses them. */
  other?(value: unknown): void;
}

export interface ChannelOptions {
  maxFrameBytes?: number;
  resolveRef: (path: string) => unknown;
  /** Most envelopes in one frame; a bigger batch is split. */
  maxBatch?: number;
}

/** Shape of a frame message on the port: `f` the frame bytes, `a` the transferred buffers. */
interface FrameMessage {
  f: Uint8Array;
  a?: ArrayBuffer[];
}

export class PortChannel {
  framesSent = 0;
  framesReceived = 0;
  private queue: Envelope[] = [];
  private transfers: ArrayBuffer[] = [];
  private scheduled = false;
  private closed = false;
  private readonly encoder: FrameCodec;
  private readonly decoder: FrameCodec;
  private readonly maxBatch: number;
  private readonly flushBound = () => this.flush();

  constructor(private readonly port: PortLike, private readonly sink: ChannelSink, opts: ChannelOptions) {
    const codecOpts = { resolveRef: opts.resolveRef, ...(opts.maxFrameBytes ? { maxFrameBytes: opts.maxFrameBytes } : {}) };
    this.encoder = createFrameCodec(codecOpts);
    this.decoder = createFrameCodec(codecOpts);
    this.maxBatch = opts.maxBatch ?? 256;
    port.on("message", (value) => this.receive(value));
  }

  post(env: Envelope, transfer?: readonly ArrayBuffer[]): void {
    if (this.closed) {
      this.sink.unsendable(env, new EncodeError("the channel to the other thread is closed"));
      return;
    }
    this.queue.push(env);
    if (transfer !== undefined && transfer.length > 0) this.transfers.push(...transfer);
    if (this.queue.length >= this.maxBatch) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushBound);
    }
  }

  /** Sends what is queued now, as one frame (split only when too large). */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    const transfer = this.transfers;
    this.queue = [];
    this.transfers = [];
    this.sendBatch(batch, transfer);
  }

  close(): void {
    this.flush();
    this.closed = true;
  }

  private sendBatch(batch: Envelope[], transfer: ArrayBuffer[]): void {
    let frame;
    try {
      frame = this.encoder.encode(toRows(batch), { transfer });
    } catch (error) {
      if (batch.length === 1) {
        this.sink.unsendable(batch[0]!, asFedrouterError(error));
        return;
      }
      // Isolate the envelope(s) that cannot be encoded; the rest still go.
      const half = batch.length >> 1;
      this.sendBatch(batch.slice(0, half), transfer);
      this.sendBatch(batch.slice(half), transfer);
      return;
    }
    // The frame must own its buffer to be transferred (the encoder may hand out a view on a pool).
    const bytes = frame.bytes.byteOffset === 0 && frame.bytes.byteLength === frame.bytes.buffer.byteLength
      ? frame.bytes
      : frame.bytes.slice();
    const message: FrameMessage = frame.transfer.length > 0 ? { f: bytes, a: frame.transfer } : { f: bytes };
    this.port.postMessage(message, [bytes.buffer as ArrayBuffer, ...frame.transfer]);
    this.framesSent++;
  }

  private receive(value: unknown): void {
    if (value === null || typeof value !== "object" || !("f" in value)) {
      if (this.sink.other !== undefined) this.sink.other(value);
      else this.sink.malformed(new DecodeError("message on the port is not a frame", 0));
      return;
    }
    const { f, a } = value as Partial<FrameMessage>;
    if (!(f instanceof Uint8Array)) {
      this.sink.malformed(new DecodeError("frame bytes are not a Uint8Array", 0));
      return;
    }
    const attachments = Array.isArray(a) ? a.filter((x): x is ArrayBuffer => x instanceof ArrayBuffer) : [];
    const result = this.decoder.decode(f, attachments);
    this.framesReceived++;
    if (!result.ok) {
      this.sink.malformed(result.error);
      return;
    }
    readRows(result.values, (env) => this.sink.envelope(env), (problem, row) => this.sink.malformed(new DecodeError(problem, f.byteLength), row));
  }
}

function asFedrouterError(error: unknown): FedrouterError {
  if (error instanceof EncodeError || (error as { code?: string })?.code === "FRAME_TOO_LARGE") return error as FedrouterError;
  return new EncodeError(error instanceof Error ? error.message : String(error));
}

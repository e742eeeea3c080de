/**
 * Frames: a batch of values as one version byte and one msgpack array, for MessagePorts now
 * and gRPC streams later. Decoding never throws, and no frame, however malformed, can change
 * how a later frame decodes.
 *
 * Layout: `[CODEC_VERSION][msgpack array of values]`, at most `maxFrameBytes` in all.
 *
 * Why every frame carries its own record definitions. msgpackr's records send an object's
 * keys once and then only its values; where the definitions live is the design choice:
 *   - shared `structures` need the same table on both sides, but the decoder sits in another
 *     thread (or on another node) and has no out-of-band way to receive it;
 *   - `sequential: true` defines each shape once per stream and refers to it afterwards, so
 *     the decoder depends on having seen every earlier frame: a frame that is dropped (an
 *     encode refused as too large, a decode refused as oversized) leaves the next ones naming
 *     records the decoder never saw, and msgpackr then reads the record ids as the integers
 *     64..127, a silently wrong value rather than an error; a garbage frame can redefine a
 *     record just as silently, and a reconnected gRPC stream would need a reset handshake;
 *   - per-frame definitions (a plain, non-sequential Packr) put each shape's keys once in
 *     every frame that uses it: each frame stands alone, any decoder can read it, and a bad
 *     frame affects only itself.
 * Measured with msgpackr's native string extractor (Node 20, a busy 2-core VM, best of 7;
 * envelopes of ~100 bytes, encode + decode, in M msg/s):
 *   values per frame        256    8     4
 *   per-frame records       2.1   0.65  0.52
 *   table shared in advance 1.9   1.66  1.50   (not available to us: for comparison only)
 *   plain maps              1.4   1.14  1.13
 *   JSON stringify + parse  1.3   1.1   1.1    (and a MessagePort would copy its string)
 * At the batch sizes a busy port sends, per-frame records cost nothing measurable, so we take
 * the robust design. In a small frame, msgpackr's decoder spends more on compiling a reader
 * per shape (it does so on a shape's 4th object, afresh in every frame) than records save;
 * frames of fewer than MIN_VALUES_FOR_RECORDS values are therefore plain msgpack maps, which
 * the same decoder reads.
 *
 * What arrives differently from what was sent: -0 as 0; a Map as a plain object and a Set
 * as an array; an Error as its toJSON() or { name, message }; a class instance as a plain
 * object of its own fields (or its toJSON()); a key "__proto__" as "__proto_" (msgpackr's
 * guard against prototype pollution); a lone UTF-16 surrogate as U+FFFD.
 */
import { Packr, Unpackr } from "msgpackr";
import { DecodeError, EncodeError, FrameTooLarge, InvalidArgument } from "../errors.ts";
import { FrameProblem, withDecodeContext, withEncodeContext } from "./extensions.ts";

/** The first byte of every frame. Bump it for any change a version-1 decoder would misread. */
export const CODEC_VERSION = 1;

/** 4 MiB: a whole batch of envelopes, or one sizeable tensor shard, but never a runaway. */
export const DEFAULT_CODEC = { maxFrameBytes: 4 * 1024 * 1024 } as const;

export interface FrameCodecOptions {
  /** Largest frame, version byte included, that encode produces and decode accepts. */
  maxFrameBytes?: number;
  /** Decode side: turns a ref's path back into a live ref. Without it a ref decodes as `{ path }`. */
  resolveRef?: (path: string) => unknown;
}

/**
 * `bytes` owns its ArrayBuffer exactly (offset 0, full length), so the sender may move it too.
 * Post `{ bytes, transfer }` with `[bytes.buffer, ...transfer]` as the transfer list.
 */
export interface EncodedFrame {
  bytes: Uint8Array;
  /** Buffers the frame refers to by index instead of holding a copy; decode needs them as `attachments`. */
  transfer: ArrayBuffer[];
}

export type DecodeResult =
  | { ok: true; values: unknown[] }
  | { ok: false; error: DecodeError | FrameTooLarge };

export interface FrameCodec {
  /**
   * Throws EncodeError for a value msgpack cannot carry (function, symbol, bigint beyond 64
   * bits, cycle) and FrameTooLarge past maxFrameBytes. A typed array, DataView or ArrayBuffer
   * whose whole buffer is listed in `transfer` is moved, not copied; nothing is moved when
   * encode throws.
   */
  encode(values: readonly unknown[], opts?: { transfer?: readonly ArrayBuffer[] }): EncodedFrame;
  /** Never throws: malformed, truncated, wrong-version or oversized input is `{ ok: false, error }`. */
  decode(bytes: Uint8Array, attachments?: readonly ArrayBuffer[]): DecodeResult;
}

/** Below this many values per frame, plain maps beat records (crossover measured at 8–16). */
const MIN_VALUES_FOR_RECORDS = 16;

/**
 * Creates a codec. Codecs hold no state between frames, so one per port side is plenty.
 *
 * ```ts
 * const codec = createFrameCodec();
 * const frame = codec.encode([{ to: "fed://n/user/counter", msg: { type: "add", n: 1 } }]);
 * const result = codec.decode(frame.bytes, frame.transfer);
 * if (result.ok) result.values; // [{ to: "fed://n/user/counter", msg: { type: "add", n: 1 } }]
 * ```
 */
export function createFrameCodec(opts: FrameCodecOptions = {}): FrameCodec {
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_CODEC.maxFrameBytes;
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 2) {
    throw new InvalidArgument("codec.maxFrameBytes", `must be an integer of at least 2 bytes, got ${maxFrameBytes}`);
  }
  const resolveRef = opts.resolveRef;
  const refuseFunction = (): never => {
    throw new EncodeError("a function cannot be encoded");
  };
  const recordPackr = new Packr({ useRecords: true, writeFunction: refuseFunction });
  const mapPackr = new Packr({ useRecords: false, writeFunction: refuseFunction });
  // mapsAsObjects: a msgpack map (from mapPackr, or from another language) is a plain object.
  // copyBuffers: a foreign `bin` value must not alias (and pin) the frame it came in.
  const unpackr = new Unpackr({ mapsAsObjects: true, copyBuffers: true });

  function encode(values: readonly unknown[], encodeOpts?: { transfer?: readonly ArrayBuffer[] }): EncodedFrame {
    if (!Array.isArray(values)) throw new EncodeError("a frame holds an array of values");
    const context = { movable: encodeOpts?.transfer ?? [], moved: [] as ArrayBuffer[], maxFrameBytes };
    const packr = values.length < MIN_VALUES_FOR_RECORDS ? mapPackr : recordPackr;
    let packed: Uint8Array;
    try {
      packed = withEncodeContext(context, () => packr.pack(values));
    } catch (error) {
      throw asEncodeError(error);
    }
    const byteLength = packed.length + 1;
    if (byteLength > maxFrameBytes) throw new FrameTooLarge(byteLength, maxFrameBytes);
    // msgpackr hands out a view on its reused arena; the frame gets a buffer of its own.
    const bytes = new Uint8Array(byteLength);
    bytes[0] = CODEC_VERSION;
    bytes.set(packed, 1);
    return { bytes, transfer: context.moved };
  }

  function decode(bytes: Uint8Array, attachments: readonly ArrayBuffer[] = []): DecodeResult {
    if (!(bytes instanceof Uint8Array)) return refuse("frame is not a Uint8Array", 0);
    const byteLength = bytes.byteLength;
    // Before parsing: an oversized frame costs nothing but this comparison.
    if (byteLength > maxFrameBytes) return { ok: false, error: new FrameTooLarge(byteLength, maxFrameBytes) };
    if (byteLength === 0) return refuse("frame is empty", 0);
    if (bytes[0] !== CODEC_VERSION) {
      return refuse(`codec version ${bytes[0]} is not supported (this decoder reads version ${CODEC_VERSION})`, byteLength);
    }
    let values: unknown;
    try {
      const list = Array.isArray(attachments) ? attachments : [];
      values = withDecodeContext({ attachments: list, resolveRef }, () => unpackr.unpack(bytes, { start: 1 }));
    } catch (error) {
      return refuse(decodeReason(error), byteLength);
    }
    if (!Array.isArray(values)) return refuse("frame does not hold an array of values", byteLength);
    return { ok: true, values };
  }

  return { encode, decode };
}

function refuse(reason: string, byteLength: number): DecodeResult {
  return { ok: false, error: new DecodeError(reason, byteLength) };
}

const isStackOverflow = (error: unknown): boolean =>
  error instanceof RangeError && error.message.includes("call stack");

/** msgpackr's failure as a typed error; never quotes the value (it may hold sensitive text). */
function asEncodeError(error: unknown): EncodeError | FrameTooLarge {
  if (error instanceof EncodeError || error instanceof FrameTooLarge) return error;
  if (isStackOverflow(error)) return new EncodeError("the value is cyclic or nested too deeply");
  const message = error instanceof Error ? error.message : "";
  // msgpackr's own message starts with the bigint itself, so it is not repeated here.
  if (message.includes("too large to fit in MessagePack 64-bit")) return new EncodeError("a bigint does not fit in 64 bits");
  if (message.startsWith("Unknown type: ")) return new EncodeError(`a ${message.slice(14)} cannot be encoded`);
  if (message.includes("larger than maximum buffer size")) return new EncodeError("the frame would pass msgpackr's 4 GiB buffer limit");
  const name = error instanceof Error ? error.name : typeof error;
  return new EncodeError(`msgpackr failed with ${name} (a toJSON that throws, or an object of over 65535 keys)`);
}

/** A DecodeError reason for whatever the unpack threw; never quotes the frame's content. */
function decodeReason(error: unknown): string {
  if (error instanceof FrameProblem) return error.message;
  if (isStackOverflow(error)) return "values are nested too deeply";
  if (!(error instanceof Error)) return "malformed msgpack";
  if ((error as { incomplete?: boolean }).incomplete === true) return "truncated: the frame ends inside a value";
  // msgpackr appends a JSON view of what it read to this one; we keep only the fact.
  if (error.message.startsWith("Data read, but end of buffer not reached")) return "bytes left over after the array of values";
  return `malformed msgpack: ${error.message.slice(0, 120)}`;
}

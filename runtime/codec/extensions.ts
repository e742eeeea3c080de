/**
 * The msgpack extensions a frame needs beyond plain msgpack: actor refs, binary values
 * (typed arrays, DataView, ArrayBuffer) kept with their type, copied inline or moved as a
 * transferred attachment, and Errors as plain fields. Never used outside an encode or decode
 * that frame-codec.ts is running.
 *
 * msgpackr registers extensions globally, per class. The per-frame parts (which buffers may
 * be moved, where attachments arrive, how a path becomes a live ref) therefore live in a
 * module-level context that frame-codec.ts sets around each synchronous pack or unpack and
 * restores afterwards, so nested or interleaved codecs never see each other's context.
 *
 * Wire format (extension type codes are part of CODEC_VERSION 1; never reuse one):
 *   EXT_REF        fixext1 tag, then a msgpack string: the ref's path
 *   EXT_BINARY     ext payload [kind][raw bytes in platform byte order]
 *   EXT_ATTACHMENT ext payload [kind][index: uint32 big-endian into the frame's attachments]
 */
import { addExtension } from "msgpackr";
import { EncodeError, FrameTooLarge } from "../errors.ts";

/**
 * What every actor ref extends, so the codec can recognise one anywhere in a message
 * (`msg.replyTo`, inside arrays, …) and send its path instead of the object.
 *
 * ```ts
 * class MyRef extends WireRef { constructor(readonly path: string) { super(); } }
 * codec.encode([{ type: "ping", replyTo: new MyRef("fed://n/user/a") }]);
 * ```
 */
export abstract class WireRef {
  abstract readonly path: string;
}

/** The per-frame state of the encode in progress. */
export interface EncodeContext {
  /** Buffers the caller allows us to move instead of copy. */
  readonly movable: readonly ArrayBuffer[];
  /** Buffers this frame references by index; becomes EncodedFrame.transfer. */
  readonly moved: ArrayBuffer[];
  readonly maxFrameBytes: number;
}

/** The per-frame state of the decode in progress. */
export interface DecodeContext {
  readonly attachments: readonly ArrayBuffer[];
  readonly resolveRef: ((path: string) => unknown) | undefined;
}

let encoding: EncodeContext | undefined;
let decoding: DecodeContext | undefined;

/** Runs `pack` with `context` as the current encode context; restores the previous one. */
export function withEncodeContext<T>(context: EncodeContext, pack: () => T): T {
  const previous = encoding;
  encoding = context;
  try {
    return pack();
  } finally {
    encoding = previous;
  }
}

/** Runs `unpack` with `context` as the current decode context; restores the previous one. */
export function withDecodeContext<T>(context: DecodeContext, unpack: () => T): T {
  const previous = decoding;
  decoding = context;
  try {
    return unpack();
  } finally {
    decoding = previous;
  }
}

/**
 * A failure whose message is ours and safe to show (it never holds message content), thrown
 * from inside msgpackr's unpack and turned into a DecodeError reason by frame-codec.ts.
 */
export class FrameProblem extends Error {}

export const EXT_REF = 1;
export const EXT_BINARY = 2;
export const EXT_ATTACHMENT = 3;

type BinaryValue = ArrayBufferView | ArrayBuffer;
interface BinaryKind {
  readonly bytesPerElement: number;
  readonly build: (buffer: ArrayBuffer) => BinaryValue;
}
const typedKind = (Ctor: { new (buffer: ArrayBuffer): ArrayBufferView; BYTES_PER_ELEMENT: number }): BinaryKind =>
  ({ bytesPerElement: Ctor.BYTES_PER_ELEMENT, build: (buffer) => new Ctor(buffer) });

/** Kind byte → how to rebuild the value. The index is on the wire: append only. */
const KINDS: readonly BinaryKind[] = [
  typedKind(Int8Array), typedKind(Uint8Array), typedKind(Uint8ClampedArray),
  typedKind(Int16Array), typedKind(Uint16Array), typedKind(Int32Array), typedKind(Uint32Array),
  typedKind(Float32Array), typedKind(Float64Array), typedKind(BigInt64Array), typedKind(BigUint64Array),
  { bytesPerElement: 1, build: (buffer) => new DataView(buffer) },
  { bytesPerElement: 1, build: (buffer) => buffer },
];
const KIND_OF = new Map<unknown, number>([
  [Int8Array, 0], [Uint8Array, 1], [Uint8ClampedArray, 2], [Int16Array, 3], [Uint16Array, 4],
  [Int32Array, 5], [Uint32Array, 6], [Float32Array, 7], [Float64Array, 8], [BigInt64Array, 9],
  [BigUint64Array, 10], [DataView, 11], [ArrayBuffer, 12],
]);
/** %TypedArray%: every typed array, Node's Buffer included, is an instance of it. */
const TypedArray = Object.getPrototypeOf(Uint8Array) as abstract new () => ArrayBufferView;

function kindOf(value: BinaryValue): number {
  const direct = KIND_OF.get(value.constructor);
  if (direct !== undefined) return direct;
  // A subclass (Node's Buffer is a Uint8Array): find the built-in it extends.
  for (const [Ctor, kind] of KIND_OF) if (value instanceof (Ctor as abstract new () => unknown)) return kind;
  throw new EncodeError(`binary value of class ${value.constructor.name} has no wire kind`);
}

type Allocate = (size: number) => { target: Uint8Array; targetView: DataView; position: number };

/** Writes an ext header for a payload of `payloadBytes` and returns where the payload starts. */
function writeExtHeader(allocate: Allocate, type: number, payloadBytes: number): { target: Uint8Array; at: number } {
  const headerBytes = payloadBytes < 0x100 ? 3 : payloadBytes < 0x10000 ? 4 : 6;
  const { target, targetView, position } = allocate(headerBytes + payloadBytes);
  let at = position;
  if (headerBytes === 3) {
    target[at++] = 0xc7;
    target[at++] = payloadBytes;
  } else if (headerBytes === 4) {
    target[at++] = 0xc8;
    targetView.setUint16(at, payloadBytes);
    at += 2;
  } else {
    target[at++] = 0xc9;
    targetView.setUint32(at, payloadBytes);
    at += 4;
  }
  target[at++] = type;
  return { target, at };
}

/**
 * Moves the value's buffer when the caller listed it and the value covers all of it
 * (a partial view cannot be rebuilt from a moved buffer without moving bytes it does not own);
 * otherwise copies the bytes inline.
 */
function packBinary(value: BinaryValue, allocate: Allocate): void {
  const kind = kindOf(value);
  const buffer = ArrayBuffer.isView(value) ? value.buffer : value;
  const context = encoding;
  if (context !== undefined && buffer.byteLength > 0 && buffer.byteLength === value.byteLength &&
      context.movable.includes(buffer as ArrayBuffer)) {
    let index = context.moved.indexOf(buffer as ArrayBuffer);
    if (index < 0) index = context.moved.push(buffer as ArrayBuffer) - 1;
    const { target, at } = writeExtHeader(allocate, EXT_ATTACHMENT, 5);
    target[at] = kind;
    target[at + 1] = index >>> 24;
    target[at + 2] = (index >>> 16) & 0xff;
    target[at + 3] = (index >>> 8) & 0xff;
    target[at + 4] = index & 0xff;
    return;
  }
  // Fail before copying a payload that alone breaks the frame limit.
  if (context !== undefined && value.byteLength > context.maxFrameBytes) {
    throw new FrameTooLarge(value.byteLength, context.maxFrameBytes);
  }
  const { target, at } = writeExtHeader(allocate, EXT_BINARY, 1 + value.byteLength);
  target[at] = kind;
  const offset = ArrayBuffer.isView(value) ? value.byteOffset : 0;
  target.set(new Uint8Array(buffer, offset, value.byteLength), at + 1);
}

function kindAt(payload: Uint8Array): BinaryKind {
  const kind = payload.length > 0 ? KINDS[payload[0]!] : undefined;
  if (kind === undefined) throw new FrameProblem(`binary extension has unknown kind ${payload[0] ?? "(none)"}`);
  return kind;
}

function unpackBinary(payload: Uint8Array): BinaryValue {
  const kind = kindAt(payload);
  const byteLength = payload.length - 1;
  if (byteLength % kind.bytesPerElement !== 0) {
    throw new FrameProblem(`binary extension of ${byteLength} bytes is not a whole number of ${kind.bytesPerElement}-byte elements`);
  }
  // Copy into a fresh, aligned buffer: the value must not alias (and pin) the frame.
  const copy = new Uint8Array(byteLength);
  copy.set(payload.subarray(1));
  return kind.build(copy.buffer);
}

function unpackAttachment(payload: Uint8Array): BinaryValue {
  const kind = kindAt(payload);
  if (payload.length !== 5) throw new FrameProblem(`attachment extension has ${payload.length} bytes (expected 5)`);
  const index = ((payload[1]! << 24) | (payload[2]! << 16) | (payload[3]! << 8) | payload[4]!) >>> 0;
  const buffer = decoding?.attachments[index];
  if (!(buffer instanceof ArrayBuffer)) throw new FrameProblem(`attachment ${index} is missing from the frame's transfer list`);
  if (buffer.byteLength % kind.bytesPerElement !== 0) {
    throw new FrameProblem(`attachment ${index} of ${buffer.byteLength} bytes is not a whole number of ${kind.bytesPerElement}-byte elements`);
  }
  return kind.build(buffer);
}

function writeRef(ref: WireRef): string {
  const path: unknown = ref.path;
  if (typeof path !== "string") throw new EncodeError(`actor ref of class ${ref.constructor.name} has no string path`);
  return path;
}

function readRef(path: unknown): unknown {
  if (typeof path !== "string") throw new FrameProblem("ref extension does not hold a path string");
  const resolveRef = decoding?.resolveRef;
  if (resolveRef === undefined) return { path };
  try {
    return resolveRef(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new FrameProblem(`resolveRef failed for ${path.slice(0, 200)}: ${reason.slice(0, 200)}`);
  }
}

/**
 * An Error travels as its toJSON() (FedrouterError: code and fields, rebuilt by errorFromWire)
 * or as { name, message }; never with its stack, which would leak one node's internals to another.
 */
function writeError(error: Error): unknown {
  const withJson = error as Error & { toJSON?: () => unknown };
  return typeof withJson.toJSON === "function" ? withJson.toJSON() : { name: error.name, message: error.message };
}

// msgpackr's typings only know the `pack(value) => bytes` form of an extension; we use the
// `pack(value, allocate)` form it also calls, which writes straight into the frame (one copy).
type Extension = Parameters<typeof addExtension>[0];
const binaryExtension = (Class: Function): Extension =>
  ({ Class, type: EXT_BINARY, pack: packBinary, unpack: unpackBinary }) as unknown as Extension;

addExtension({ Class: WireRef, type: EXT_REF, write: writeRef, read: readRef });
addExtension({ Class: Error, write: writeError });
addExtension(binaryExtension(TypedArray));
addExtension(binaryExtension(DataView));
addExtension(binaryExtension(ArrayBuffer));
addExtension({ type: EXT_ATTACHMENT, unpack: unpackAttachment });

/**
 * Hugging Face safetensors files: read the header, load only the tensors asked for (positioned
 * reads, so an executor of blocks 6–11 never reads blocks 0–5), write them. F32, F16 and BF16,
 * decoded to Float32Array. Never returns a tensor from a file whose header does not add up: a
 * truncated file, overlapping or out-of-range offsets, a shape that does not match its bytes —
 * each is a SafetensorsError naming the file, the tensor and what is wrong.
 *
 * Format (huggingface/safetensors, docs "Format"): 8 bytes little-endian u64 N, then N bytes of
 * JSON `{ "__metadata__"?: {string: string}, name: { dtype, shape, data_offsets: [begin, end] } }`,
 * then the data; offsets are relative to the data's start, tensors are contiguous, row-major,
 * little-endian, and together cover the data with no hole.
 */
import { open, writeFile } from "node:fs/promises";
import { FedrouterError, registerErrors } from "../../errors/index.ts";

export type SafetensorsDtype = "F32" | "F16" | "BF16";

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** The reference implementation refuses headers over 100 MB; so do we, before allocating. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Byte offsets in the file (not the data section), end exclusive. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsIndex {
  readonly file: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
}

export interface LoadedTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A weights file that cannot be used; `tensor` is set when one tensor is the problem. */
export class SafetensorsError extends FedrouterError {
  readonly code = "BAD_WEIGHTS_FILE";
  constructor(readonly file: string, readonly reason: string, readonly tensor?: string) {
    super(`${file}${tensor === undefined ? "" : `: tensor "${tensor}"`}: ${reason}`);
  }
}

registerErrors({ BAD_WEIGHTS_FILE: (f) => new SafetensorsError(f.string("file"), f.string("reason"), f.optionalString("tensor")) });

/** Reads and checks the header: every tensor's dtype, shape and offsets against the file's size. */
export async function readSafetensorsIndex(file: string): Promise<SafetensorsIndex> {
  const handle = await open(file, "r").catch((error: NodeJS.ErrnoException) => {
    throw new SafetensorsError(file, `cannot open it (${error.code ?? error.message})`);
  });
  try {
    const { size } = await handle.stat();
    if (size < 8) throw new SafetensorsError(file, `is ${size} bytes, too short for a safetensors header (truncated?)`);
    const prefix = Buffer.alloc(8);
    await handle.read(prefix, 0, 8, 0);
    const headerBytes = prefix.readBigUInt64LE(0);
    if (headerBytes > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(file, `declares a ${headerBytes}-byte header (over ${MAX_HEADER_BYTES}): not a safetensors file, or corrupt`);
    const n = Number(headerBytes);
    if (8 + n > size) throw new SafetensorsError(file, `declares a ${n}-byte header but the file has ${size - 8} bytes after the length (truncated?)`);
    const json = Buffer.alloc(n);
    await handle.read(json, 0, n, 8);
    return parseHeader(file, json, 8 + n, size);
  } finally {
    await handle.close();
  }
}

function parseHeader(file: string, json: Buffer, dataStart: number, size: number): SafetensorsIndex {
  let header: unknown;
  try {
    header = JSON.parse(json.toString("utf8"));
  } catch (error) {
    throw new SafetensorsError(file, `its header is not JSON (${(error as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new SafetensorsError(file, "its header is not a JSON object");
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      for (const [k, v] of Object.entries((raw ?? {}) as object)) if (typeof v === "string") metadata[k] = v;
      continue;
    }
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t.dtype !== "string" || !Object.hasOwn(BYTES, t.dtype)) throw new SafetensorsError(file, `dtype ${JSON.stringify(t.dtype)} is not supported (F32, F16, BF16)`, name);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(file, `shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`, name);
    const offsets = t.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[1] < offsets[0]) {
      throw new SafetensorsError(file, `data_offsets ${JSON.stringify(offsets)} are not [begin, end] with 0 ≤ begin ≤ end`, name);
    }
    const dtype = t.dtype as SafetensorsDtype;
    const elements = (t.shape as number[]).reduce((a, b) => a * b, 1);
    const bytes = offsets[1] - offsets[0];
    if (bytes !== elements * BYTES[dtype]) throw new SafetensorsError(file, `shape [${t.shape.join(", ")}] of ${dtype} needs ${elements * BYTES[dtype]} bytes, its offsets span ${bytes}`, name);
    const begin = dataStart + offsets[0], end = dataStart + offsets[1];
    if (end > size) throw new SafetensorsError(file, `its data ends at byte ${end} but the file has ${size} (truncated?)`, name);
    tensors.set(name, { name, dtype, shape: t.shape as number[], begin, end });
  }
  // Contiguous, no overlap, no hole (as the reference implementation requires).
  let at = dataStart;
  for (const t of [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    if (t.begin !== at) throw new SafetensorsError(file, t.begin < at ? `overlaps the tensor before it (starts at ${t.begin}, previous ends at ${at})` : `leaves a hole of ${t.begin - at} bytes before it`, t.name);
    at = t.end;
  }
  if (at !== size) throw new SafetensorsError(file, `has ${size - at} bytes after its last tensor that no tensor describes`);
  return { file, metadata, tensors };
}

/**
 * Loads the tensors whose names `want` accepts (all by default), as Float32Array.
 * @example
 * const blocks = await loadSafetensors("gpt2/model.safetensors", (n) => /^(transformer\.)?h\.(6|7)\./.test(n));
 */
export async function loadSafetensors(file: string, want: (name: string) => boolean = () => true): Promise<Map<string, LoadedTensor>> {
  const index = await readSafetensorsIndex(file);
  const out = new Map<string, LoadedTensor>();
  const handle = await open(file, "r");
  try {
    for (const t of index.tensors.values()) {
      if (!want(t.name)) continue;
      const bytes = Buffer.alloc(t.end - t.begin);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, t.begin);
      if (bytesRead !== bytes.length) throw new SafetensorsError(file, `read ${bytesRead} of ${bytes.length} bytes (the file changed while loading?)`, t.name);
      out.set(t.name, { dtype: t.dtype, shape: t.shape, data: decode(t.dtype, bytes) });
    }
  } finally {
    await handle.close();
  }
  return out;
}

function decode(dtype: SafetensorsDtype, bytes: Buffer): Float32Array {
  const n = bytes.length / BYTES[dtype];
  const out = new Float32Array(n);
  if (dtype === "F32") {
    for (let i = 0; i < n; i++) out[i] = bytes.readFloatLE(i * 4);
  } else if (dtype === "BF16") {
    // bfloat16 is the top half of a float32.
    const word = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) word[i] = bytes.readUInt16LE(i * 2) << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(bytes.readUInt16LE(i * 2));
  }
  return out;
}

export interface TensorToWrite {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Writes tensors (in the given order) and string metadata as a safetensors file. */
export async function writeSafetensors(file: string, tensors: Readonly<Record<string, TensorToWrite>>, metadata: Readonly<Record<string, string>> = {}): Promise<void> {
  const header: Record<string, unknown> = Object.keys(metadata).length ? { __metadata__: metadata } : {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elements !== t.data.length) throw new SafetensorsError(file, `shape [${t.shape.join(", ")}] has ${elements} elements, data has ${t.data.length}`, name);
    const bytes = encode(t.dtype, t.data);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    chunks.push(bytes);
  }
  // The reference writer pads the header with spaces to a multiple of 8, so the data is aligned.
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  await writeFile(file, Buffer.concat([prefix, Buffer.from(json, "utf8"), ...chunks]));
}

function encode(dtype: SafetensorsDtype, data: Float32Array): Buffer {
  const out = Buffer.alloc(data.length * BYTES[dtype]);
  if (dtype === "F32") for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i]!, i * 4);
  else if (dtype === "BF16") {
    const word = new Uint32Array(Float32Array.from(data).buffer);
    for (let i = 0; i < data.length; i++) out.writeUInt16LE(roundToBf16(word[i]!), i * 2);
  } else for (let i = 0; i < data.length; i++) out.writeUInt16LE(floatToHalf(data[i]!), i * 2);
  return out;
}

// Half-precision conversions are written by hand: Node 20 has no Float16Array, and twenty lines
// of IEEE 754 bit handling are less to trust than a dependency for them.

/** IEEE 754 binary16 bits → number (subnormals, ±∞ and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** number → IEEE 754 binary16 bits, rounded to nearest even (overflow to ±∞). */
export function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = mantissa >> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    return sign | (half + (rest > halfway || (rest === halfway && half & 1) ? 1 : 0));
  }
  const rest = mantissa & 0x1fff;
  let bits = sign | (e << 10) | (mantissa >> 13);
  if (rest > 0x1000 || (rest === 0x1000 && bits & 1)) bits++; // may carry into the exponent: correct, up to ∞
  return bits;
}

/** float32 bits → bfloat16 bits, rounded to nearest even (NaN kept a NaN). */
function roundToBf16(word: number): number {
  if ((word & 0x7f800000) === 0x7f800000 && word & 0x7fffff) return (word >>> 16) | 0x40;
  return ((word + 0x7fff + ((word >>> 16) & 1)) >>> 16) & 0xffff;
}

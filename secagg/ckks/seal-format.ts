/**
 * SEAL's serialisation of ciphertexts and plaintexts (compression none), read and written by
 * hand: threshold decryption needs the RNS coefficients themselves, and every byte string from
 * the network is checked here, shape and size first, before SEAL is allowed to parse it. Never
 * hands SEAL bytes whose declared sizes disagree with their length (a crafted size would make
 * SEAL's wasm allocate without bound).
 *
 * Layout (SEAL 4.x, little-endian; Serialization::SEALHeader, Ciphertext/Plaintext::save_members,
 * DynArray::save_members):
 *   header (16 B): magic 0xA15E u16 · header size 0x10 u8 · version major u8 · minor u8 ·
 *                  compression u8 (0 none, 1 zlib, 2 zstd) · reserved u16 · total size u64
 *   Ciphertext: parms id (4 × u64) · is NTT form u8 · size u64 · N u64 · K u64 · scale f64 ·
 *               correction factor u64 · DynArray<u64> (its own header · count u64 · count × u64)
 *   Plaintext:  parms id (4 × u64) · coeff count u64 · scale f64 · DynArray<u64>
 * The coefficients run polynomial by polynomial, RNS limb by limb, N per limb.
 */
import { MalformedCiphertext } from "./errors.ts";

export const SEAL_MAGIC = 0xa15e;
export const HEADER_BYTES = 16;
const COMPRESSION_NONE = 0;

export interface SealHeader {
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly compression: number;
  readonly totalBytes: number;
}

export interface CiphertextLayout {
  readonly parmsId: string;
  readonly isNttForm: boolean;
  /** Number of polynomials (2 for a fresh or summed ciphertext). */
  readonly size: number;
  readonly polyModulusDegree: number;
  readonly coeffModulusSize: number;
  readonly scale: number;
  readonly correctionFactor: bigint;
  /** Byte offset of the first coefficient. */
  readonly dataOffset: number;
}

export interface PlaintextLayout {
  readonly parmsId: string;
  readonly coeffCount: number;
  readonly scale: number;
  readonly dataOffset: number;
}

export function readHeader(bytes: Uint8Array, offset: number, what: string): SealHeader {
  if (bytes.length < offset + HEADER_BYTES) throw new MalformedCiphertext(what, `${bytes.length - offset} bytes is shorter than SEAL's ${HEADER_BYTES}-byte header`);
  const view = viewOf(bytes);
  if (view.getUint16(offset, true) !== SEAL_MAGIC) throw new MalformedCiphertext(what, "it does not start with SEAL's magic number 0xA15E");
  if (view.getUint8(offset + 2) !== HEADER_BYTES) throw new MalformedCiphertext(what, "its header size is not 16");
  if (view.getUint16(offset + 6, true) !== 0) throw new MalformedCiphertext(what, "its header's reserved field is not zero");
  const total = view.getBigUint64(offset + 8, true);
  if (total > BigInt(bytes.length - offset)) throw new MalformedCiphertext(what, `its header declares ${total} bytes, only ${bytes.length - offset} arrived`);
  return { versionMajor: view.getUint8(offset + 3), versionMinor: view.getUint8(offset + 4), compression: view.getUint8(offset + 5), totalBytes: Number(total) };
}

/**
 * Reads and checks a ciphertext's layout: uncompressed, sizes consistent with the byte length,
 * and (when `expect` is given) N, K and the polynomial count it must have.
 */
export function readCiphertextLayout(bytes: Uint8Array, what: string, expect?: { polyModulusDegree: number; coeffModulusSize: number; size?: number }): CiphertextLayout {
  const header = readHeader(bytes, 0, what);
  if (header.compression !== COMPRESSION_NONE) throw new MalformedCiphertext(what, `it is compressed (mode ${header.compression}); fedrouter sends ciphertexts uncompressed`);
  if (header.totalBytes !== bytes.length) throw new MalformedCiphertext(what, `its header declares ${header.totalBytes} bytes, ${bytes.length} arrived`);
  const fixed = HEADER_BYTES + 32 + 1 + 8 * 5;
  if (bytes.length < fixed + HEADER_BYTES + 8) throw new MalformedCiphertext(what, `${bytes.length} bytes is too short for a ciphertext`);
  const view = viewOf(bytes);
  let at = HEADER_BYTES;
  const parmsId = hexAt(view, at);
  at += 32;
  const ntt = view.getUint8(at);
  at += 1;
  const size = view.getBigUint64(at, true);
  const n = view.getBigUint64(at + 8, true);
  const k = view.getBigUint64(at + 16, true);
  const scale = view.getFloat64(at + 24, true);
  const correctionFactor = view.getBigUint64(at + 32, true);
  at += 40;
  if (ntt > 1) throw new MalformedCiphertext(what, `its NTT flag is ${ntt}`);
  if (size > 16n || n > 65536n || k > 64n) throw new MalformedCiphertext(what, `it declares ${size} polynomials of degree ${n} over ${k} primes, beyond any CKKS ciphertext`);
  const inner = readHeader(bytes, at, `${what} (coefficients)`);
  if (inner.compression !== COMPRESSION_NONE) throw new MalformedCiphertext(what, "its coefficient array is compressed");
  at += HEADER_BYTES;
  const count = view.getBigUint64(at, true);
  at += 8;
  if (count !== size * n * k) throw new MalformedCiphertext(what, `it holds ${count} coefficients, not ${size} × ${n} × ${k}`);
  if (inner.totalBytes !== HEADER_BYTES + 8 + Number(count) * 8) throw new MalformedCiphertext(what, "its coefficient array's header declares the wrong size");
  if (inner.versionMajor !== header.versionMajor || inner.versionMinor !== header.versionMinor) throw new MalformedCiphertext(what, "its two headers name different SEAL versions");
  if (at + Number(count) * 8 !== bytes.length) throw new MalformedCiphertext(what, `${bytes.length} bytes do not hold its ${count} coefficients exactly`);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new MalformedCiphertext(what, `its scale ${scale} is not a positive number`);
  const layout: CiphertextLayout = { parmsId, isNttForm: ntt === 1, size: Number(size), polyModulusDegree: Number(n), coeffModulusSize: Number(k), scale, correctionFactor, dataOffset: at };
  if (expect !== undefined) {
    if (layout.polyModulusDegree !== expect.polyModulusDegree || layout.coeffModulusSize !== expect.coeffModulusSize) {
      throw new MalformedCiphertext(what, `it has degree ${layout.polyModulusDegree} over ${layout.coeffModulusSize} primes, expected ${expect.polyModulusDegree} over ${expect.coeffModulusSize}`);
    }
    if (expect.size !== undefined && layout.size !== expect.size) throw new MalformedCiphertext(what, `it has ${layout.size} polynomials, expected ${expect.size}`);
  }
  return layout;
}

/** Reads a plaintext's layout (uncompressed), checking sizes against the byte length. */
export function readPlaintextLayout(bytes: Uint8Array, offset: number, what: string): PlaintextLayout & { endOffset: number } {
  const header = readHeader(bytes, offset, what);
  if (header.compression !== COMPRESSION_NONE) throw new MalformedCiphertext(what, `it is compressed (mode ${header.compression})`);
  const view = viewOf(bytes);
  let at = offset + HEADER_BYTES;
  if (bytes.length < at + 32 + 16 + HEADER_BYTES + 8) throw new MalformedCiphertext(what, "too short for a plaintext");
  const parmsId = hexAt(view, at);
  at += 32;
  const coeffCount = view.getBigUint64(at, true);
  const scale = view.getFloat64(at + 8, true);
  at += 16;
  const inner = readHeader(bytes, at, `${what} (coefficients)`);
  at += HEADER_BYTES;
  const count = view.getBigUint64(at, true);
  at += 8;
  if (count !== coeffCount) throw new MalformedCiphertext(what, `it declares ${coeffCount} coefficients but holds ${count}`);
  if (at + Number(count) * 8 !== offset + header.totalBytes || inner.totalBytes !== HEADER_BYTES + 8 + Number(count) * 8) throw new MalformedCiphertext(what, "its declared sizes do not match its coefficients");
  return { parmsId, coeffCount: Number(coeffCount), scale, dataOffset: at, endOffset: at + Number(count) * 8 };
}

/** Polynomial `index` of a ciphertext (K·N coefficients, limb by limb), copied out. */
export function ciphertextPoly(bytes: Uint8Array, layout: CiphertextLayout, index: number): BigUint64Array {
  const words = layout.polyModulusDegree * layout.coeffModulusSize;
  return u64Copy(bytes, layout.dataOffset + index * words * 8, words);
}

/** Coefficients of a plaintext, copied out. */
export function plaintextData(bytes: Uint8Array, layout: PlaintextLayout): BigUint64Array {
  return u64Copy(bytes, layout.dataOffset, layout.coeffCount);
}

export interface CiphertextFields {
  readonly parmsId: string;
  readonly isNttForm: boolean;
  readonly polyModulusDegree: number;
  readonly coeffModulusSize: number;
  readonly scale: number;
  /** size × K × N coefficients. */
  readonly data: BigUint64Array;
}

/** SEAL ciphertext bytes (compression none) for the given fields: what SEAL's own save writes. */
export function writeCiphertext(fields: CiphertextFields, versionMajor = 4, versionMinor = 1): Uint8Array {
  return writeCiphertextBytes(fields, [bytesOf(fields.data)], versionMajor, versionMinor);
}

/**
 * SEAL ciphertext bytes whose coefficients are `polys` laid end to end, copied byte for byte (each
 * K·N little-endian u64s): a ciphertext assembled from polynomials of others without a BigInt.
 * Written into `into` when given (it must be exactly the ciphertext's size), else a new array.
 */
export function writeCiphertextBytes(fields: Omit<CiphertextFields, "data">, polys: readonly Uint8Array[], versionMajor = 4, versionMinor = 1, into?: Uint8Array): Uint8Array {
  const polyBytes = fields.polyModulusDegree * fields.coeffModulusSize * 8;
  const dataBytes = polys.reduce((sum, p) => sum + p.length, 0);
  if (dataBytes % polyBytes !== 0) throw new RangeError(`writeCiphertextBytes: ${dataBytes} coefficient bytes are not whole polynomials of ${polyBytes}`);
  const words = dataBytes / 8;
  const total = HEADER_BYTES + 32 + 1 + 40 + HEADER_BYTES + 8 + dataBytes;
  if (into !== undefined && into.length !== total) throw new RangeError(`writeCiphertextBytes: into holds ${into.length} bytes, the ciphertext ${total}`);
  const bytes = into ?? new Uint8Array(total); // `into`: a scratch buffer reused across calls (every byte is written)
  const view = viewOf(bytes);
  writeHeader(view, 0, total, versionMajor, versionMinor);
  let at = HEADER_BYTES;
  writeHex(view, at, fields.parmsId);
  at += 32;
  view.setUint8(at, fields.isNttForm ? 1 : 0);
  at += 1;
  view.setBigUint64(at, BigInt(dataBytes / polyBytes), true);
  view.setBigUint64(at + 8, BigInt(fields.polyModulusDegree), true);
  view.setBigUint64(at + 16, BigInt(fields.coeffModulusSize), true);
  view.setFloat64(at + 24, fields.scale, true);
  view.setBigUint64(at + 32, 1n, true);
  at += 40;
  writeHeader(view, at, HEADER_BYTES + 8 + dataBytes, versionMajor, versionMinor);
  at += HEADER_BYTES;
  view.setBigUint64(at, BigInt(words), true);
  at += 8;
  for (const poly of polys) {
    bytes.set(poly, at);
    at += poly.length;
  }
  return bytes;
}

/** SEAL plaintext bytes (compression none): NTT form is implied by a parms id other than zero. */
export function writePlaintext(fields: { parmsId: string; scale: number; data: BigUint64Array }, versionMajor = 4, versionMinor = 1): Uint8Array {
  return writePlaintextBytes(fields, bytesOf(fields.data), versionMajor, versionMinor);
}

/** SEAL plaintext bytes whose coefficients are `coefficients` (little-endian u64s), copied byte for byte. */
export function writePlaintextBytes(fields: { parmsId: string; scale: number }, coefficients: Uint8Array, versionMajor = 4, versionMinor = 1): Uint8Array {
  if (coefficients.length % 8 !== 0) throw new RangeError(`writePlaintextBytes: ${coefficients.length} bytes are not whole u64s`);
  const words = coefficients.length / 8;
  const total = HEADER_BYTES + 32 + 16 + HEADER_BYTES + 8 + coefficients.length;
  const bytes = new Uint8Array(total);
  const view = viewOf(bytes);
  writeHeader(view, 0, total, versionMajor, versionMinor);
  let at = HEADER_BYTES;
  writeHex(view, at, fields.parmsId);
  at += 32;
  view.setBigUint64(at, BigInt(words), true);
  view.setFloat64(at + 8, fields.scale, true);
  at += 16;
  writeHeader(view, at, HEADER_BYTES + 8 + coefficients.length, versionMajor, versionMinor);
  at += HEADER_BYTES;
  view.setBigUint64(at, BigInt(words), true);
  at += 8;
  bytes.set(coefficients, at);
  return bytes;
}

/** Polynomial `index` of a ciphertext, as a view of its bytes (K·N little-endian u64s, no copy). */
export function ciphertextPolyBytes(bytes: Uint8Array, layout: CiphertextLayout, index: number): Uint8Array {
  const polyBytes = layout.polyModulusDegree * layout.coeffModulusSize * 8;
  const start = layout.dataOffset + index * polyBytes;
  return bytes.subarray(start, start + polyBytes);
}

function bytesOf(data: BigUint64Array | Uint32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function writeHeader(view: DataView, at: number, total: number, major: number, minor: number): void {
  view.setUint16(at, SEAL_MAGIC, true);
  view.setUint8(at + 2, HEADER_BYTES);
  view.setUint8(at + 3, major);
  view.setUint8(at + 4, minor);
  view.setUint8(at + 5, COMPRESSION_NONE);
  view.setUint16(at + 6, 0, true);
  view.setBigUint64(at + 8, BigInt(total), true);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function hexAt(view: DataView, at: number): string {
  let hex = "";
  for (let i = 0; i < 4; i++) hex += view.getBigUint64(at + 8 * i, true).toString(16).padStart(16, "0");
  return hex;
}

function writeHex(view: DataView, at: number, hex: string): void {
  for (let i = 0; i < 4; i++) view.setBigUint64(at + 8 * i, BigInt(`0x${hex.slice(16 * i, 16 * i + 16)}`), true);
}

/** A u64 array copied out of bytes at any alignment (little-endian, as SEAL writes). */
function u64Copy(bytes: Uint8Array, offset: number, words: number): BigUint64Array {
  const out = new BigUint64Array(words);
  new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + words * 8));
  return out;
}

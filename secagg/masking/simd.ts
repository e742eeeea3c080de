/**
 * The add loop of mask.ts as a WebAssembly SIMD kernel: acc ← acc ± words over one chunk, four
 * 32-bit lanes at a time (i32x4.add / i32x4.sub wrap mod 2^32, lane by lane, as the ring needs).
 * The JIT compiles mask.ts's JS loop to one scalar add per word with a bounds check; this does four
 * per instruction, sixteen per unrolled step. Measured here on d = 1 M with 10 masks: 13 ms of
 * adding on top of the keystream (7.8 ms) in JS, 1.3 ms with this kernel, copies into and out of its memory
 * included (node:crypto hands the keystream back as a fresh Buffer, which WebAssembly cannot read
 * in place, so each chunk of keystream is copied in once, a memcpy while it is still in cache).
 *
 * Why hand-written bytes: the module is two functions of a dozen instructions. A toolchain
 * (wat2wasm, Emscripten, AssemblyScript) would be a build dependency and a generated binary in the
 * tree for ~300 bytes; here each byte is a named opcode of the WebAssembly 2.0 spec (§5.4, SIMD
 * opcodes 0xFD-prefixed), encoded by the few helpers below and checked by WebAssembly.validate
 * before use. Where WebAssembly or its SIMD is unavailable, `simdAdder` returns null and mask.ts
 * keeps its JS loop; test/secagg/masking/mask.test.ts checks both paths give the same words.
 *
 *   (func $add (param $acc i32) (param $src i32) (param $bytes i32) (local $end i32)
 *     $end = $acc + $bytes
 *     block  br_if 0 ($bytes == 0)
 *       loop
 *         v128.store offset=16u (acc, i32x4.add (v128.load offset=16u (acc), v128.load offset=16u (src)))  ;; u = 0..3
 *         $acc += 64  $src += 64
 *         br_if 0 ($acc <u $end)
 *       end
 *     end)
 *   $sub: the same with i32x4.sub. $bytes must be a multiple of 64 (the caller pads; see ChunkAdder).
 */

/** Bytes one step of the kernel's loop handles: 4 unrolled vectors of 4 lanes of 4 bytes. */
const STEP_BYTES = 64;

const OP = {
  block: 0x02, loop: 0x03, end: 0x0b, brIf: 0x0d, localGet: 0x20, localSet: 0x21, i32Const: 0x41,
  i32Eqz: 0x45, i32LtU: 0x49, i32Add: 0x6a, simd: 0xfd, v128Load: 0x00, v128Store: 0x0b, i32x4Add: 174, i32x4Sub: 177,
  void: 0x40, i32: 0x7f, func: 0x60,
} as const;

/** Unsigned LEB128, the format of every count and index in a module. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128, the format of i32.const's immediate. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const vec = (items: readonly number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: readonly number[]): number[] => [id, ...uleb(body.length), ...body];
/** A name: its UTF-8 length, then its bytes. */
const name = (s: string): number[] => vec([...new TextEncoder().encode(s)].map((byte) => [byte]));
/** A v128 load or store with natural alignment (2^4) and a constant offset. */
const memarg = (op: number, offset: number): number[] => [OP.simd, op, 4, ...uleb(offset)];

/** The body of $add or $sub: `lanes` is i32x4.add or i32x4.sub. Params 0 acc, 1 src, 2 bytes; local 3 end. */
function body(lanes: number): number[] {
  const step: number[] = [];
  for (let offset = 0; offset < STEP_BYTES; offset += 16) {
    step.push(
      OP.localGet, 0,
      OP.localGet, 0, ...memarg(OP.v128Load, offset),
      OP.localGet, 1, ...memarg(OP.v128Load, offset),
      OP.simd, ...uleb(lanes),
      ...memarg(OP.v128Store, offset),
    );
  }
  const code = [
    ...vec([[1, OP.i32]]), // one local: $end
    OP.localGet, 0, OP.localGet, 2, OP.i32Add, OP.localSet, 3,
    OP.block, OP.void,
    OP.localGet, 2, OP.i32Eqz, OP.brIf, 0,
    OP.loop, OP.void,
    ...step,
    OP.localGet, 0, OP.i32Const, ...sleb(STEP_BYTES), OP.i32Add, OP.localSet, 0,
    OP.localGet, 1, OP.i32Const, ...sleb(STEP_BYTES), OP.i32Add, OP.localSet, 1,
    OP.localGet, 0, OP.localGet, 3, OP.i32LtU, OP.brIf, 0,
    OP.end,
    OP.end,
    OP.end,
  ];
  return [...uleb(code.length), ...code];
}

/** The module: one memory of `pages` 64 KiB pages, exported with $add and $sub. */
function moduleBytes(pages: number): Uint8Array {
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vec([[OP.func, ...vec([[OP.i32], [OP.i32], [OP.i32]]), 0]])), // type 0: (i32 i32 i32) → ()
    ...section(3, vec([[0], [0]])), // functions 0 and 1 have type 0
    ...section(5, vec([[0x00, ...uleb(pages)]])), // memory: min `pages`, no max
    ...section(7, vec([[...name("memory"), 0x02, 0], [...name("add"), 0x00, 0], [...name("sub"), 0x00, 1]])),
    ...section(10, vec([body(OP.i32x4Add), body(OP.i32x4Sub)])),
  ]);
}

/**
 * One chunk's accumulator in the kernel's memory. `load` copies a chunk's bytes in, each `add`
 * copies a same-length run of little-endian words in and adds (sign 1) or subtracts (sign −1) it,
 * `store` copies the result back out; `wipe` zeroes the memory (it held keystream and masked words).
 */
export interface ChunkAdder {
  /** The largest chunk, in bytes. */
  readonly maxBytes: number;
  load(chunk: Uint8Array): void;
  add(words: Uint8Array, sign: 1 | -1): void;
  store(chunk: Uint8Array): void;
  wipe(): void;
}

/**
 * A ChunkAdder for chunks up to `maxBytes` (a multiple of 64 KiB), or null where WebAssembly SIMD is
 * unavailable. Its memory holds the accumulator at 0 and the addend at `maxBytes`.
 */
/**
 * The little of the WebAssembly JS API used here. tsconfig's lib (ES2023, no DOM) does not declare
 * it, though Node has it as a global.
 */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { memory: { buffer: ArrayBuffer }; add: KernelFn; sub: KernelFn } };
}
type KernelFn = (acc: number, src: number, bytes: number) => void;

export function simdAdder(maxBytes: number): ChunkAdder | null {
  if (maxBytes <= 0 || maxBytes % 65_536 !== 0) throw new RangeError(`simdAdder: maxBytes ${maxBytes} is not a positive multiple of 64 KiB`);
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (typeof wasm !== "object") return null;
  const bytes = moduleBytes((2 * maxBytes) / 65_536);
  let exports: InstanceType<WasmApi["Instance"]>["exports"];
  try {
    if (!wasm.validate(bytes)) return null;
    exports = new wasm.Instance(new wasm.Module(bytes)).exports;
  } catch {
    return null;
  }
  const memory = new Uint8Array(exports.memory.buffer);
  const { add, sub } = exports;
  const ACC = 0;
  const SRC = maxBytes;
  let loaded = 0;
  return {
    maxBytes,
    load(chunk) {
      if (chunk.length > maxBytes || chunk.length % 4 !== 0) throw new RangeError(`simdAdder: a chunk of ${chunk.length} bytes`);
      memory.set(chunk, ACC);
      loaded = chunk.length;
    },
    add(words, sign) {
      if (words.length !== loaded) throw new RangeError(`simdAdder: ${words.length} bytes added to a chunk of ${loaded}`);
      memory.set(words, SRC);
      // The kernel works in steps of 64 bytes: the padding it also adds lies beyond `loaded`,
      // inside the region, and is never copied out.
      const padded = Math.ceil(loaded / STEP_BYTES) * STEP_BYTES;
      (sign === 1 ? add : sub)(ACC, SRC, padded);
    },
    store(chunk) {
      if (chunk.length !== loaded) throw new RangeError(`simdAdder: ${chunk.length} bytes stored from a chunk of ${loaded}`);
      chunk.set(memory.subarray(ACC, ACC + loaded));
    },
    wipe() {
      memory.fill(0);
      loaded = 0;
    },
  };
}

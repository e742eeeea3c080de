/**
 * Chunking for transport: a model update (Float32Array) or a ciphertext (bytes) split into
 * chunks of at most 1 MiB by default, each carrying the round id, its index, the count, the
 * total length and the SHA-256 of the whole; and a reassembler that checks each one. Never lets
 * a sender make it allocate more than its configured maximum (the declared total is checked
 * before any buffer exists), and never returns a payload whose hash does not match.
 *
 * GPT-2 small's 124M-parameter update is 498 MB: 475 chunks of 1 MiB, no single large message.
 * Chunks travel in order (one stream per update); the reassembler refuses gaps and duplicates.
 */
import { createHash } from "node:crypto";
import { ChunkRejected, requireTraining } from "./errors.ts";

/** The default chunk (1 MiB) and the most a reassembler holds (1 GiB: GPT-2 small's update is 0.5 GB). */
export const DEFAULT_CHUNKING = { maxChunkBytes: 1 << 20, maxTotalBytes: 1 << 30 } as const;

/** No chunk may exceed 16 MiB, whatever the configuration: a frame must stay small. */
export const MAX_CHUNK_BYTES = 16 << 20;

export type ChunkKind = "float32" | "bytes";

export interface Chunk {
  readonly roundId: string;
  readonly index: number;
  readonly count: number;
  /** Length of the whole payload in bytes. */
  readonly totalBytes: number;
  /** Size of every chunk but the last, a multiple of 4. */
  readonly chunkBytes: number;
  readonly kind: ChunkKind;
  /** SHA-256 of the whole payload, lowercase hex. */
  readonly sha256: string;
  readonly payload: Uint8Array;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

function requireChunkBytes(chunkBytes: number): void {
  requireTraining(Number.isSafeInteger(chunkBytes) && chunkBytes >= 4 && chunkBytes % 4 === 0 && chunkBytes <= MAX_CHUNK_BYTES,
    "maxChunkBytes", chunkBytes, `must be a multiple of 4 from 4 to ${MAX_CHUNK_BYTES} (16 MiB); the default is 1 MiB`);
}

/**
 * How many chunks a payload of `totalBytes` takes.
 * @example chunkCount(124_439_808 * 4); // 475
 */
export function chunkCount(totalBytes: number, chunkBytes: number = DEFAULT_CHUNKING.maxChunkBytes): number {
  requireChunkBytes(chunkBytes);
  return Math.ceil(totalBytes / chunkBytes);
}

/**
 * The chunks of `data`, lazily: each payload is a view into `data` (no copy; the transport
 * copies as it sends). The hash is computed once, up front.
 * @example [...chunkPayload("r-1", new Float32Array(1_000_000))].length; // 4 chunks of 1 MiB
 */
export function* chunkPayload(roundId: string, data: Float32Array | Uint8Array, options: { maxChunkBytes?: number } = {}): Generator<Chunk> {
  const chunkBytes = options.maxChunkBytes ?? DEFAULT_CHUNKING.maxChunkBytes;
  requireChunkBytes(chunkBytes);
  requireTraining(typeof roundId === "string" && roundId.length > 0 && roundId.length <= 128, "roundId.length", typeof roundId === "string" ? roundId.length : Number.NaN, "a round id is 1 to 128 characters");
  const kind: ChunkKind = data instanceof Float32Array ? "float32" : "bytes";
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  requireTraining(bytes.length > 0, "data.byteLength", 0, "cannot chunk an empty payload");
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const count = Math.ceil(bytes.length / chunkBytes);
  for (let index = 0; index < count; index++) {
    const start = index * chunkBytes;
    yield { roundId, index, count, totalBytes: bytes.length, chunkBytes, kind, sha256, payload: bytes.subarray(start, Math.min(start + chunkBytes, bytes.length)) };
  }
}

export type ReassemblyProgress =
  | { readonly type: "incomplete"; readonly received: number; readonly count: number }
  | { readonly type: "complete"; readonly kind: ChunkKind; readonly data: Float32Array | Uint8Array; readonly sha256: string };

interface InProgress {
  readonly header: Omit<Chunk, "index" | "payload">;
  readonly buffer: Uint8Array;
  readonly hash: ReturnType<typeof createHash>;
  next: number;
}

/**
 * Rebuilds one payload at a time from its chunks, in order. A refused chunk (ChunkRejected)
 * changes nothing, so a retransmitted duplicate does no harm; a hash mismatch at the end drops
 * the payload, and the reassembler waits for a new one. After a payload completes, the next
 * chunk starts a new one.
 * @example
 * const reassembler = new Reassembler({ roundId: "r-1" });
 * for (const chunk of chunkPayload("r-1", update)) progress = reassembler.accept(chunk);
 * // progress.type === "complete", progress.data equals update
 */
export class Reassembler {
  readonly maxTotalBytes: number;
  readonly maxChunkBytes: number;
  readonly roundId: string | undefined;
  #current: InProgress | undefined;

  constructor(options: { roundId?: string; maxTotalBytes?: number; maxChunkBytes?: number } = {}) {
    this.maxTotalBytes = options.maxTotalBytes ?? DEFAULT_CHUNKING.maxTotalBytes;
    this.maxChunkBytes = options.maxChunkBytes ?? DEFAULT_CHUNKING.maxChunkBytes;
    this.roundId = options.roundId;
    requireTraining(Number.isSafeInteger(this.maxTotalBytes) && this.maxTotalBytes >= 1, "maxTotalBytes", this.maxTotalBytes, "must be a positive integer (bytes)");
    requireChunkBytes(this.maxChunkBytes);
  }

  /** Bytes received of the payload in progress (0 between payloads). */
  get receivedBytes(): number {
    const current = this.#current;
    return current === undefined ? 0 : Math.min(current.next * current.header.chunkBytes, current.header.totalBytes);
  }

  accept(chunk: Chunk): ReassemblyProgress {
    const roundId = typeof chunk?.roundId === "string" ? chunk.roundId : "?";
    const refuse = (field: string, reason: string): never => {
      throw new ChunkRejected(roundId, field, reason);
    };
    if (chunk === null || typeof chunk !== "object") refuse("chunk", "is not an object");
    if (this.roundId !== undefined && chunk.roundId !== this.roundId) refuse("roundId", `this reassembler takes round "${this.roundId}" only`);
    if (!(chunk.payload instanceof Uint8Array)) refuse("payload", "must be a Uint8Array");
    let current = this.#current;
    if (current === undefined) {
      this.#checkHeader(chunk, refuse);
      if (chunk.index !== 0) refuse("index", `a payload starts at chunk 0, got ${String(chunk.index)} (earlier chunks were lost)`);
      current = { header: headerOf(chunk), buffer: new Uint8Array(chunk.totalBytes), hash: createHash("sha256"), next: 0 };
    } else {
      const h = current.header;
      for (const field of ["roundId", "count", "totalBytes", "chunkBytes", "kind", "sha256"] as const) {
        if (chunk[field] !== h[field]) refuse(field, `is ${JSON.stringify(chunk[field])}, the payload in progress has ${JSON.stringify(h[field])}`);
      }
      if (!Number.isSafeInteger(chunk.index)) refuse("index", "must be an integer");
      if (chunk.index < current.next) refuse("index", `chunk ${chunk.index} is a duplicate (${current.next} of ${h.count} received)`);
      if (chunk.index > current.next) refuse("index", `chunk ${chunk.index} arrived out of order: expected ${current.next}`);
    }
    const { header } = current;
    const start = chunk.index * header.chunkBytes;
    const expected = Math.min(header.chunkBytes, header.totalBytes - start);
    if (chunk.payload.length !== expected) refuse("payload", `chunk ${chunk.index} holds ${chunk.payload.length} bytes, expected ${expected}`);
    current.buffer.set(chunk.payload, start);
    current.hash.update(chunk.payload);
    current.next = chunk.index + 1;
    this.#current = current;
    if (current.next < header.count) return { type: "incomplete", received: current.next, count: header.count };
    this.#current = undefined;
    const digest = current.hash.digest("hex");
    if (digest !== header.sha256) refuse("sha256", `the payload's SHA-256 is ${digest}, its chunks declared ${header.sha256}; the payload is dropped, send it again`);
    const data = header.kind === "float32" ? new Float32Array(current.buffer.buffer, 0, header.totalBytes / 4) : current.buffer;
    return { type: "complete", kind: header.kind, data, sha256: digest };
  }

  #checkHeader(chunk: Chunk, refuse: (field: string, reason: string) => never): void {
    if (typeof chunk.roundId !== "string" || chunk.roundId.length === 0 || chunk.roundId.length > 128) refuse("roundId", "a round id is 1 to 128 characters");
    if (chunk.kind !== "float32" && chunk.kind !== "bytes") refuse("kind", `${JSON.stringify(chunk.kind)} is not "float32" or "bytes"`);
    if (typeof chunk.sha256 !== "string" || !HEX_SHA256.test(chunk.sha256)) refuse("sha256", "must be 64 lowercase hex digits");
    const { totalBytes, chunkBytes, count } = chunk;
    if (!Number.isSafeInteger(totalBytes) || totalBytes < 1) refuse("totalBytes", "must be a positive integer");
    if (totalBytes > this.maxTotalBytes) refuse("totalBytes", `declares ${totalBytes} bytes, more than this reassembler's maximum of ${this.maxTotalBytes}`);
    if (chunk.kind === "float32" && totalBytes % 4 !== 0) refuse("totalBytes", `${totalBytes} is not a whole number of float32s`);
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 4 || chunkBytes % 4 !== 0) refuse("chunkBytes", "must be a positive multiple of 4");
    if (chunkBytes > this.maxChunkBytes) refuse("chunkBytes", `${chunkBytes} exceeds this reassembler's maximum chunk of ${this.maxChunkBytes} bytes`);
    if (count !== Math.ceil(totalBytes / chunkBytes)) refuse("count", `${String(count)} chunks cannot hold ${totalBytes} bytes of ${chunkBytes}-byte chunks (expected ${Math.ceil(totalBytes / chunkBytes)})`);
  }
}

function headerOf(chunk: Chunk): Omit<Chunk, "index" | "payload"> {
  return { roundId: chunk.roundId, count: chunk.count, totalBytes: chunk.totalBytes, chunkBytes: chunk.chunkBytes, kind: chunk.kind, sha256: chunk.sha256 };
}

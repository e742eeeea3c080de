/**
 * A hospital's training corpus from a directory: `.txt` files (one document each, or several
 * separated by `<|endoftext|>`) and `.jsonl` files (one `{"text": "..."}` object per line),
 * tokenized with the model's GPT-2 tokenizer into sequences of at most `positions` tokens. Never
 * reads without bounds (files, bytes per file and in all, documents, sequences: DEFAULT_CORPUS_LIMITS)
 * and never quotes the text in an error: a malformed file is a CorpusError naming file and line.
 *
 * A document becomes [<|endoftext|>, …its tokens…, <|endoftext|>] (GPT-2's separator, so the
 * model learns where notes begin and end), cut into consecutive windows of `positions` tokens;
 * a last window of one token predicts nothing and is dropped. Each window is one DP-SGD example:
 * example-level DP protects a window, and a note longer than the context spans several windows.
 * Only the directory's own files are read (no recursion), in name order, so a corpus loads the
 * same way everywhere; other files (a README, SYNTHETIC.md) are listed as skipped.
 */
import { open, readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import type { Gpt2Tokenizer } from "../../tokenizer.ts";
import { CorpusError, requireOption } from "../errors.ts";

export interface CorpusLimits {
  readonly maxFiles: number;
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;
  readonly maxDocuments: number;
  readonly maxSequences: number;
}

export const DEFAULT_CORPUS_LIMITS: CorpusLimits = {
  maxFiles: 10_000,
  maxFileBytes: 64 * 1024 * 1024,
  maxTotalBytes: 512 * 1024 * 1024,
  maxDocuments: 1_000_000,
  maxSequences: 1_000_000,
};

export interface LoadedCorpus {
  /** Token sequences, 2..positions tokens each, in file and document order. */
  readonly sequences: number[][];
  readonly documents: number;
  readonly tokens: number;
  /** Files read, relative to the directory. */
  readonly files: readonly string[];
  /** Files left out: not .txt or .jsonl, or hidden. */
  readonly skipped: readonly string[];
}

export interface LoadCorpusOptions {
  /** The model's context (config n_positions): the longest sequence. */
  readonly positions: number;
  readonly limits?: Partial<CorpusLimits>;
}

/**
 * Loads and tokenizes every .txt and .jsonl file of `dir`.
 * @example
 * const tokenizer = await Gpt2Tokenizer.fromDirectory("models/hospital-a");
 * const { sequences } = await loadCorpus("data/hospital-a", tokenizer, { positions: 128 });
 */
export async function loadCorpus(dir: string, tokenizer: Gpt2Tokenizer, options: LoadCorpusOptions): Promise<LoadedCorpus> {
  const limits = { ...DEFAULT_CORPUS_LIMITS, ...options.limits };
  requireOption(Number.isSafeInteger(options.positions) && options.positions >= 2, "positions", options.positions, "must be a whole number ≥ 2");
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    throw new CorpusError(dir, `cannot read the directory (${e.code ?? e.message})`);
  });
  const files: string[] = [], skipped: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const kind = extname(entry.name).toLowerCase();
    if (entry.isFile() && !entry.name.startsWith(".") && (kind === ".txt" || kind === ".jsonl")) files.push(entry.name);
    else skipped.push(entry.name);
  }
  if (files.length === 0) throw new CorpusError(dir, "holds no .txt or .jsonl file");
  if (files.length > limits.maxFiles) throw new CorpusError(dir, `holds ${files.length} corpus files, over the limit of ${limits.maxFiles}`);
  const sequences: number[][] = [];
  let documents = 0, tokens = 0, totalBytes = 0;
  for (const name of files) {
    const file = join(dir, name);
    const { size } = await stat(file);
    if (size > limits.maxFileBytes) throw new CorpusError(file, `is ${size} bytes, over the limit of ${limits.maxFileBytes} per file`);
    totalBytes += size;
    if (totalBytes > limits.maxTotalBytes) throw new CorpusError(file, `takes the corpus past ${limits.maxTotalBytes} bytes in all`);
    const text = await readUtf8(file, size);
    const texts = extname(name).toLowerCase() === ".jsonl" ? parseJsonl(file, text) : text.split("<|endoftext|>");
    for (const doc of texts) {
      if (doc.trim() === "") continue;
      documents += 1;
      if (documents > limits.maxDocuments) throw new CorpusError(file, `takes the corpus past ${limits.maxDocuments} documents`);
      for (const seq of documentSequences(doc, tokenizer, options.positions)) {
        sequences.push(seq);
        tokens += seq.length;
        if (sequences.length > limits.maxSequences) throw new CorpusError(file, `takes the corpus past ${limits.maxSequences} sequences`);
      }
    }
  }
  if (sequences.length === 0) throw new CorpusError(dir, "its files hold no text to train on");
  return { sequences, documents, tokens, files, skipped };
}

/**
 * One document's training sequences: [eot, …tokens…, eot] in windows of `positions`.
 * @example documentSequences("Chest pain.", tokenizer, 128); // one window: <|endoftext|>, the note's tokens, <|endoftext|>
 */
export function documentSequences(text: string, tokenizer: Gpt2Tokenizer, positions: number): number[][] {
  const eot = tokenizer.endOfText;
  const ids = eot === undefined ? tokenizer.encode(text) : [eot, ...tokenizer.encode(text), eot];
  const out: number[][] = [];
  for (let at = 0; at < ids.length; at += positions) {
    const window = ids.slice(at, at + positions);
    if (window.length >= 2) out.push(window);
  }
  return out;
}

/** The `text` of each non-empty line; a line that is not such an object is a CorpusError naming its number. */
export function parseJsonl(file: string, text: string): string[] {
  const out: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new CorpusError(file, "is not a JSON object (each line of a .jsonl file is one {\"text\": ...})", i + 1);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new CorpusError(file, "is not a JSON object (expected {\"text\": ...})", i + 1);
    const t = (value as { text?: unknown }).text;
    if (typeof t !== "string") throw new CorpusError(file, `has ${t === undefined ? "no \"text\" field" : `a "text" of type ${Array.isArray(t) ? "array" : t === null ? "null" : typeof t}, not a string`}`, i + 1);
    out.push(t);
  });
  return out;
}

async function readUtf8(file: string, size: number): Promise<string> {
  const handle = await open(file, "r");
  try {
    const bytes = Buffer.alloc(size);
    const { bytesRead } = await handle.read(bytes, 0, size, 0);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, bytesRead));
    } catch {
      throw new CorpusError(file, "is not valid UTF-8 text");
    }
  } finally {
    await handle.close();
  }
}

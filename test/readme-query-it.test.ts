/**
 * The README's "Query it" lines can be run again (issue 14: "The README's consensus curl reuses a
 * fixed idempotency key, so running it twice fails"): every Idempotency-Key it sends is made
 * fresh by the shell, each run a different one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

test("the README's curl lines send no fixed Idempotency-Key: each run makes a new one", async () => {
  const section = readme.slice(readme.indexOf("## Query it"), readme.indexOf("\n## ", readme.indexOf("## Query it") + 1));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!.replace(/\\\n\s*/g, " ");
  const keys = [...block.matchAll(/-H\s+(["'])idempotency-key:\s*(.*?)\1/gi)].map((m) => m[2]!);
  assert.ok(keys.length >= 1, "the consensus example shows the header");
  for (const key of keys) {
    const made = /^\$\((.+)\)$/.exec(key);
    assert.ok(made, `the key is made by the shell, not written in: ${key}`);
    const run = () => promisify(execFile)("bash", ["-c", made[1]!], { timeout: 30_000 }).then((r) => r.stdout.trim());
    const [first, second] = [await run(), await run()];
    assert.match(first, /^[\x21-\x7e]{1,128}$/, "a valid request id (1..128 printable ASCII characters)");
    assert.notEqual(first, second, "a different key each run");
  }
});

/**
 * Issue 12: cluster/ is a library (`fedrouter/cluster`) and the CLI is a shell over it, never the
 * other way round. Read from the source text, like test/internals/import-boundaries.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const sources = readdirSync(join(root, "cluster"), { recursive: true, encoding: "utf8" }).filter((name) => name.endsWith(".ts")).map((name) => join("cluster", name));

test("cluster/ imports nothing from bin/, nor names a file under it (no spawning the CLI)", () => {
  assert.ok(sources.includes(join("cluster", "index.ts")), `the scan finds cluster/ (${sources.join(", ")})`);
  for (const file of sources) {
    const text = readFileSync(join(root, file), "utf8");
    const specifiers = [...text.matchAll(/(?:import|export)[^"'`]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] ?? m[2]!);
    for (const spec of specifiers) assert.ok(!/(^|\/)bin\//.test(spec), `${file} imports ${spec}`);
    assert.ok(!/["'`][^"'`\n]*\bbin\/[^"'`\n]*["'`]/.test(text), `${file} names a path under bin/`);
  }
});

test("package.json exports fedrouter/cluster as cluster/index.ts", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, string> };
  assert.equal(pkg.exports["./cluster"], "./cluster/index.ts");
});

test("the library never exits the process nor writes to stdout; the CLI does (the demo actors' worker-thread exit aside)", () => {
  for (const file of sources) {
    const text = readFileSync(join(root, file), "utf8");
    assert.ok(!/process\.stdout|console\.(log|info)/.test(text), `${file} writes to stdout`);
    const exits = [...text.matchAll(/process\.exit\(/g)].length;
    // tally's "exit-thread" ends its worker thread, the fault the local demo shows; on the main
    // thread it refuses (cluster/demo-actors.ts).
    assert.equal(exits, file === join("cluster", "demo-actors.ts") ? 1 : 0, `${file} calls process.exit`);
  }
});

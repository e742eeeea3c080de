import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("../../", import.meta.url).pathname;

function sources(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(join(root, dir));
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(root, dir, name);
    if (statSync(path).isDirectory()) out = out.concat(sources(relative(root, path)));
    else if (/\.(ts|mts|mjs)$/.test(name) && !name.endsWith(".d.ts")) out.push(relative(root, path));
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(join(root, file), "utf8");
  return [...text.matchAll(/(?:import|export)[^"'`]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] ?? m[2]!);
}

test("runtime/ imports nothing from actors/, bin/ or bench/", () => {
  for (const file of sources("runtime")) {
    for (const spec of imports(file)) {
      assert.ok(!/(^|\/)(actors|bin|bench)\//.test(spec), `${file} imports ${spec}`);
    }
  }
});

test("only runtime/codec imports msgpackr and only runtime/persistence imports lmdb", () => {
  for (const dir of ["runtime", "actors", "protocols", "native-bindings", "bin"]) {
    for (const file of sources(dir)) {
      for (const spec of imports(file)) {
        if (spec === "msgpackr" || spec.startsWith("msgpackr/")) assert.ok(file.startsWith("runtime/codec/"), `${file} imports msgpackr`);
        if (spec === "lmdb" || spec.startsWith("lmdb/")) assert.ok(file.startsWith("runtime/persistence/"), `${file} imports lmdb`);
      }
    }
  }
});

test("only native-bindings/ imports the tfjs packages", () => {
  for (const dir of ["runtime", "actors", "protocols", "native-bindings", "bin", "bench"]) {
    for (const file of sources(dir)) {
      for (const spec of imports(file)) {
        if (spec.startsWith("@tensorflow/")) assert.ok(file.startsWith("native-bindings/"), `${file} imports ${spec}`);
      }
    }
  }
  // The resolver imports its packages by name from a table: check that table names each backend package.
  const resolver = readFileSync(join(root, "native-bindings/tensor/index.ts"), "utf8");
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node", "@tensorflow/tfjs-backend-wasm", "@tensorflow/tfjs-backend-cpu"]) assert.ok(resolver.includes(`"${pkg}"`), pkg);
});

test("the runtime is generic: no hospital, privacy or model vocabulary in runtime/", () => {
  for (const file of sources("runtime")) {
    const text = readFileSync(join(root, file), "utf8");
    assert.doesNotMatch(text, /epsilon|hospital|gpt-?2|privacy budget/i, file);
  }
});

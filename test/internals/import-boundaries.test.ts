import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const packageExports = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).exports as Record<string, string>;

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

/**
 * The repository path an import names (`actors/accountant/index.ts`), for a relative import or
 * one of the package's own exports (`fedrouter/privacy`), so neither can slip past a rule; null
 * for another package or a node: builtin.
 */
function target(file: string, spec: string): string | null {
  if (spec.startsWith(".")) return normalize(join(dirname(file), spec));
  if (spec === "fedrouter" || spec.startsWith("fedrouter/")) {
    const entry = packageExports[`.${spec.slice("fedrouter".length)}`];
    return entry === undefined ? spec : normalize(entry);
  }
  return null;
}

/** Every `file imports spec` under `dir` whose target breaks `allowed`, as readable lines. */
function violations(dir: string, allowed: (file: string, spec: string, path: string | null) => boolean): string[] {
  return sources(dir).flatMap((file) => imports(file).filter((spec) => !allowed(file, spec, target(file, spec))).map((spec) => `${file} imports ${spec}`));
}

test("runtime/ imports nothing from actors/, privacy/, cluster/, bin/ or bench/", () => {
  const above = /^(actors|privacy|cluster|bin|bench)\//;
  assert.deepEqual(violations("runtime", (_file, _spec, path) => path === null || !above.test(path)), []);
});

test("privacy/ is pure mathematics: it imports only privacy/, errors/ and node:crypto (nothing from runtime/, actors/, bin/, cluster/)", () => {
  assert.deepEqual(violations("privacy", (_file, spec, path) => (path === null ? spec === "node:crypto" : path.startsWith("privacy/") || path.startsWith("errors/"))), []);
});

test("errors/, the error base every layer extends, imports nothing: not ours, not a package, not a builtin", () => {
  assert.deepEqual(violations("errors", (_file, spec, path) => path !== null && path.startsWith("errors/") && spec.startsWith(".")), []);
});

test("native-bindings/ imports nothing of ours but errors/", () => {
  assert.deepEqual(violations("native-bindings", (_file, _spec, path) => path === null || path.startsWith("native-bindings/") || path.startsWith("errors/")), []);
});

test("actors meet only through index/protocol: actors/X/ imports from actors/Y/ only index.ts or protocol.ts", () => {
  const actorOf = (path: string): string | null => /^actors\/([^/]+)\//.exec(path)?.[1] ?? null;
  assert.deepEqual(
    violations("actors", (file, _spec, path) => {
      const other = path === null ? null : actorOf(path);
      return other === null || other === actorOf(file) || path === `actors/${other}/index.ts` || path === `actors/${other}/protocol.ts`;
    }),
    [],
  );
});

test("only runtime/codec imports msgpackr and only runtime/persistence imports lmdb", () => {
  for (const dir of ["runtime", "privacy", "actors", "cluster", "protocols", "native-bindings", "bin"]) {
    for (const file of sources(dir)) {
      for (const spec of imports(file)) {
        if (spec === "msgpackr" || spec.startsWith("msgpackr/")) assert.ok(file.startsWith("runtime/codec/"), `${file} imports msgpackr`);
        if (spec === "lmdb" || spec.startsWith("lmdb/")) assert.ok(file.startsWith("runtime/persistence/"), `${file} imports lmdb`);
      }
    }
  }
});

test("only native-bindings/ imports the tfjs packages", () => {
  for (const dir of ["runtime", "privacy", "actors", "cluster", "protocols", "native-bindings", "bin", "bench"]) {
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

/**
 * The README's architecture section draws the module graph; this test computes the graph from
 * the imports and fails when the drawing and the code differ (it prints the block to paste).
 * A module is a top-level folder (runtime, privacy, federated, secagg, cluster, bin, native-bindings) or one actor
 * (actors/<name>, drawn by the actor's name); an edge means some file of the first imports some
 * file of the second.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const MODULE_ROOTS = ["errors", "runtime", "privacy", "federated", "secagg", "actors", "cluster", "bin", "native-bindings"];
/** Names as the drawing uses them (mermaid ids: no slashes or dashes). */
const NAMES: Readonly<Record<string, string>> = {
  "actors/accountant": "Accountant", "actors/aggregator": "Aggregator", "actors/planner": "Planner", "actors/router": "Router",
  "actors/shard-executor": "ShardExecutor", "native-bindings": "native_bindings",
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mts|mjs)$/.test(name) && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

function moduleOf(file: string): string | undefined {
  const parts = file.split("/");
  if (parts[0] === "actors") return parts.length > 2 ? `actors/${parts[1]}` : undefined;
  return MODULE_ROOTS.includes(parts[0]!) ? parts[0] : undefined;
}

/** The repository path an import names, or undefined for a package other than fedrouter itself. */
function target(file: string, spec: string): string | undefined {
  if (spec.startsWith(".")) return normalize(join(dirname(file), spec));
  const self = /^fedrouter(?:\/(.*))?$/.exec(spec);
  if (self === null) return undefined;
  const exports = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, string> }).exports;
  const path = exports[self[1] === undefined ? "." : `./${self[1]}`];
  return path === undefined ? undefined : normalize(path);
}

export function moduleGraph(): string[] {
  const edges = new Set<string>();
  for (const dir of MODULE_ROOTS) {
    for (const file of sources(dir)) {
      const from = moduleOf(file);
      const text = readFileSync(join(root, file), "utf8");
      for (const m of text.matchAll(/(?:import|export)[^"'`;]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
        const path = target(file, (m[1] ?? m[2])!);
        const to = path === undefined ? undefined : moduleOf(relative(".", path));
        if (from !== undefined && to !== undefined && from !== to) edges.add(`${NAMES[from] ?? from} --> ${NAMES[to] ?? to}`);
      }
    }
  }
  return [...edges].sort();
}

test("the README's module graph is the one the imports make", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const block = /<!-- module-graph:start -->\s*```mermaid\n([\s\S]*?)```\s*<!-- module-graph:end -->/.exec(readme)?.[1];
  assert.ok(block !== undefined, "README.md has a mermaid block between <!-- module-graph:start --> and <!-- module-graph:end -->");
  const drawn = block.split("\n").map((l) => l.trim()).filter((l) => l.includes("-->")).map((l) => l.replace(/\s+/g, " ")).sort();
  const actual = moduleGraph();
  assert.deepEqual(drawn, actual, `README.md's graph differs from the imports; the block should read:\n\`\`\`mermaid\ngraph LR\n${actual.map((e) => `  ${e}`).join("\n")}\n\`\`\``);
});

/**
 * Compares two sets of benchmark runs of one suite, figure by figure: the median of each
 * figure's ratio (fedrouter / its raw floor, measured in the same run) in each set, and the
 * change, flagged where the second set is worse by more than a tolerance (default 5 %). Single
 * runs on a shared 2-core machine swing by ±10 %, so a claim like "no figure drops by more than
 * 5 %" is made on medians of alternating runs, and this prints them from the runs' own JSON.
 *
 *   node --import tsx bench/compare.ts bench/results/compare/issue-12/81bf6fc bench/results/compare/issue-12/b6f26e7 http
 *
 * Each directory holds `<suite>-*.json` files as bench/run.ts writes them (bench/results/<suite>.json).
 * For a latency (µs, ms, s) lower is better; for everything else higher is.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SuiteReport } from "./report.ts";

const LOWER_IS_BETTER = new Set(["µs", "ms", "s"]);

export interface FigureComparison {
  readonly name: string;
  readonly unit: string;
  readonly before: { readonly median: number; readonly runs: number } | null;
  readonly after: { readonly median: number; readonly runs: number } | null;
  /** How much worse the second set's median is, as a fraction (negative: better); null when a set lacks the figure. */
  readonly worseBy: number | null;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Every figure with a ratio in either set, in the order the second set (else the first) lists them. */
export function compareRuns(before: readonly SuiteReport[], after: readonly SuiteReport[]): FigureComparison[] {
  const ratios = (reports: readonly SuiteReport[]) => {
    const byName = new Map<string, { unit: string; values: number[] }>();
    for (const report of reports) {
      for (const r of report.results) {
        if (r.ratio === null || !Number.isFinite(r.ratio)) continue;
        let entry = byName.get(r.name);
        if (entry === undefined) byName.set(r.name, (entry = { unit: r.unit, values: [] }));
        entry.values.push(r.ratio);
      }
    }
    return byName;
  };
  const a = ratios(before);
  const b = ratios(after);
  const names = [...new Set([...b.keys(), ...a.keys()])];
  return names.map((name) => {
    const x = a.get(name);
    const y = b.get(name);
    const unit = (y ?? x)!.unit;
    const summary = (e: { values: number[] } | undefined) => (e === undefined ? null : { median: median(e.values), runs: e.values.length });
    const from = summary(x);
    const to = summary(y);
    const worseBy = from === null || to === null ? null : LOWER_IS_BETTER.has(unit) ? to.median / from.median - 1 : from.median / to.median - 1;
    return { name, unit, before: from, after: to, worseBy };
  });
}

/** The suite's runs in `dir`: every `<suite>-*.json`, sorted by name. */
export function loadRuns(dir: string, suite: string): SuiteReport[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${suite}-`) && f.endsWith(".json"))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as SuiteReport)
    .filter((r) => r.suite === suite);
}

export function formatComparison(rows: readonly FigureComparison[], tolerance = 0.05): string {
  const cell = (s: { median: number; runs: number } | null) => (s === null ? "—" : `${s.median.toFixed(3)} (n ${s.runs})`);
  const lines = rows.map((r) => {
    const change = r.worseBy === null ? "" : `${r.worseBy > 0 ? "worse" : "better"} by ${(Math.abs(r.worseBy) * 100).toFixed(1)} %${r.worseBy > tolerance ? "  DROP" : ""}`;
    return [r.name, cell(r.before), cell(r.after), change];
  });
  const header = ["figure (median ratio)", "before", "after", "change"];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join("   ").trimEnd()).join("\n");
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [beforeDir, afterDir, suite] = process.argv.slice(2);
  if (beforeDir === undefined || afterDir === undefined || suite === undefined) {
    process.stderr.write("usage: node --import tsx bench/compare.ts <before-dir> <after-dir> <suite>\n");
    process.exit(2);
  }
  const before = loadRuns(beforeDir, suite);
  const after = loadRuns(afterDir, suite);
  if (before.length === 0 || after.length === 0) {
    process.stderr.write(`bench/compare: no ${suite}-*.json runs in ${before.length === 0 ? beforeDir : afterDir}\n`);
    process.exit(2);
  }
  const rows = compareRuns(before, after);
  process.stdout.write(`${suite}: ${before.length} runs in ${beforeDir}, ${after.length} in ${afterDir}\n${formatComparison(rows)}\n`);
  const drops = rows.filter((r) => r.worseBy !== null && r.worseBy > 0.05);
  process.stdout.write(drops.length === 0 ? "no median worse by more than 5 %\n" : `${drops.length} median(s) worse by more than 5 %\n`);
}

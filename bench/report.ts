/**
 * Benchmark reports: one table on stdout and one JSON file per suite, `bench/results/<suite>.json`.
 * Every figure carries its raw floor, measured in the same process and run, and the ratio
 * fedrouter / floor (STYLE §8): for a throughput higher is better, for a latency lower is.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { basename, relative } from "node:path";
import { fileURLToPath } from "node:url";

export interface BenchResult {
  name: string;
  /** "msg/s", "updates/s", "µs", … */
  unit: string;
  value: number;
  /** The raw floor measured beside it; null only for a figure that is itself context. */
  baseline: { name: string; value: number } | null;
  /** value / baseline.value (fedrouter / raw), or null without a baseline. */
  ratio: number | null;
  /** The ratio this figure should reach, e.g. "≥ 0.5" or "≤ 2". */
  target?: string;
}

export interface SuiteReport {
  suite: string;
  node: string;
  cpus: number;
  cpuModel: string;
  date: string;
  command: string;
  results: BenchResult[];
}

export const RESULTS_DIR = fileURLToPath(new URL("./results/", import.meta.url));

/** A result row with its ratio computed as fedrouter / floor. */
export function compared(
  name: string,
  unit: string,
  value: number,
  baseline: { name: string; value: number },
  target?: string,
): BenchResult {
  const result: BenchResult = { name, unit, value, baseline, ratio: baseline.value > 0 ? value / baseline.value : null };
  if (target !== undefined) result.target = target;
  return result;
}

/** The command line that produced this run, as one would retype it (paths relative to cwd). */
export function commandLine(): string {
  const script = process.argv[1] === undefined ? [] : [relative(process.cwd(), process.argv[1]) || process.argv[1]];
  return [basename(process.execPath), ...process.execArgv, ...script, ...process.argv.slice(2)].join(" ");
}

export function buildReport(suite: string, results: BenchResult[]): SuiteReport {
  const cpuList = cpus();
  return {
    suite,
    node: process.version,
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model.trim() ?? "unknown",
    date: new Date().toISOString(),
    command: commandLine(),
    results,
  };
}

/** Writes `bench/results/<suite>.json` and returns its path. */
export function writeReport(report: SuiteReport): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${report.suite}.json`;
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}

/** The table of STYLE §8: name, fedrouter, raw floor (named), ratio, target. */
export function formatTable(report: SuiteReport): string {
  const rows = report.results.map((r) => {
    const verdict = r.target === undefined || r.ratio === null ? undefined : meets(r.ratio, r.target);
    const met = verdict === undefined ? "" : verdict ? "  met" : "  MISSED";
    return [
      r.name,
      formatValue(r.value, r.unit),
      r.baseline === null ? "—" : `${formatValue(r.baseline.value, r.unit)} (${r.baseline.name})`,
      r.ratio === null ? "—" : r.ratio.toFixed(2),
      r.target === undefined ? "" : `${r.target}${met}`,
    ];
  });
  const header = [report.suite, "fedrouter", "raw floor", "ratio", "target"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("   ").trimEnd();
  return [
    line(header),
    ...rows.map(line),
    "",
    `Node ${report.node}, ${report.cpus} × ${report.cpuModel}, ${report.date}`,
    `command: ${report.command}   (ratio = fedrouter / raw floor; synthetic benchmark)`,
  ].join("\n");
}

export function formatValue(value: number, unit: string): string {
  if (unit === "µs") return `${value < 100 ? value.toFixed(1) : Math.round(value)} µs`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M ${unit}`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)} k ${unit}`;
  return `${Math.round(value)} ${unit}`;
}

/** Whether a ratio meets a target written as "≥ x" or "≤ x"; undefined for a target in words (nothing to check). */
export function meets(ratio: number, target: string): boolean | undefined {
  const match = /^\s*(≥|>=|≤|<=)\s*([0-9.]+)\s*$/.exec(target);
  if (match === null) return undefined;
  const bound = Number(match[2]);
  return match[1] === "≥" || match[1] === ">=" ? ratio >= bound : ratio <= bound;
}

/**
 * bench/compare.ts: medians of each figure's ratio over two sets of runs, the direction of
 * "worse" by unit (a latency's ratio rising is worse, a throughput's falling is), and the runs
 * kept in bench/results/compare read back as the suite wrote them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { compareRuns, formatComparison, loadRuns, median } from "../../bench/compare.ts";
import type { SuiteReport } from "../../bench/report.ts";

const run = (figures: Record<string, [unit: string, ratio: number | null]>): SuiteReport => ({
  suite: "s", node: "v20", cpus: 2, cpuModel: "test", date: "2026-12-05T00:00:00.000Z", command: "test",
  results: Object.entries(figures).map(([name, [unit, ratio]]) => ({ name, unit, value: 1, baseline: ratio === null ? null : { name: "floor", value: 1 }, ratio })),
});

test("median of an odd and an even count", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test("a throughput's median falling and a latency's rising are both 'worse'; a figure missing from one set has no change", () => {
  const before = [run({ tput: ["req/s", 0.8], lat: ["µs", 1.0], gone: ["req/s", 0.5] }), run({ tput: ["req/s", 0.9], lat: ["µs", 1.2], gone: ["req/s", 0.5] }), run({ tput: ["req/s", 1.0], lat: ["µs", 1.1], gone: ["req/s", 0.5] })];
  const after = [run({ tput: ["req/s", 0.8], lat: ["µs", 1.32], fresh: ["req/s", 0.7], context: ["req/s", null] })];
  const rows = new Map(compareRuns(before, after).map((r) => [r.name, r]));
  assert.ok(Math.abs(rows.get("tput")!.worseBy! - (0.9 / 0.8 - 1)) < 1e-12, "0.9 → 0.8 is 12.5 % worse");
  assert.ok(Math.abs(rows.get("lat")!.worseBy! - (1.32 / 1.1 - 1)) < 1e-12, "1.1 → 1.32 is 20 % worse");
  assert.equal(rows.get("gone")!.worseBy, null);
  assert.equal(rows.get("fresh")!.before, null);
  assert.equal(rows.has("context"), false, "a figure without a ratio is context, not compared");
  const text = formatComparison([...rows.values()]);
  assert.match(text, /^tput +0\.900 \(n 3\) +0\.800 \(n 1\) +worse by 12\.5 % +DROP$/m);
  assert.match(text, /^lat +1\.100 \(n 3\) +1\.320 \(n 1\) +worse by 20\.0 % +DROP$/m);
});

test("the kept issue-12 runs load as http and executor reports with ratios", () => {
  for (const [dir, suite] of [["81bf6fc", "http"], ["b6f26e7", "http"], ["81bf6fc", "executor"], ["67336b6", "executor"]] as const) {
    const runs = loadRuns(new URL(`../../bench/results/compare/issue-12/${dir}/`, import.meta.url).pathname, suite);
    assert.ok(runs.length >= 3, `${dir}: ${runs.length} ${suite} runs`);
    for (const r of runs) assert.ok(r.results.some((x) => typeof x.ratio === "number"), `${dir}: ${suite} run of ${r.date} has ratios`);
  }
});

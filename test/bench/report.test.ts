/**
 * bench/report.ts: a target is judged only when it is a bound ("≥ x" or "≤ x"); a target in
 * words is printed as written, never as "met" (it was, for any ratio: a main-thread row at
 * 2.26 times its allowance printed "≤ 1 for 0.3  met").
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { compared, formatTable, meets, type SuiteReport } from "../../bench/report.ts";

test("a bound is met or missed by the ratio, in either direction, with or without spaces", () => {
  assert.equal(meets(0.31, "≥ 0.3"), true);
  assert.equal(meets(0.29, "≥ 0.3"), false);
  assert.equal(meets(0.3, ">=0.3"), true);
  assert.equal(meets(2.26, "≤ 1"), false);
  assert.equal(meets(0.98, "<= 1"), true);
});

test("a target in words is not judged, whatever the ratio", () => {
  assert.equal(meets(2.26, "≤ 1 for 0.3"), undefined);
  assert.equal(meets(0.1, "< 1 s (issue): met"), undefined);
});

test("the table prints MISSED, met, or the words alone", () => {
  const report: SuiteReport = {
    suite: "s", node: "v20", cpus: 2, cpuModel: "test", date: "2026-12-06T00:00:00.000Z", command: "test",
    results: [
      compared("pairs", "/s", 13_600, { name: "raw", value: 104_600 }, "≥ 0.3"),
      compared("main-thread time", " µs", 71, { name: "allowed", value: 32 }, "≤ 1"),
      compared("words", " µs", 71, { name: "allowed", value: 32 }, "about right"),
      compared("met", "/s", 40, { name: "raw", value: 100 }, "≥ 0.3"),
    ],
  };
  const lines = formatTable(report).split("\n");
  const row = (name: string) => lines.find((l) => l.startsWith(name))!;
  assert.match(row("pairs"), /≥ 0\.3 {2}MISSED$/);
  assert.match(row("main-thread time"), /≤ 1 {2}MISSED$/);
  assert.match(row("words"), /about right$/);
  assert.doesNotMatch(row("words"), /met|MISSED/);
  assert.match(row("met"), /≥ 0\.3 {2}met$/);
});

/**
 * The "accountant" suite: durable reserve + commit pairs against raw synced lmdb-js
 * transactions, the accountants' time to answer, and the RDP-vs-PLD ε table (printed, and
 * written to bench/results/accountant-epsilon.json). About 2 minutes on a 2-core machine.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { RESULTS_DIR, type BenchResult } from "../report.ts";
import { durablePairs } from "./durable.ts";
import { formatEpsilonTable, runAccountantMathBench, DELTA } from "./math.ts";

export async function runAccountantSuite(): Promise<BenchResult[]> {
  const results = await durablePairs();
  const math = await runAccountantMathBench();
  process.stdout.write(`\nε at δ = ${DELTA}, RDP (Opacus's orders) vs PLD (grid 1e-4):\n\n${formatEpsilonTable(math.table)}\n`);
  writeFileSync(join(RESULTS_DIR, "accountant-epsilon.json"), JSON.stringify({ delta: DELTA, rows: math.table }, null, 2) + "\n");
  return [...results, ...math.results];
}

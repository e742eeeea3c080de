/**
 * The pure-maths half of the "accountant" suite: how long the accountants take to answer, and
 * how much tighter PLD's ε is than RDP's on typical settings (δ = 1e-5).
 *
 * Timings: compose DP-SGD (Poisson-subsampled Gaussian, q = 256/60000, σ = 1.1) for 1,000 and
 * 10,000 steps into a fresh accountant and read ε at δ = 1e-5; the median of a few runs,
 * measured round-robin with tinybench (measure.ts). There is no raw floor for a privacy
 * accountant, so these rows carry none (baseline null); RDP is printed beside PLD as context,
 * not as a floor. The target, ε for 10,000 steps in under a second on one core, is a
 * figure here, never an assertion.
 *
 * Run alone: `node --import tsx bench/accountant/math.ts` (prints, writes nothing).
 */
import { pathToFileURL } from "node:url";
import {
  PldAccountant, RdpAccountant, dpSgd, exponential, gaussian, gnmax, laplace, poissonSampled, selfComposed,
  type Accountant, type PrivacyEvent,
} from "../../privacy/index.ts";
import { buildReport, formatTable, type BenchResult } from "../report.ts";
import { latencies, type Budget } from "../runtime/measure.ts";

export const DELTA = 1e-5;
const MNIST_Q = 256 / 60_000;
const MNIST_SIGMA = 1.1;
const TIMED_STEPS = [1_000, 10_000] as const;
/** The target for PLD ε over 10,000 DP-SGD steps, ms. */
const PLD_TARGET_MS = 1_000;

const ROUNDS = 3;
/** PLD: one warm-up run, then at least 5 runs per round (each is 100–200 ms warm). */
const PLD_BUDGET: Budget = { time: 1, iterations: 5, warmupTime: 1, warmupIterations: 1 };
/** RDP: a few ms a run, so more of them, for a median that a GC pause does not move. */
const RDP_BUDGET: Budget = { time: 200, iterations: 30, warmupTime: 20, warmupIterations: 5 };

export interface EpsilonRow {
  setting: string;
  /** Short description of the event. */
  event: string;
  rdpEpsilon: number;
  pldEpsilon: number;
  /** pldEpsilon / rdpEpsilon: below 1 when PLD is tighter. */
  ratio: number;
}

interface Setting {
  setting: string;
  event: string;
  privacyEvent: PrivacyEvent;
}

/** Typical training and query settings for the ε table. */
export const EPSILON_SETTINGS: readonly Setting[] = [
  { setting: "DP-SGD, MNIST-like (60 epochs)", event: "Poisson q=256/60000, Gaussian z=1.1, ×14,070", privacyEvent: dpSgd(MNIST_Q, MNIST_SIGMA, 14_070) },
  { setting: "DP-SGD, small σ", event: "Poisson q=0.01, Gaussian z=0.8, ×1,000", privacyEvent: dpSgd(0.01, 0.8, 1_000) },
  { setting: "DP-FedAvg, 100 rounds", event: "Poisson q=0.1 (clients), Gaussian z=1.0, ×100", privacyEvent: dpSgd(0.1, 1.0, 100) },
  { setting: "PATE answer, 32 tokens", event: "GNMax σ=40, ×32", privacyEvent: selfComposed(gnmax(40), 32) },
  { setting: "PATE answer, 256 tokens", event: "GNMax σ=40, ×256", privacyEvent: selfComposed(gnmax(40), 256) },
  { setting: "PATE answer, 32 tokens", event: "GNMax σ=20, ×32", privacyEvent: selfComposed(gnmax(20), 32) },
  { setting: "PATE answer, 256 tokens", event: "GNMax σ=20, ×256", privacyEvent: selfComposed(gnmax(20), 256) },
  { setting: "Gaussian queries", event: "Gaussian σ=5, Δ=1, ×100", privacyEvent: selfComposed(gaussian(5), 100) },
  { setting: "Laplace counts", event: "Laplace b=10, Δ=1, ×50", privacyEvent: selfComposed(laplace(10), 50) },
  { setting: "Exponential mechanism", event: "ε=0.1 pure DP, ×100", privacyEvent: selfComposed(exponential(0.1), 100) },
];

function epsilonOf(accountant: Accountant, event: PrivacyEvent, delta = DELTA): number {
  accountant.compose(event);
  return accountant.epsilon(delta);
}

/** The ε table, and how long each PLD row took (ms), in EPSILON_SETTINGS order. */
export function epsilonTable(delta = DELTA): { rows: EpsilonRow[]; pldMs: number[] } {
  const rows: EpsilonRow[] = [];
  const pldMs: number[] = [];
  for (const { setting, event, privacyEvent } of EPSILON_SETTINGS) {
    const rdpEpsilon = epsilonOf(new RdpAccountant(), privacyEvent, delta);
    const start = performance.now();
    const pldEpsilon = epsilonOf(new PldAccountant(), privacyEvent, delta);
    pldMs.push(performance.now() - start);
    rows.push({ setting, event, rdpEpsilon, pldEpsilon, ratio: pldEpsilon / rdpEpsilon });
  }
  return { rows, pldMs };
}

/**
 * Rows where PLD reports a larger ε than RDP. PLD is tight up to its grid (1e-4 nats) and
 * pessimistic, so it should never lose to RDP by more than discretisation; any row here is a finding.
 */
export function pldAboveRdp(rows: readonly EpsilonRow[]): EpsilonRow[] {
  return rows.filter((row) => !(row.pldEpsilon <= row.rdpEpsilon));
}

/** A fixed-width text table of the ε rows, for a ``` block in a README. */
export function formatEpsilonTable(rows: readonly EpsilonRow[]): string {
  const header = ["setting", "event", "RDP ε", "PLD ε", "PLD/RDP"];
  const cells = rows.map((r) => [r.setting, r.event, r.rdpEpsilon.toFixed(3), r.pldEpsilon.toFixed(3), r.ratio.toFixed(3)]);
  const numeric = [false, false, true, true, true];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("   ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("   "), ...cells.map(line)].join("\n");
}

const stepsLabel = (steps: number) => steps.toLocaleString("en-US");

/**
 * Median ms to compose and read ε, per accountant and step count, each run a fresh accountant.
 * Each accountant's two step counts are measured round-robin, so a slow spell of this shared
 * machine hits both alike; PLD and RDP get separate budgets (a PLD run costs some 70 RDP runs).
 */
async function accountantTimings(): Promise<{ pld: number[]; rdp: number[]; epsilons: { pld: number[]; rdp: number[] } }> {
  const make = (Kind: new () => Accountant) =>
    TIMED_STEPS.map((steps) => ({
      name: `${Kind.name} ${steps}`,
      fn: async () => {
        const epsilon = epsilonOf(new Kind(), dpSgd(MNIST_Q, MNIST_SIGMA, steps));
        if (!(epsilon > 0 && epsilon < Infinity)) throw new Error(`${Kind.name}: ε = ${epsilon} for ${steps} steps`);
      },
    }));
  const toMs = (all: { p50: number }[]) => all.map((latency) => latency.p50 / 1_000);
  const pld = toMs(await latencies(make(PldAccountant), ROUNDS, PLD_BUDGET));
  const rdp = toMs(await latencies(make(RdpAccountant), ROUNDS, RDP_BUDGET));
  const epsilons = {
    pld: TIMED_STEPS.map((steps) => epsilonOf(new PldAccountant(), dpSgd(MNIST_Q, MNIST_SIGMA, steps))),
    rdp: TIMED_STEPS.map((steps) => epsilonOf(new RdpAccountant(), dpSgd(MNIST_Q, MNIST_SIGMA, steps))),
  };
  return { pld, rdp, epsilons };
}

/** A figure that is context: no raw floor exists for it (report.ts: baseline null, ratio null). */
function contextRow(name: string, unit: string, value: number, target?: string): BenchResult {
  const row: BenchResult = { name, unit, value, baseline: null, ratio: null };
  if (target !== undefined) row.target = target;
  return row;
}

export async function runAccountantMathBench(): Promise<{ results: BenchResult[]; table: EpsilonRow[] }> {
  const { results, table } = await measureAll();
  return { results, table };
}

async function measureAll(): Promise<{ results: BenchResult[]; table: EpsilonRow[]; pldMs: number[] }> {
  // The first PLD query of the process, before anything has warmed the JIT or the FFT twiddle cache.
  const coldStart = performance.now();
  epsilonOf(new PldAccountant(), dpSgd(MNIST_Q, MNIST_SIGMA, 10_000));
  const coldMs = performance.now() - coldStart;

  const timings = await accountantTimings();
  const results: BenchResult[] = [];
  TIMED_STEPS.forEach((steps, i) => {
    const ms = timings.pld[i]!;
    const target = steps === 10_000 ? `< 1 s (issue): ${ms < PLD_TARGET_MS ? "met" : "MISSED"}` : undefined;
    results.push(contextRow(`PLD ε, ${stepsLabel(steps)} DP-SGD steps (ε=${timings.epsilons.pld[i]!.toFixed(3)}), median`, "ms", ms, target));
  });
  // µs: formatValue rounds "ms" to whole numbers, and an RDP answer takes a few ms.
  TIMED_STEPS.forEach((steps, i) => {
    results.push(contextRow(`RDP ε, ${stepsLabel(steps)} DP-SGD steps (ε=${timings.epsilons.rdp[i]!.toFixed(3)}), median`, "µs", timings.rdp[i]! * 1_000));
  });
  results.push(contextRow("PLD ε, 10,000 DP-SGD steps, first call in this run", "ms", coldMs));

  const { rows, pldMs } = epsilonTable();
  const mnist = pldMs[0]!;
  results.push(contextRow("PLD ε, MNIST-like 14,070 steps (table row)", "ms", mnist, mnist < PLD_TARGET_MS ? undefined : "slow: over 1 s"));
  results.push(contextRow(`PLD ε, whole table (${rows.length} settings)`, "ms", pldMs.reduce((a, b) => a + b, 0)));
  return { results, table: rows, pldMs };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const start = performance.now();
  const { results, table, pldMs } = await measureAll();
  process.stdout.write(`${formatTable(buildReport("accountant (maths)", results))}\n\n`);
  process.stdout.write(`ε at δ = ${DELTA.toExponential()}, RDP over DEFAULT_RDP_ORDERS, PLD with DEFAULT_PLD_OPTIONS (grid 1e-4 nats):\n\n`);
  process.stdout.write(`${formatEpsilonTable(table)}\n\n`);
  const slow = EPSILON_SETTINGS.map((s, i) => ({ s, ms: pldMs[i]! })).filter(({ ms }) => ms >= PLD_TARGET_MS);
  for (const { s, ms } of slow) process.stdout.write(`slow: PLD for "${s.setting}: ${s.event}" took ${Math.round(ms)} ms\n`);
  const above = pldAboveRdp(table);
  if (above.length === 0) process.stdout.write("check: PLD ε ≤ RDP ε in every row\n");
  for (const row of above) {
    process.stdout.write(`FINDING: PLD ε ${row.pldEpsilon} > RDP ε ${row.rdpEpsilon} for "${row.setting}: ${row.event}"\n`);
  }
  process.stdout.write(`wall time: ${((performance.now() - start) / 1_000).toFixed(1)} s\n`);
}

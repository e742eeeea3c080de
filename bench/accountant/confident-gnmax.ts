/**
 * Confident-GNMax against plain GNMax on the demo federation (3 hospitals, σ₂ = 4, δ = 1e-5,
 * max_tokens 4): the ε of an answer by the tokens it released (the same utility), and what a
 * question costs when the hospitals always disagree or always agree. Every figure is the
 * Accountant's own (privacy/'s PLD accountant on the events the Router commits); nothing is timed,
 * so this is a table of ε, not a benchmark, and has no raw floor.
 *
 * Run alone: `node --import tsx bench/accountant/confident-gnmax.ts` (prints, writes nothing).
 * The README quotes its output; test/bench/accountant/confident-gnmax.test.ts keeps them equal.
 */
import { pathToFileURL } from "node:url";
import { confidentCharge, ensembleCharge } from "../../actors/aggregator/index.ts";
import { normalCdf, PldAccountant, type PrivacyEvent } from "../../privacy/index.ts";

export const DEMO = { hospitals: 3, sigma: 4, delta: 1e-5, maxTokens: 4 } as const;

export interface ConfidentSetting {
  readonly label: string;
  /** Absent: plain GNMax. */
  readonly confident?: { readonly threshold: number; readonly sigma1: number };
}

/**
 * With 3 voters the top count is 1 (all differ), 2 (a majority) or 3 (unanimous). T = 2.5 asks
 * for unanimity, T = 2 for a majority; σ₁ from 1 (a check that tells 1 from 3 votes) through
 * σ₂/√2 (a check that costs what a release does) to 8 (a cheap check that tells little).
 */
export const DEMO_SETTINGS: readonly ConfidentSetting[] = [
  { label: "plain GNMax" },
  { label: "T 2.5, σ₁ 1", confident: { threshold: 2.5, sigma1: 1 } },
  { label: "T 2.5, σ₁ 2.83", confident: { threshold: 2.5, sigma1: 2 * Math.SQRT2 } },
  { label: "T 2, σ₁ 4", confident: { threshold: 2, sigma1: 4 } },
  { label: "T 2.5, σ₁ 8", confident: { threshold: 2.5, sigma1: 8 } },
];

const epsilonOf = (event: PrivacyEvent | null): number => {
  if (event === null) return 0;
  const accountant = new PldAccountant();
  accountant.compose(event);
  return accountant.epsilon(DEMO.delta);
};

/** ε of an answer that made `checks` threshold checks and released `released` tokens under `setting`. */
export function answerEpsilon(setting: ConfidentSetting, checks: number, released: number): number {
  const c = setting.confident;
  return epsilonOf(c === undefined ? ensembleCharge(DEMO.sigma, released) : confidentCharge(DEMO.sigma, c.sigma1, checks, released));
}

/** P(max count + N(0, σ₁²) ≥ T) for a top count of 1, 2, 3 votes. */
export function passProbabilities(setting: ConfidentSetting): number[] {
  const c = setting.confident;
  return [1, 2, 3].map((top) => (c === undefined ? 1 : 1 - normalCdf((c.threshold - top) / c.sigma1)));
}

/**
 * The expected tokens released and ε of one question whose every vote has the same top count:
 * each check passes with p, the answer ends at the first that fails (n releases, n + 1 checks)
 * or after maxTokens (no stop token in between: the worst case for plain GNMax).
 */
export function expectedAnswer(setting: ConfidentSetting, top: 1 | 2 | 3): { tokens: number; epsilon: number } {
  const p = passProbabilities(setting)[top - 1]!;
  const max = DEMO.maxTokens;
  let tokens = 0, epsilon = 0;
  for (let n = 0; n < max; n++) {
    const stopHere = p ** n * (1 - p);
    tokens += stopHere * n;
    epsilon += stopHere * answerEpsilon(setting, n + 1, n);
  }
  tokens += p ** max * max;
  epsilon += p ** max * answerEpsilon(setting, max, max);
  return { tokens, epsilon };
}

/** A fixed-width text table; the first `textColumns` columns are left-aligned, the numbers right-aligned. */
function table(header: readonly string[], rows: readonly (readonly string[])[], textColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (row: readonly string[]) => row.map((cell, i) => (i < textColumns ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const f3 = (x: number): string => x.toFixed(3);

/** The two tables, as the README quotes them. */
export function confidentTables(settings: readonly ConfidentSetting[] = DEMO_SETTINGS): string {
  const tokens = Array.from({ length: DEMO.maxTokens + 1 }, (_, n) => n);
  const sameUtility = settings.flatMap((s) => {
    if (s.confident === undefined) return [[s.label, "stop or length", ...tokens.map((n) => (n === 0 ? "–" : f3(answerEpsilon(s, n, n))))]];
    return [
      [s.label, "stop or length", ...tokens.map((n) => (n === 0 ? "–" : f3(answerEpsilon(s, n, n))))],
      ["", "abstaining", ...tokens.map((n) => (n === DEMO.maxTokens ? "–" : f3(answerEpsilon(s, n + 1, n))))],
    ];
  });
  const perQuestion = settings.map((s) => {
    const [p1, p2, p3] = passProbabilities(s).map((p) => (s.confident === undefined ? "–" : p.toFixed(2)));
    const split = expectedAnswer(s, 1), unanimous = expectedAnswer(s, 3);
    return [s.label, p1!, p2!, p3!, split.tokens.toFixed(2), f3(split.epsilon), unanimous.tokens.toFixed(2), f3(unanimous.epsilon)];
  });
  return [
    `ε of an answer by the tokens it released (${DEMO.hospitals} hospitals, σ₂ ${DEMO.sigma}, δ ${DEMO.delta.toExponential()}, max_tokens ${DEMO.maxTokens})`,
    table(["setting", "ended by", ...tokens.map(String)], sameUtility, 2),
    "",
    "one question, every vote split (top count 1) or unanimous (top count 3): expected tokens and ε",
    table(["setting", "P pass, top 1", "top 2", "top 3", "split: tokens", "ε", "unanimous: tokens", "ε"], perQuestion),
  ].join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) process.stdout.write(`${confidentTables()}\n`);

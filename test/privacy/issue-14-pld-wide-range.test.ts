/**
 * Issue 14: a composition whose privacy loss spans more than the PLD accountant's FFT window
 * (MAX_SELF_COMPOSE_POINTS at the configured grid) was answered ε = ∞ — sound, but useless, and
 * above RDP's figure. It must be a finite, sound figure: never above RDP's, never below the truth.
 * The truth is bracketed independently: the analytic Gaussian (Balle & Wang 2018) where it is
 * exact, and below by an optimistic discretisation written here from the densities.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { dpSgd, gaussian, poissonSampled } from "../../privacy/events.ts";
import { PldAccountant } from "../../privacy/pld.ts";
import { RdpAccountant } from "../../privacy/rdp.ts";
import { convolve } from "../../privacy/fft.ts";
import { exactGaussianEpsilon, phi } from "./independent-normal.ts";

const DELTA = 1e-5;

function accountants(q: number, sigma: number, steps: number, options = {}) {
  const pld = new PldAccountant(options);
  pld.compose(dpSgd(q, sigma, steps));
  const rdp = new RdpAccountant();
  rdp.compose(dpSgd(q, sigma, steps));
  return { pld, rdp };
}

// ---------------------------------------------------------------- an independent lower bound

/** Losses on the grid h·ℤ: probs[i] at (lower + i)·h. */
interface GridPmf {
  readonly lower: number;
  readonly probs: Float64Array;
}

/**
 * One REMOVE step of the Poisson-subsampled Gaussian (Δ = 1), x ~ P = (1−q)N(0, σ²) + qN(−1, σ²),
 * loss L(x) = ln(1 − q + q·e^{−(2x+1)/(2σ²)}), decreasing in x. Each small x-interval's P-mass
 * goes to its smallest loss rounded DOWN to the grid, and mass beyond ±14σ is dropped: every loss
 * is lowered, so δ(ε) = E[(1 − e^{ε−L})⁺] of this PMF, and of its compositions, is below the truth.
 */
function optimisticRemoveStep(q: number, sigma: number, h: number): GridPmf {
  const loss = (x: number): number => Math.log(1 - q + q * Math.exp(-(2 * x + 1) / (2 * sigma * sigma)));
  const cdf = (x: number): number => (1 - q) * phi(x / sigma) + q * phi((x + 1) / sigma);
  const from = -1 - 14 * sigma, to = 14 * sigma, dx = sigma / 4000;
  const masses = new Map<number, number>();
  let before = cdf(from);
  for (let x = from; x < to; x += dx) {
    const after = cdf(x + dx);
    const j = Math.floor(loss(x + dx) / h);
    masses.set(j, (masses.get(j) ?? 0) + Math.max(0, after - before));
    before = after;
  }
  const lower = Math.min(...masses.keys());
  const probs = new Float64Array(Math.max(...masses.keys()) - lower + 1);
  for (const [j, m] of masses) probs[j - lower] = m;
  return { lower, probs };
}

/** a ∘ b, dropping what is below the FFT's round-off and 1e-12 of tail mass: dropping mass only lowers δ. */
function composeOptimistic(a: GridPmf, b: GridPmf): GridPmf {
  const c = convolve(a.probs, b.probs);
  const floor = 1e-14 * c.reduce((m, v) => Math.max(m, v), 0);
  for (let i = 0; i < c.length; i++) if (c[i]! < floor) c[i] = 0;
  let low = 0, high = c.length, cut = 0;
  while (cut + c[low]! < 5e-13) cut += c[low++]!;
  cut = 0;
  while (cut + c[high - 1]! < 5e-13) cut += c[--high]!;
  return { lower: a.lower + b.lower + low, probs: c.slice(low, high) };
}

function selfComposeOptimistic(step: GridPmf, count: number): GridPmf {
  let result: GridPmf | null = null;
  let power = step;
  for (let n = count; n > 0; n >>= 1) {
    if (n & 1) result = result === null ? power : composeOptimistic(result, power);
    if (n > 1) power = composeOptimistic(power, power);
  }
  return result!;
}

/** The largest ε with δ(ε) > delta: a lower bound on the true ε when the PMF is optimistic. */
function epsilonBelow(pmf: GridPmf, h: number, delta: number): number {
  const deltaAt = (epsilon: number): number => {
    let sum = 0;
    pmf.probs.forEach((p, i) => { const l = (pmf.lower + i) * h; if (l > epsilon) sum += p * -Math.expm1(epsilon - l); });
    return sum;
  };
  let low = 0, high = 1;
  while (deltaAt(high) > delta) high *= 2;
  for (let i = 0; i < 100; i++) { const mid = (low + high) / 2; if (deltaAt(mid) > delta) low = mid; else high = mid; }
  return low;
}

// ---------------------------------------------------------------- the two cases

test("q = 1, σ = 0.8, 100 steps is one Gaussian of σ 0.08: ε is Balle–Wang's 130.58, not ∞", () => {
  const { pld, rdp } = accountants(1, 0.8, 100);
  const exact = exactGaussianEpsilon(DELTA, 0.8 / 10);
  assert.ok(Math.abs(exact - 130.577) < 1e-3, `the independent analytic figure: ${exact}`);
  const epsilon = pld.epsilon(DELTA);
  assert.ok(epsilon >= exact - 1e-9 && epsilon - exact < 1e-6, `PLD ε ${epsilon} vs exact ${exact}`);
  assert.ok(epsilon < rdp.epsilon(DELTA), `below RDP's ${rdp.epsilon(DELTA)}`);
});

test("q = 0.1, σ = 0.5, 1000 steps: ε ≈ 126.17 on a coarsened grid, between an independent lower bound and RDP's 136.05", () => {
  const { pld, rdp } = accountants(0.1, 0.5, 1000, { capByRdp: false });
  const epsilon = pld.epsilon(DELTA);
  assert.equal(pld.interval, 2e-4, "the grid was coarsened once, by 2 (README, \"The privacy mathematics\")");
  const h = 1e-3;
  const lower = epsilonBelow(selfComposeOptimistic(optimisticRemoveStep(0.1, 0.5, h), 1000), h, DELTA);
  assert.ok(lower <= epsilon && epsilon <= rdp.epsilon(DELTA), `lower ${lower} ≤ PLD ${epsilon} ≤ RDP ${rdp.epsilon(DELTA)}`);
  // The lower bound rounds 1000 losses down by up to h each (≈ h/2 on average): 0.5 nats of slack.
  assert.ok(epsilon - lower < 1, `PLD ${epsilon} within a nat of the lower bound ${lower}`);
  assert.ok(Math.abs(epsilon - 126.17) < 0.05, `the issue's ≈ 126.2: ${epsilon}`);
});

test("the default accountant answers min(PLD, RDP), and a mixed composition coarsens too", () => {
  const capped = accountants(0.1, 0.5, 1000).pld;
  const raw = accountants(0.1, 0.5, 1000, { capByRdp: false });
  assert.equal(capped.epsilon(DELTA), Math.min(raw.pld.epsilon(DELTA), raw.rdp.epsilon(DELTA)));
  const mixed = new PldAccountant();
  mixed.compose(dpSgd(0.1, 0.5, 1000));
  mixed.compose(gaussian(0.8), 100);
  const plain = accountants(0.1, 0.5, 1000).pld.epsilon(DELTA);
  assert.ok(Number.isFinite(mixed.epsilon(DELTA)) && mixed.epsilon(DELTA) > plain, `${mixed.epsilon(DELTA)} > ${plain}`);
});

// ---------------------------------------------------------------- properties

test("PLD ε is finite, at most RDP ε, and grows with the steps, across grid coarsenings (property)", () => {
  let coarsened = 0;
  fc.assert(
    fc.property(
      fc.double({ min: 0.01, max: 1, noNaN: true }), fc.double({ min: 0.5, max: 3, noNaN: true }),
      fc.integer({ min: 1, max: 1500 }), fc.integer({ min: 1, max: 1500 }),
      (q, sigma, steps, more) => {
        // A small window (2¹⁴ points: 16 nats at this grid) makes most of these coarsen, cheaply.
        const options = { valueDiscretizationInterval: 1e-3, capByRdp: false, maxGridPoints: 2 ** 14 };
        const before = accountants(q, sigma, steps, options);
        const after = accountants(q, sigma, steps + more, options).pld;
        const epsilon = before.pld.epsilon(DELTA);
        const rdp = before.rdp.epsilon(DELTA);
        assert.ok(Number.isFinite(epsilon), `q ${q} σ ${sigma} ×${steps}: ${epsilon}`);
        // Slack for the coarse grid (relative where ε is large); RDP is looser than that by far.
        assert.ok(epsilon <= rdp + 1e-3 * Math.max(1, rdp), `q ${q} σ ${sigma} ×${steps}: PLD ${epsilon} > RDP ${rdp}`);
        assert.ok(after.epsilon(DELTA) >= epsilon - 1e-9, `×${steps + more}: ${after.epsilon(DELTA)} < ×${steps}: ${epsilon}`);
        if (after.interval > 1e-3) coarsened++;
      },
    ),
    { numRuns: 20, seed: 14 },
  );
  assert.ok(coarsened >= 5, `the property reached coarsened grids (${coarsened} of 20 runs)`);
});

test("a hostile composition is answered in bounded time: RDP's figure where no grid fits", () => {
  const event = poissonSampled(0.5, gaussian(1));
  const pld = new PldAccountant();
  pld.compose(event, 2 ** 50);
  const rdp = new RdpAccountant();
  rdp.compose(event, 2 ** 50);
  assert.equal(pld.epsilon(DELTA), rdp.epsilon(DELTA));
  assert.equal(new PldAccountant({ capByRdp: false }).epsilon(DELTA), 0, "nothing composed costs nothing");
});

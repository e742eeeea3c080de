import { test } from "node:test";
import assert from "node:assert/strict";
import { Packr } from "msgpackr";
import { applyServerStep, initialOptimizerState, DEFAULT_SERVER_OPTIMIZER, type ServerOptimizer } from "../../federated/server-optimizer.ts";
import { InvalidModelUpdate, InvalidTrainingParameter } from "../../federated/errors.ts";
import { seededRandomWords } from "../../federated/random-words.ts";

/** Reddi et al. 2021, Algorithm 2, one coordinate, written out independently in float64. */
function referenceStep(kind: "fedadam" | "fedyogi", s: { w: number; m: number; v: number }, g: number, eta: number, b1: number, b2: number, tau: number) {
  const m = b1 * s.m + (1 - b1) * g;
  const v = kind === "fedadam" ? b2 * s.v + (1 - b2) * g * g : s.v - (1 - b2) * g * g * Math.sign(s.v - g * g);
  return { w: s.w + (eta * m) / (Math.sqrt(v) + tau), m, v };
}

function randomVector(seed: string, d: number, scale: number): Float32Array {
  const words = seededRandomWords(seed);
  return Float32Array.from({ length: d }, () => (words.nextWord() / 2 ** 32 - 0.5) * 2 * scale);
}

test("FedAvg at η = 1 without momentum adds the mean update: w + Δ", () => {
  const opt: ServerOptimizer = { kind: "fedavg", learningRate: 1 };
  const weights = randomVector("w", 64, 1);
  const update = randomVector("u", 64, 0.1);
  const expected = weights.map((w, i) => Math.fround(w + update[i]!));
  const state = initialOptimizerState(opt, 64);
  applyServerStep(opt, state, weights, update);
  assert.deepEqual(weights, expected);
  assert.equal(state.step, 1);
  assert.equal(state.m.length, 0, "no momentum buffer without momentum");
});

test("FedAvg with server momentum β follows m ← βm + Δ, w ← w + ηm over three rounds", () => {
  const opt: ServerOptimizer = { kind: "fedavg", learningRate: 0.5, momentum: 0.9 };
  const d = 16;
  const weights = randomVector("w2", d, 1);
  const ref = Array.from(weights, (w) => ({ w, m: 0 }));
  const state = initialOptimizerState(opt, d);
  for (let round = 0; round < 3; round++) {
    const update = randomVector(`u2-${round}`, d, 0.1);
    applyServerStep(opt, state, weights, update);
    ref.forEach((r, i) => { r.m = 0.9 * r.m + update[i]!; r.w += 0.5 * r.m; });
  }
  ref.forEach((r, i) => assert.ok(Math.abs(weights[i]! - r.w) < 1e-5, `coordinate ${i}: ${weights[i]} vs ${r.w}`));
});

for (const kind of ["fedadam", "fedyogi"] as const) {
  test(`${kind} matches Reddi et al.'s Algorithm 2 written out per coordinate, over five rounds`, () => {
    const opt: ServerOptimizer = { kind, learningRate: 0.01 };
    const { beta1, beta2, tau } = DEFAULT_SERVER_OPTIMIZER;
    const d = 32;
    const weights = randomVector(`w-${kind}`, d, 1);
    const ref = Array.from(weights, (w) => ({ w, m: 0, v: tau * tau }));
    const state = initialOptimizerState(opt, d);
    assert.ok(state.v.every((v) => v === Math.fround(tau * tau)), "v starts at τ²");
    for (let round = 0; round < 5; round++) {
      const update = randomVector(`u-${kind}-${round}`, d, round % 2 === 0 ? 0.05 : 0.0005);
      applyServerStep(opt, state, weights, update);
      ref.forEach((r, i) => Object.assign(r, referenceStep(kind, r, update[i]!, 0.01, beta1, beta2, tau)));
    }
    ref.forEach((r, i) => {
      assert.ok(Math.abs(weights[i]! - r.w) <= 1e-5 * Math.max(1, Math.abs(r.w)), `w[${i}]: ${weights[i]} vs ${r.w}`);
      assert.ok(Math.abs(state.v[i]! - r.v) <= 1e-6 * Math.max(1e-6, r.v) + 1e-12, `v[${i}]: ${state.v[i]} vs ${r.v}`);
    });
    assert.equal(state.step, 5);
  });
}

test("FedAdam's and FedYogi's second moments part when the update shrinks: Yogi's v falls additively, Adam's geometrically", () => {
  const d = 1;
  const adam = initialOptimizerState({ kind: "fedadam", learningRate: 0.1 }, d);
  const yogi = initialOptimizerState({ kind: "fedyogi", learningRate: 0.1 }, d);
  const wa = new Float32Array(1), wy = new Float32Array(1);
  applyServerStep({ kind: "fedadam", learningRate: 0.1 }, adam, wa, new Float32Array([1]));
  applyServerStep({ kind: "fedyogi", learningRate: 0.1 }, yogi, wy, new Float32Array([1]));
  assert.ok(Math.abs(adam.v[0]! - yogi.v[0]!) < 1e-6, "from v = τ² < Δ², both add (1 − β₂)Δ²-ish");
  applyServerStep({ kind: "fedadam", learningRate: 0.1 }, adam, wa, new Float32Array([0]));
  applyServerStep({ kind: "fedyogi", learningRate: 0.1 }, yogi, wy, new Float32Array([0]));
  assert.ok(Math.abs(adam.v[0]! - 0.99 * 0.010001) < 1e-6);
  assert.ok(Math.abs(yogi.v[0]! - 0.010001) < 1e-6, "Yogi: Δ² = 0 leaves v unchanged");
});

// The node store's msgpackr options (runtime/persistence/node-store.ts): typed arrays as themselves.
const packr = new Packr({ moreTypes: true } as ConstructorParameters<typeof Packr>[0]);
const pack = (value: unknown) => packr.pack(value);
const unpack = (bytes: Uint8Array) => packr.unpack(bytes);

test("the state is plain data: a msgpack round trip resumes bit for bit", () => {
  const opt: ServerOptimizer = { kind: "fedyogi", learningRate: 0.02 };
  const d = 50;
  const a = randomVector("wa", d, 1);
  const stateA = initialOptimizerState(opt, d);
  applyServerStep(opt, stateA, a, randomVector("r1", d, 0.1));
  const b = unpack(pack(a)) as Float32Array;
  const stateB = unpack(pack(stateA)) as typeof stateA;
  assert.ok(stateB.m instanceof Float32Array && stateB.v instanceof Float32Array);
  const next = randomVector("r2", d, 0.1);
  applyServerStep(opt, stateA, a, next);
  applyServerStep(opt, stateB, b, next);
  assert.deepEqual(b, a);
  assert.deepEqual(stateB, stateA);
});

test("bad hyper-parameters, a state of another kind, or a mismatched update are typed errors", () => {
  assert.throws(() => initialOptimizerState({ kind: "fedavg", learningRate: 0 }, 3), (e: unknown) => e instanceof InvalidTrainingParameter && e.field === "learningRate");
  assert.throws(() => initialOptimizerState({ kind: "fedadam", learningRate: 1, beta1: 1 }, 3), (e: unknown) => e instanceof InvalidTrainingParameter && e.field === "beta1");
  assert.throws(() => initialOptimizerState({ kind: "fedyogi", learningRate: 1, tau: 0 }, 3), (e: unknown) => e instanceof InvalidTrainingParameter && e.field === "tau");
  assert.throws(() => initialOptimizerState({ kind: "sgd", learningRate: 1 } as unknown as ServerOptimizer, 3), InvalidTrainingParameter);
  const state = initialOptimizerState({ kind: "fedadam", learningRate: 1 }, 3);
  assert.throws(() => applyServerStep({ kind: "fedyogi", learningRate: 1 }, state, new Float32Array(3), new Float32Array(3)), (e: unknown) => e instanceof InvalidTrainingParameter && e.field === "state.kind");
  assert.throws(() => applyServerStep({ kind: "fedadam", learningRate: 1 }, state, new Float32Array(3), new Float32Array(4)), InvalidModelUpdate);
  assert.throws(() => applyServerStep({ kind: "fedadam", learningRate: 1 }, state, new Float32Array(3), new Float32Array([0, Number.NaN, 0])), InvalidModelUpdate);
});

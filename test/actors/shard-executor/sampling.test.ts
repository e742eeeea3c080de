import { test } from "node:test";
import assert from "node:assert/strict";
import { createSampler, InvalidSamplingOption } from "../../../actors/shard-executor/sampling.ts";

const probs = [0.5, 0.3, 0.15, 0.05];
const logits = Float32Array.from(probs, (p) => Math.log(p) + 3); // a shift changes nothing

function frequencies(next: (l: Float32Array) => number, draws = 20_000): number[] {
  const counts = new Array<number>(probs.length).fill(0);
  for (let i = 0; i < draws; i++) counts[next(logits)]!++;
  return counts.map((c) => c / draws);
}

/** χ² statistic of observed frequencies against expected probabilities over `draws` samples. */
function chiSquared(observed: number[], expected: number[], draws = 20_000): number {
  return observed.reduce((s, o, i) => (expected[i]! === 0 ? s : s + (draws * (o - expected[i]!)) ** 2 / (draws * expected[i]!)), 0);
}

test("greedy (temperature 0, or top-k 1) is the argmax", () => {
  assert.equal(createSampler({ temperature: 0 })(logits), 0);
  assert.equal(createSampler({ topK: 1, seed: 1 })(Float32Array.from([0.1, 2, -1])), 1);
});

test("temperature 1 samples the softmax: frequencies pass χ² (3 d.o.f., p = 0.001 critical value 16.27)", () => {
  const observed = frequencies(createSampler({ seed: 12345 }));
  assert.ok(chiSquared(observed, probs) < 16.27, JSON.stringify(observed));
});

test("top-k 2 and top-p 0.7 never draw an excluded token and renormalise the rest", () => {
  const k = frequencies(createSampler({ topK: 2, seed: 7 }));
  assert.deepEqual(k.slice(2), [0, 0]);
  assert.ok(chiSquared(k, [0.5 / 0.8, 0.3 / 0.8, 0, 0]) < 10.83, JSON.stringify(k)); // 1 d.o.f.
  // top-p 0.7: 0.5 < 0.7, 0.5 + 0.3 ≥ 0.7 → {0, 1}
  const p = frequencies(createSampler({ topP: 0.7, seed: 8 }));
  assert.deepEqual(p.slice(2), [0, 0]);
  assert.ok(chiSquared(p, [0.5 / 0.8, 0.3 / 0.8, 0, 0]) < 10.83, JSON.stringify(p));
  const tiny = frequencies(createSampler({ topP: 0.4, seed: 9 }), 2_000);
  assert.equal(tiny[0], 1, "a nucleus below the top probability keeps the top token only");
});

test("a low temperature sharpens, a high one flattens; the same seed repeats the same draws", () => {
  assert.ok(frequencies(createSampler({ temperature: 0.3, seed: 3 }))[0]! > 0.8);
  assert.ok(frequencies(createSampler({ temperature: 5, seed: 3 }))[3]! > 0.15);
  const a = createSampler({ seed: 99, topP: 0.9 }), b = createSampler({ seed: 99, topP: 0.9 });
  const draws = (f: (l: Float32Array) => number) => Array.from({ length: 50 }, () => f(logits));
  assert.deepEqual(draws(a), draws(b));
});

test("bad options are InvalidSamplingOption naming the option", () => {
  for (const [options, field] of [[{ temperature: -1 }, "temperature"], [{ temperature: Number.NaN }, "temperature"], [{ topK: 1.5 }, "topK"], [{ topP: 0 }, "topP"], [{ topP: 1.2 }, "topP"], [{ seed: 0.5 }, "seed"]] as const) {
    assert.throws(() => createSampler(options), (e: unknown) => e instanceof InvalidSamplingOption && e.field === field, field);
  }
  assert.throws(() => createSampler()(new Float32Array(0)), /no logits/);
});

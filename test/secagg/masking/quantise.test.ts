import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  InvalidMaskingParameter, InvalidUpdate, OverflowRisk, NORM_TOLERANCE, dequantise, maxQuantised, quantisationErrorBound, quantiseInto, requireNoWrap, resolveMaskingParams,
  safeFractionalBits, worstCaseSum,
} from "../../../secagg/index.ts";

const MAX_SIGNED = 2 ** 31 - 1;

test("safeFractionalBits is the largest f whose worst case n · round(C · 2^f) fits in 2^31 − 1 (doc example: n = 10, C = 1 → 27)", () => {
  assert.equal(safeFractionalBits(10, 1), 27);
  assert.equal(resolveMaskingParams({ roundId: "r-1", maxClients: 10, threshold: 6, dimension: 1000, clipNorm: 1 }).fractionalBits, 27);
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 255 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (n, clipNorm) => {
      const f = safeFractionalBits(n, clipNorm);
      assert.ok(n * maxQuantised(clipNorm, f) <= MAX_SIGNED);
      if (f < 31) assert.ok(n * maxQuantised(clipNorm, f + 1) > MAX_SIGNED, `f + 1 = ${f + 1} would still fit`);
    }),
    { numRuns: 200 },
  );
});

test("the overflow check refuses every f that could wrap, and parameters that wrap at any f, with SECAGG_OVERFLOW_RISK", () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 255 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), fc.integer({ min: 1, max: 8 }), (n, clipNorm, extra) => {
      const f = safeFractionalBits(n, clipNorm);
      if (f + extra > 31) return;
      assert.throws(() => requireNoWrap(n, clipNorm, f + extra), (e: unknown) => e instanceof OverflowRisk && e.code === "SECAGG_OVERFLOW_RISK" && e.worstCaseSum > MAX_SIGNED);
      assert.throws(() => resolveMaskingParams({ roundId: "r", maxClients: n, threshold: n, dimension: 1, clipNorm, fractionalBits: f + extra }), OverflowRisk);
      requireNoWrap(n, clipNorm, f);
    }),
    { numRuns: 100 },
  );
  assert.throws(() => safeFractionalBits(100, 2 ** 25), OverflowRisk, "100 × 2^25 > 2^31 even at f = 0");
  assert.throws(() => resolveMaskingParams({ roundId: "r", maxClients: 100, threshold: 51, dimension: 1, clipNorm: 2 ** 25 }), OverflowRisk);
});

test("at the largest safe f, n clients all at +C (or −C) in one coordinate sum without wrapping", () => {
  for (const [n, clipNorm] of [[2, 1], [10, 1], [20, 3.5], [255, 0.01], [7, 1000]] as const) {
    const f = safeFractionalBits(n, clipNorm);
    for (const sign of [1, -1]) {
      const x = new Float32Array([sign * Math.fround(clipNorm)]);
      const q = new Uint32Array(1);
      const sum = new Uint32Array(1);
      for (let i = 0; i < n; i++) {
        quantiseInto(x, q, clipNorm, f, "c");
        sum[0] = sum[0]! + q[0]!;
      }
      const decoded = dequantise(sum, f)[0]!;
      assert.ok(Math.abs(decoded - n * x[0]!) <= quantisationErrorBound(n, f), `n ${n}, C ${clipNorm}, sign ${sign}: ${decoded}`);
      assert.equal(Math.sign(decoded), sign);
    }
  }
});

test("quantise then dequantise moves each coordinate by at most 2^−(f+1)", () => {
  fc.assert(
    fc.property(fc.float32Array({ minLength: 1, maxLength: 200, noDefaultInfinity: true, noNaN: true }), fc.integer({ min: 0, max: 24 }), (raw, f) => {
      let norm = 0;
      for (const v of raw) norm += v * v;
      const clipNorm = Math.max(Math.sqrt(norm), 1e-30) * 1.000_001;
      if (!Number.isFinite(clipNorm) || worstCaseSum(1, clipNorm, f) > MAX_SIGNED) return;
      const q = new Uint32Array(raw.length);
      quantiseInto(raw, q, clipNorm, f, "c");
      const back = dequantise(q, f);
      for (let i = 0; i < raw.length; i++) assert.ok(Math.abs(back[i]! - raw[i]!) <= 2 ** -(f + 1), `${raw[i]} → ${back[i]}`);
    }),
    { numRuns: 100 },
  );
});

test("the quantiser rounds exactly as Math.round(x · 2^f) does, ties toward +∞, on every float32 tried (it computes floor(x · 2^f + 0.5))", () => {
  const check = (x: number, f: number): void => {
    const clipNorm = Math.max(Math.abs(x), 2 ** -40);
    if (worstCaseSum(1, clipNorm, f) > MAX_SIGNED) return;
    const q = new Uint32Array(1);
    quantiseInto(new Float32Array([x]), q, clipNorm, f, "c");
    assert.equal(q[0]! | 0, Math.round(x * 2 ** f) | 0, `x = ${x}, f = ${f}`);
  };
  // Ties and their float32 neighbours, at both signs and across scales: where floor(y + 0.5) would
  // go wrong if the float64 sum were ever inexact.
  for (let f = 0; f <= 31; f++) {
    for (const k of [0, 1, 2, 3, 7, 1000, 2 ** 20 + 1, 2 ** 22 - 1]) {
      const tie = Math.fround((k + 0.5) * 2 ** -f);
      for (const x of [tie, -tie]) {
        const below = new Float32Array([x]);
        const bits = new Uint32Array(below.buffer);
        for (const step of [-2, -1, 0, 1, 2]) {
          const v = new Float32Array(1);
          new Uint32Array(v.buffer)[0] = (bits[0]! + step) >>> 0;
          if (Number.isFinite(v[0]!)) check(v[0]!, f);
        }
      }
    }
    for (const tiny of [2 ** -149, 2 ** -126, 2 ** -60, 2 ** -31, 0.49999997, 0.5, 0.50000006]) {
      check(Math.fround(tiny), f);
      check(Math.fround(-tiny), f);
    }
  }
  fc.assert(
    fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: 0, max: 31 }), (x, f) => check(x, f)),
    { numRuns: 2000 },
  );
});

test("the quantiser refuses an update it cannot bound: NaN, ±∞, a norm above C, the wrong length or type", () => {
  const f = safeFractionalBits(10, 1);
  const q = new Uint32Array(3);
  const cases: [string, Float32Array | number[]][] = [
    ["not a finite number", new Float32Array([0, NaN, 0])],
    ["Infinity", new Float32Array([0, Infinity, 0])],
    ["exceeds the clip norm", new Float32Array([0.8, 0.8, 0])],
    ["coordinates", new Float32Array(2)],
    ["Float32Array", [0, 0, 0]],
  ];
  for (const [reason, update] of cases) {
    assert.throws(() => quantiseInto(update as Float32Array, q, 1, f, "h-3"), (e: unknown) => e instanceof InvalidUpdate && e.clientId === "h-3" && e.message.includes(reason), reason);
  }
  // Float32 round-off just above C passes (the tolerance), and still cannot break the bound.
  quantiseInto(new Float32Array([1 + NORM_TOLERANCE / 2, 0, 0]), q, 1, f, "h-3");
});

test("parameters: t must be a majority of n by default (floor 2 otherwise), k even with a majority neighbour threshold, ids and sizes in range", () => {
  const base = { roundId: "p", maxClients: 10, threshold: 6, dimension: 10, clipNorm: 1 };
  const bad: [string, object][] = [
    ["threshold", { threshold: 5 }],
    ["threshold", { threshold: 1, requireMajority: false }],
    ["threshold", { threshold: 11 }],
    ["maxClients", { maxClients: 256, threshold: 200 }],
    ["dimension", { dimension: 0 }],
    ["clipNorm", { clipNorm: -1 }],
    ["clipNorm", { clipNorm: NaN }],
    ["roundId", { roundId: "" }],
    ["roundId", { roundId: "a b" }],
    ["neighbours", { neighbours: 3 }],
    ["neighbourThreshold", { neighbours: 4, neighbourThreshold: 2 }],
    ["neighbourThreshold", { neighbourThreshold: 3 }],
    ["fractionalBits", { fractionalBits: 1.5 }],
  ];
  for (const [field, change] of bad) {
    assert.throws(() => resolveMaskingParams({ ...base, ...change }), (e: unknown) => e instanceof InvalidMaskingParameter && e.field === field, `${field} ${JSON.stringify(change)}`);
  }
  assert.equal(resolveMaskingParams({ ...base, threshold: 2, requireMajority: false }).shareThreshold, 2);
  const plus = resolveMaskingParams({ ...base, maxClients: 1000, threshold: 2, neighbours: 8 });
  assert.equal(plus.shareThreshold, 5, "⌊9/2⌋ + 1");
  assert.equal(resolveMaskingParams({ ...base, neighbours: 4, neighbourThreshold: 2, requireMajority: false }).shareThreshold, 2);
});

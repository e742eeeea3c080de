import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { addInto, checkUpdate, clip, l2Norm } from "../../federated/clip.ts";
import { InvalidModelUpdate, InvalidTrainingParameter } from "../../federated/errors.ts";

test("an update above the bound is scaled to norm C, in the same direction, and the input is untouched", () => {
  const update = new Float32Array([3, 4]);
  const { clipped, norm, factor } = clip(update, 1);
  assert.equal(norm, 5);
  assert.ok(Math.abs(factor - 0.2) < 1e-6);
  assert.ok(Math.abs(clipped[0]! - 0.6) < 1e-6 && Math.abs(clipped[1]! - 0.8) < 1e-6);
  assert.ok(l2Norm(clipped) <= 1);
  assert.deepEqual([...update], [3, 4]);
});

test("an update within the bound comes back equal, factor 1, as a copy", () => {
  const update = new Float32Array([0.1, -0.2, 0.3]);
  const { clipped, factor } = clip(update, 1);
  assert.equal(factor, 1);
  assert.deepEqual([...clipped], [...update]);
  assert.notEqual(clipped, update);
});

test("property: the clipped update's float32 norm never exceeds C and it is factor × update", () => {
  fc.assert(fc.property(
    fc.float32Array({ minLength: 1, maxLength: 200, noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
    fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
    (values, c) => {
      const { clipped, norm, factor } = clip(values, c);
      assert.ok(l2Norm(clipped) <= c, `‖clipped‖ ${l2Norm(clipped)} > C ${c}`);
      assert.ok(factor <= 1 && factor > 0);
      if (norm <= c) assert.equal(factor, 1);
      else assert.ok(factor <= c / norm && factor >= (c / norm) * (1 - 1e-4));
      values.forEach((v, i) => assert.equal(clipped[i], Math.fround(v * factor)));
    },
  ), { numRuns: 200 });
});

test("a NaN or infinite coordinate, a wrong length, or a non-Float32Array is an InvalidModelUpdate naming the index, never the value", () => {
  assert.throws(() => checkUpdate(new Float32Array([1, Number.NaN, 2])), (e: unknown) => e instanceof InvalidModelUpdate && e.field === "update[1]" && e.code === "INVALID_MODEL_UPDATE");
  assert.throws(() => clip(new Float32Array([Number.POSITIVE_INFINITY]), 1), (e: unknown) => e instanceof InvalidModelUpdate && e.field === "update[0]");
  assert.throws(() => checkUpdate(new Float32Array(3), 4), (e: unknown) => e instanceof InvalidModelUpdate && /3 coordinates, the model has 4/.test(e.message));
  assert.throws(() => checkUpdate([1, 2] as unknown), InvalidModelUpdate);
  assert.throws(() => checkUpdate(new Float32Array(0)), InvalidModelUpdate);
  assert.throws(() => addInto(new Float64Array(2), new Float32Array(3)), InvalidModelUpdate);
});

test("a clip norm that is not a finite number > 0 is an InvalidTrainingParameter", () => {
  for (const c of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => clip(new Float32Array([1]), c), (e: unknown) => e instanceof InvalidTrainingParameter && e.field === "clipNorm" && e.code === "INVALID_TRAINING_PARAMETER");
  }
});

test("addInto accumulates in float64", () => {
  const sum = new Float64Array(2);
  addInto(sum, new Float32Array([1, 2]));
  addInto(sum, new Float32Array([0.5, -2]));
  assert.deepEqual([...sum], [1.5, 0]);
});

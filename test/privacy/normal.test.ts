import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { erf, erfc, erfcx, logErfc, logNormalCdf, normalCdf } from "../../privacy/normal.ts";

/** |actual − expected| ≤ rel·|expected|, with a readable failure. */
function assertClose(actual: number, expected: number, rel: number, what: string): void {
  const error = Math.abs(actual - expected) / Math.abs(expected);
  assert.ok(error <= rel, `${what}: got ${actual}, expected ${expected} (relative error ${error.toExponential(2)} > ${rel})`);
}

// Reference values: mpmath 1.3.0 at 40 significant digits (erfc, erf, ncdf, log), printed to 20.
const ERFC: ReadonlyArray<[number, number]> = [
  [-5, 1.9999999999984625402], [-1, 1.8427007929497148693], [-0.3, 1.3286267594591274276],
  [0.1, 0.8875370839817151078], [0.46875, 0.50738652678206200841], [0.5, 0.47950012218695346232],
  [1, 0.15729920705028513066], [2, 0.0046777349810472658379], [4, 1.5417257900280018852e-8],
  [4.1, 6.7000276540848983727e-9], [5, 1.5374597944280348502e-12], [10, 2.088487583762544757e-45],
  [26, 5.6631924088561428465e-296],
];

test("erfc matches mpmath to a few ulps on each of Cody's intervals and far into the tail", () => {
  for (const [x, expected] of ERFC) assertClose(erfc(x), expected, 4e-16 * Math.max(1, x * x), `erfc(${x})`);
});

test("erf matches mpmath and is odd", () => {
  assertClose(erf(0.5), 0.52049987781304653768, 3e-16, "erf(0.5)");
  assertClose(erf(1), 0.84270079294971486934, 3e-16, "erf(1)");
  assertClose(erf(-2), -0.99532226501895273416, 3e-16, "erf(-2)");
  fc.assert(fc.property(fc.double({ min: -30, max: 30, noNaN: true }), (x) => erf(-x) === -erf(x)));
});

test("erf + erfc = 1 and erfc(x) + erfc(−x) = 2 across the line", () => {
  fc.assert(
    fc.property(fc.double({ min: -8, max: 8, noNaN: true }), (x) => {
      assert.ok(Math.abs(erf(x) + erfc(x) - 1) <= 4e-16);
      assert.ok(Math.abs(erfc(x) + erfc(-x) - 2) <= 8e-16);
    }),
  );
});

test("erfcx is e^{x²}·erfc(x) where both are representable, and ~1/(x√π) far out", () => {
  assertClose(erfcx(-3), 16205.988853999586625, 1e-15, "erfcx(-3)");
  assertClose(erfcx(1e4), 0.000056418958072680841152, 1e-15, "erfcx(1e4)");
  for (const x of [0.2, 0.7, 3, 9]) assertClose(erfcx(x), Math.exp(x * x) * erfc(x), 2e-15 * Math.max(1, x * x), `erfcx(${x})`);
});

test("logErfc stays finite and exact where erfc underflows", () => {
  const cases: ReadonlyArray<[number, number]> = [
    [0.2, -0.25193223378261666096], [1, -1.8496055099332482486], [10, -102.87988902484488857],
    [30, -903.97411711064387808], [1000, -1000007.4801207219062], [1e6, -1000000000014.3878755],
  ];
  for (const [x, expected] of cases) assertClose(logErfc(x), expected, 1e-15, `logErfc(${x})`);
  assert.equal(logErfc(Infinity), -Infinity);
  assertClose(logErfc(-3), Math.log(2 - erfc(3)), 1e-15, "logErfc(-3)");
});

test("Φ keeps full relative accuracy in the lower tail", () => {
  const cases: ReadonlyArray<[number, number]> = [
    [-1, 0.15865525393145705141], [-0.3, 0.38208857781104736269], [-5, 2.8665157187919391167e-7],
    [-10, 7.619853024160526066e-24], [-37, 5.7255712225245768227e-300], [2, 0.9772498680518207928],
    [8, 0.9999999999999993779],
  ];
  for (const [x, expected] of cases) assertClose(normalCdf(x), expected, 3e-15, `Φ(${x})`);
  assert.equal(normalCdf(-Infinity), 0);
  assert.equal(normalCdf(Infinity), 1);
});

test("log Φ is exact far past where Φ underflows, and ≈ −Φ(−x) in the upper tail", () => {
  const cases: ReadonlyArray<[number, number]> = [
    [-40, -804.6084420137537881666], [-100, -5005.524208694205088626], [-1e3, -500007.8266948121843098],
    [-1e5, -5000000012.431863998275], [-1.5, -2.705944400823889806957], [0.5, -0.3689464152886563930656],
    [10, -7.619853024160526070429e-24],
  ];
  for (const [x, expected] of cases) assertClose(logNormalCdf(x), expected, 1e-15, `log Φ(${x})`);
  assert.equal(logNormalCdf(-Infinity), -Infinity);
});

test("Φ is monotone and log Φ agrees with log(Φ) wherever Φ is a normal double", () => {
  fc.assert(
    fc.property(fc.double({ min: -37, max: 8, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (x, step) => {
      assert.ok(normalCdf(x) <= normalCdf(x + step));
      const direct = Math.log(normalCdf(x));
      assert.ok(Math.abs(logNormalCdf(x) - direct) <= 1e-13 * Math.max(1, Math.abs(direct)));
    }),
  );
});

test("the doc examples hold", () => {
  assertClose(erf(0.5), 0.5204998778130465, 1e-16, "erf(0.5)");
  assertClose(erfc(5), 1.5374597944280349e-12, 1e-15, "erfc(5)");
  assertClose(erfcx(1e4), 5.6418958e-5, 1e-8, "erfcx(1e4)");
  assertClose(logErfc(30), -903.9741171106439, 1e-15, "logErfc(30)");
  assertClose(normalCdf(-10), 7.619853024160527e-24, 1e-15, "Φ(-10)");
  assertClose(logNormalCdf(-40), -804.6084420137538, 1e-15, "log Φ(-40)");
});

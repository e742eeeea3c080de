/**
 * Seeded pseudo-random numbers for the model's own needs: reproducible initialisation and
 * reproducible sampling of the next token. Never for privacy noise — that comes from `crypto` in
 * the Accountant's samplers. Written by hand because Math.random and crypto take no seed; the
 * generator is mulberry32 (32-bit state, passes PractRand to 2³² outputs), plenty for these uses.
 */

/** mulberry32: uniform 32-bit unsigned integers from `seed`. */
export function seededUint32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform in (0, 1), never 0 or 1 (safe under log). */
export function seededUniform(seed: number): () => number {
  const next = seededUint32(seed);
  return () => (next() + 0.5) / 4294967296;
}

/** N(0, 1) by Box–Muller over seededUniform. */
export function seededNormal(seed: number): () => number {
  const uniform = seededUniform(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) { const s = spare; spare = undefined; return s; }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}

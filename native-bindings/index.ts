/**
 * Loaders with capability detection: the only folder that imports tfjs and node-seal. This index
 * is the tensor backend resolver; node-seal (6.0.3: 7.x needs wasm-gc, which Node 20 lacks) is
 * loaded by seal.ts, imported on its own so that nothing pays for SEAL's wasm unless it uses CKKS.
 */
export * from "./tensor/index.ts";

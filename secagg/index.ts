/**
 * Secure aggregation: the coordinator learns the sum of the hospitals' clipped model updates,
 * never an individual update. Pure protocol libraries, no actors: pairwise masking (SecAgg and
 * SecAgg+) in masking/. Never imports the runtime or an actor.
 */
export * from "./masking/index.ts";
/** CKKS with threshold decryption over node-seal (ckks/), under its own namespace: its names do not clash with masking's. */
export * as ckks from "./ckks/index.ts";

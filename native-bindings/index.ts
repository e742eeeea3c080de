/**
 * Loaders with capability detection: the only folder that imports tfjs (and, with the secure
 * aggregation issue, node-seal). Today: the tensor backend resolver.
 */
export * from "./tensor/index.ts";

/**
 * The part of autocannon's programmatic API the http suite uses (the package ships no types).
 * Types only: it measures nothing.
 */
declare module "autocannon" {
  import type { EventEmitter } from "node:events";

  interface AutocannonOptions {
    url: string;
    connections?: number;
    /** Seconds; ignored when `amount` is set. */
    duration?: number;
    amount?: number;
    method?: "GET" | "POST";
    headers?: Record<string, string>;
    body?: string;
    /** Replaces every `[<id>]` in the body with a fresh id per request. */
    idReplacement?: boolean;
    /** Seconds a request may take before it counts as a timeout. */
    timeout?: number;
  }

  interface AutocannonResult {
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    "2xx": number;
    requests: { average: number; total: number };
    latency: { average: number; p50: number; p99: number };
  }

  /** Emits `response` (client, statusCode, resBytes, responseTimeMs) for every answer. */
  interface AutocannonInstance extends EventEmitter {
    stop(): void;
  }

  function autocannon(options: AutocannonOptions, done: (error: Error | null, result: AutocannonResult) => void): AutocannonInstance;
  export default autocannon;
  export type { AutocannonOptions, AutocannonResult, AutocannonInstance };
}

/**
 * The "http" suite (issue 6): the front door on loopback, each figure beside its floor measured
 * in this process and run — `/v1/health` req/s against a bare fastify hello-world; inference
 * req/s and p50/p99 latency of 16-token completions on the tiny model, without and with
 * consensus, against the same executors driven directly; and the share of a request's latency
 * spent outside the model (routing + accounting + HTTP; target < 10%). The load generator
 * (autocannon) runs in this process too, beside server, Accountant and Aggregator; the
 * executors run in worker threads. About two minutes; everything is stopped at the end.
 */
import { createHttpApi, TokenAuthority, type AuthOptions } from "../../actors/router/http/index.ts";
import type { BenchResult } from "../report.ts";
import { BENCH_CALLER, startFederation } from "./federation.ts";
import { healthFigures } from "./health.ts";
import { inferenceFigures } from "./inference.ts";

const AUTH: AuthOptions = { issuer: BENCH_CALLER.issuer, audience: "fedrouter", signing: { alg: "HS256", secret: "bench-secret-of-at-least-thirty-two-bytes" } };
/** The per-user rate limit (DEFAULT_HTTP_LIMITS: 60 a minute) raised past anything a run sends. */
const UNLIMITED = { rateLimit: { max: 1_000_000_000, windowMs: 60_000 } };

const log = (line: string): void => {
  process.stdout.write(`  ${line}\n`);
};

export async function runHttpSuite(): Promise<BenchResult[]> {
  const fed = await startFederation(log);
  try {
    const app = await createHttpApi(fed.service, { auth: AUTH, limits: UNLIMITED });
    try {
      const url = await app.listen({ host: "127.0.0.1", port: 0 });
      const token = await new TokenAuthority(AUTH).issue({ id: BENCH_CALLER.userId, role: BENCH_CALLER.role, department: BENCH_CALLER.department });
      const results: BenchResult[] = [];
      results.push(...(await healthFigures(url, log)));
      results.push(...(await inferenceFigures(fed, url, token, log)));
      return results;
    } finally {
      await app.close();
    }
  } finally {
    await fed.stop();
  }
}

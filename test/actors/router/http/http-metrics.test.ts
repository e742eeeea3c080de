/**
 * The HTTP layer's metrics are counted by hand (prom-client's per-call label hashing was a tenth
 * of /v1/health's req/s) but must read exactly as prom-client's own Counter and Histogram would:
 * same names, labels, bucket bounds, cumulative counts, sums and text, for any observations.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Counter, Histogram, Registry } from "prom-client";
import { HTTP_DURATION_BUCKETS, HttpMetrics } from "../../../../actors/router/http/http-metrics.ts";

function reference() {
  const registry = new Registry();
  const requests = new Counter({ name: "fedrouter_http_requests_total", help: "HTTP requests answered, by route pattern, method and status", labelNames: ["route", "method", "status"] as const, registers: [registry] });
  const duration = new Histogram({
    name: "fedrouter_http_request_duration_seconds", help: "Time from the request's arrival to the end of its response (streams included)",
    labelNames: ["route", "method"] as const, registers: [registry], buckets: [...HTTP_DURATION_BUCKETS],
  });
  return {
    registry,
    observe(route: string, method: string, status: number, seconds: number) {
      requests.inc({ route, method, status: String(status) });
      duration.observe({ route, method }, seconds);
    },
  };
}

test("HttpMetrics' exposition text equals prom-client's Counter and Histogram for the same observations (bounds included)", async () => {
  const observation = fc.tuple(
    fc.constantFrom("/v1/health", "/v1/inference", "/v1/privacy/budget/:user_id", "(unmatched)"),
    fc.constantFrom("GET", "POST", "PUT"),
    fc.constantFrom(200, 201, 400, 401, 404, 429, 503),
    fc.oneof(fc.constantFrom(...HTTP_DURATION_BUCKETS, 0, 30.0001, 120), fc.double({ min: 0, max: 60, noNaN: true })),
  );
  await fc.assert(fc.asyncProperty(fc.array(observation, { maxLength: 60 }), async (observations) => {
    const ours = new HttpMetrics();
    const theirs = reference();
    for (const o of observations) {
      ours.observe(...o);
      theirs.observe(...o);
    }
    assert.equal(await ours.registry.metrics(), await theirs.registry.metrics());
  }), { numRuns: 200 });
});

test("an observation exactly on a bucket's bound counts in that bucket (le is ≤)", async () => {
  const metrics = new HttpMetrics();
  metrics.observe("/v1/health", "GET", 200, 0.005);
  const text = await metrics.registry.metrics();
  assert.match(text, /^fedrouter_http_request_duration_seconds_bucket\{le="0\.001",route="\/v1\/health",method="GET"\} 0$/m);
  assert.match(text, /^fedrouter_http_request_duration_seconds_bucket\{le="0\.005",route="\/v1\/health",method="GET"\} 1$/m);
  assert.match(text, /^fedrouter_http_requests_total\{route="\/v1\/health",method="GET",status="200"\} 1$/m);
});

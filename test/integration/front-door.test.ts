/**
 * The front door end to end, as `npm start` runs it: three hospitals as three `fedrouter
 * launch` processes over mTLS, each with its own model; hospital A serves the HTTP API on
 * 127.0.0.1. Through real HTTP (and the official OpenAI SDK): a consensus answer is charged
 * exactly the GNMax ε of the tokens it released, a single answer is free, a retried request id
 * is not charged twice, exhaustion is a 429 with nothing generated; then hospital C is
 * SIGKILLed: single answers fail over to the others (one reservation, never a second charge),
 * consensus answers vote with the hospitals left, and /health/ready reports its open breaker.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { spendOf } from "../../actors/accountant/index.ts";
import { ensembleCharge } from "../../actors/aggregator/index.ts";
import { initModel } from "../../actors/shard-executor/index.ts";
import { addUser } from "../../actors/router/http/index.ts";
import { testCluster } from "../fixtures/cluster-processes.ts";
import { freePort } from "../fixtures/free-port.ts";

const SIGMA = 4;
const HOSPITALS = ["h-a", "h-b", "h-c"];

test("three hospital processes behind the HTTP API: exact charges, free single answers, no double charge, 429 at exhaustion, the OpenAI SDK, a killed hospital", { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-front-door-"));
  const cluster = await testCluster(dir, HOSPITALS, (id) => [
    ...(id === "h-a" ? [{ name: "accountant" }, { name: "aggregator" }] : []),
    { name: "shard-executor", model: join(dir, `model-${id}`), placement: "worker" },
  ]);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  await Promise.all(HOSPITALS.map((id, i) => initModel({ out: join(dir, `model-${id}`), layers: 2, dModel: 32, heads: 4, positions: 64, vocab: "gpt2", seed: i + 1 })));
  writeFileSync(join(dir, "secret"), "a-test-secret-that-is-long-enough-for-hs256");
  await addUser(join(dir, "users.json"), { id: "dr-lee", role: "doctor", department: "radiology", password: "lee-test-pass" });
  writeFileSync(cluster.configFile, JSON.stringify({
    ...JSON.parse(readFileSync(cluster.configFile, "utf8")),
    privacy: { delta: 1e-5, departments: { radiology: 8, emergency: 5 } },
    http: { hospital: "h-a", listen: `127.0.0.1:${port}`, users: join(dir, "users.json"), secret: join(dir, "secret"), ensemble: { sigma: SIGMA, k: 3 } },
  }));
  try {
    await Promise.all(HOSPITALS.map((id) => cluster.launch(id)));
    const token = ((await (await fetch(`${base}/v1/auth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "dr-lee", password: "lee-test-pass" }) })).json()) as { token: string }).token;
    const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...headers }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const spent = async () => ((await (await fetch(`${base}/v1/privacy/budget/dr-lee`, { headers: { authorization: `Bearer ${token}` } })).json()) as { consumed: number }).consumed;

    let ready = false;
    for (let i = 0; i < 60 && !ready; i++) { // until h-a's links to h-b and h-c are up and a consensus answer goes through
      const probe = await post("/v1/inference", { prompt: "warm", max_tokens: 1, department: "radiology" });
      ready = probe.status === 200;
      if (!ready) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(ready, "the API answers");

    const before = await spent();
    const consensus = await post("/v1/inference", { prompt: "The patient was", max_tokens: 3, require_consensus: true, department: "radiology" }, { "idempotency-key": "q-1" });
    assert.equal(consensus.status, 200, JSON.stringify(consensus.body));
    const cost = consensus.body.privacy_cost as number;
    const candidates = [1, 2, 3].map((n) => spendOf([ensembleCharge(SIGMA, n)!], 1e-5));
    assert.ok(candidates.some((c) => Math.abs(c - cost) < 1e-9), `charged ${cost}: the Accountant's ε of 1, 2 or 3 GNMax(σ=${SIGMA}) votes (${candidates.join(", ")})`);
    assert.ok(Math.abs((await spent()) - before - cost) < 1e-9, "the budget went down by exactly the committed cost");
    assert.equal(consensus.body.node_id, "h-a");

    const retry = await post("/v1/inference", { prompt: "The patient was", max_tokens: 3, require_consensus: true, department: "radiology" }, { "idempotency-key": "q-1" });
    assert.equal(retry.status, 200, "the same request id gets the same answer back (issue 11)");
    assert.equal(retry.body.response, consensus.body.response);
    assert.equal(retry.body.privacy_cost, consensus.body.privacy_cost);
    assert.ok(Math.abs((await spent()) - before - cost) < 1e-9, "the retry charged nothing");

    const single = await post("/v1/inference", { prompt: "The patient was", max_tokens: 4, department: "radiology" });
    assert.equal(single.status, 200, JSON.stringify(single.body));
    assert.equal(single.body.privacy_cost, 0, "a single model's answer is free");
    assert.deepEqual([single.body.consensus_reached, single.body.confidence_score], [null, null], "and took no vote (issue 14)");
    assert.equal(typeof consensus.body.confidence_score, "number");

    // Issue 14: departments as the config has them; the budget period's start; the models listed.
    const unknownDept = await post("/v1/inference", { prompt: "The patient was", max_tokens: 1, department: "oncology" });
    assert.equal(unknownDept.status, 400, JSON.stringify(unknownDept.body));
    assert.match((unknownDept.body.error as { message: string }).message, /"oncology" is not a department of this federation; its departments are radiology, emergency/);
    assert.equal((await post("/v1/inference", { prompt: "The patient was", max_tokens: 1, department: "emergency" })).status, 403, "a department that exists but is not dr-lee's");
    const budget = (await (await fetch(`${base}/v1/privacy/budget/dr-lee`, { headers: { authorization: `Bearer ${token}` } })).json()) as { last_refresh: string; period: string };
    const now = new Date();
    assert.equal(budget.last_refresh, new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString(), `the first instant of the monthly period ${budget.period} (UTC), not the time of the request`);

    const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: token });
    const models = (await openai.models.list()).data;
    assert.deepEqual(models.map((m) => [m.id, m.object]), [["fedrouter", "model"]], "GET /v1/models lists the model the OpenAI endpoints take");
    assert.deepEqual(await openai.models.retrieve("fedrouter"), models[0]);
    const chat = await openai.chat.completions.create({ model: "fedrouter", messages: [{ role: "user", content: "Hello" }], max_tokens: 3 });
    assert.equal(chat.object, "chat.completion");
    assert.equal(typeof chat.choices[0]!.message.content, "string");
    let pieces = 0;
    for await (const chunk of await openai.chat.completions.create({ model: "fedrouter", messages: [{ role: "user", content: "Hello" }], max_tokens: 3, stream: true })) {
      if (chunk.choices[0]?.delta?.content) pieces++;
    }
    assert.ok(pieces >= 1, `the SDK streamed text chunks: ${pieces}`);

    const atExhaustion = await spent();
    const exhausted = await post("/v1/inference", { prompt: "The patient was", max_tokens: 64, require_consensus: true, department: "radiology" });
    assert.equal(exhausted.status, 429);
    assert.equal((exhausted.body.error as { type: string }).type, "privacy_budget_exceeded");
    assert.ok(Math.abs((await spent()) - atExhaustion) < 1e-12, "a refusal charges nothing and generates nothing");

    // Kill h-c while answers are in flight: each finishes or fails with `unavailable`, none hangs.
    const inFlight = Array.from({ length: 6 }, (_, i) => post("/v1/inference", { prompt: `Hello ${i}`, max_tokens: 40, department: "radiology" }).then((r) => r.status));
    await new Promise((r) => setTimeout(r, 300));
    cluster.kill("h-c");
    const flightStatuses = await Promise.all(inFlight);
    assert.ok(flightStatuses.every((s) => s === 200 || s === 503), `in flight when h-c died: finished or unavailable, never hung or 500: ${flightStatuses.join(",")}`);
    const afterKill: number[] = [];
    for (let i = 0; i < 12; i++) {
      afterKill.push((await post("/v1/inference", { prompt: "Hello", max_tokens: 1, department: "radiology", require_consensus: i % 2 === 1 })).status);
    }
    assert.ok(afterKill.every((s) => s === 200 || s === 503), `answered or unavailable, never hung or 500: ${afterKill.join(",")}`);
    assert.ok(afterKill.filter((_, i) => i % 2 === 0).every((s) => s === 200), `single answers fail over to h-a and h-b: ${afterKill.join(",")}`);
    const health = (await (await fetch(`${base}/health/ready`)).json()) as { status: string; checks: Record<string, { ok: boolean }> };
    // h-c's link has no stream: it is out of routing at once (so its breaker need not open), and readiness names it.
    assert.equal(health.checks["link:h-c"]?.ok, false, `/health/ready reports h-c's dead link: ${JSON.stringify(health)}`);
    assert.equal(health.status, "ready", "still ready: two hospitals serve");
  } finally {
    await cluster.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

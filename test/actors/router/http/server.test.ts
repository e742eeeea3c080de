import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { call, FakeService, startServer, tokenFor } from "./fake-service.ts";

test("POST /v1/inference answers with the seeds' field names and the cost headers, passing the privacy fields through", async () => {
  const server = await startServer();
  try {
    const token = await tokenFor("dr-smith", "doctor", "emergency");
    const body = { prompt: "Analyze patient symptoms: fever, cough, fatigue", max_tokens: 512, temperature: 0.7, privacy_budget: 0.1, require_consensus: true, priority: 3, department: "emergency" };
    const { status, json, headers } = await call(server.url, "POST", "/v1/inference", { token, body });
    assert.equal(status, 200, JSON.stringify(json));
    assert.deepEqual(Object.keys(json).sort(), ["confidence_score", "consensus_reached", "node_id", "privacy_cost", "processing_time", "remaining_budget", "request_id", "response", "success"]);
    assert.equal(json.success, true, "success");
    assert.equal(json.response, "Rest and fluids.");
    assert.equal(json.privacy_cost, 0.1);
    assert.equal(json.remaining_budget, 0.9);
    assert.equal(json.node_id, "hospital-a");
    assert.equal(json.consensus_reached, true);
    assert.equal(json.confidence_score, 0.94);
    assert.equal(typeof json.processing_time, "number", "processing_time in seconds");
    assert.equal(headers.get("x-fedrouter-privacy-cost"), "0.1");
    assert.equal(headers.get("x-fedrouter-remaining-budget"), "0.9");
    const seen = server.service.requests[0]!;
    assert.deepEqual({ ...seen.request, requestId: "?" }, {
      requestId: "?", prompt: body.prompt, maxTokens: 512, temperature: 0.7, privacyBudget: 0.1, requireConsensus: true, priority: 3, department: "emergency",
    });
    assert.deepEqual(seen.caller, { userId: "dr-smith", role: "doctor", department: "emergency", issuer: "fedrouter-test" });
    assert.equal(json.request_id, seen.request.requestId);
  } finally {
    await server.close();
  }
});

test("a retried request with the same Idempotency-Key (or request_id) reaches the service with the same id and is charged once; one still running is 409 in_progress", async () => {
  const server = await startServer();
  try {
    const token = await tokenFor("dr-smith");
    const headers = { "idempotency-key": "req-42" };
    const first = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", privacy_budget: 0.2 }, headers });
    const again = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", privacy_budget: 0.2 }, headers });
    const field = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", privacy_budget: 0.2, request_id: "req-42" } });
    assert.deepEqual([first.status, again.status, field.status], [200, 200, 200]);
    assert.deepEqual(server.service.requests.map((r) => r.request.requestId), ["req-42", "req-42", "req-42"]);
    assert.equal(field.json.remaining_budget, 0.8, "charged once");
    assert.deepEqual([first.headers.get("x-fedrouter-replayed"), again.headers.get("x-fedrouter-replayed")], [null, "true"], "a replayed answer says so in a header");
    const running = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "still running please" }, headers: { "idempotency-key": "req-43" } });
    assert.equal(running.status, 409);
    assert.equal(running.headers.get("retry-after"), "1");
    assert.deepEqual(running.json, { error: { type: "in_progress", message: "request req-43 is still being answered; retry with the same request id to get its answer, charged once", request_id: "req-43" } });
    const clash = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", request_id: "other" }, headers });
    assert.equal(clash.status, 400);
    assert.equal(clash.json.error.type, "invalid_request");
    assert.match(clash.json.error.message, /^request_id: differs from the Idempotency-Key header/);
    const fresh = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q" } });
    assert.match(fresh.json.request_id, /^[0-9a-f-]{36}$/, "a fresh UUID when the client sends none");
  } finally {
    await server.close();
  }
});

test("budget exhaustion is 429 privacy_budget_exceeded with the remaining budget in body and header; no route is 503 unavailable", async () => {
  const server = await startServer();
  try {
    const token = await tokenFor("dr-smith");
    assert.equal((await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", privacy_budget: 0.75 } })).status, 200);
    const refused = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", privacy_budget: 0.5 } });
    assert.equal(refused.status, 429);
    assert.equal(refused.json.error.type, "privacy_budget_exceeded");
    assert.equal(refused.json.error.remaining_budget, 0.25);
    assert.equal(refused.json.error.needed, 0.5);
    assert.match(refused.json.error.message, /has ε 0.25 left and this request needs 0.5/);
    assert.equal(refused.headers.get("x-fedrouter-remaining-budget"), "0.25");
    assert.ok(Number(refused.headers.get("retry-after")) > 0, "Retry-After until the reset");
    const down = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "no route please" } });
    assert.equal(down.status, 503);
    assert.deepEqual(down.json, { error: { type: "unavailable", message: "no hospital can serve this model now: every breaker is open" } });
    assert.equal(down.headers.get("retry-after"), "5");
  } finally {
    await server.close();
  }
});

test("bad input is a 400-class invalid_request naming the field, and the server keeps serving", async () => {
  const server = await startServer();
  try {
    const token = await tokenFor("dr-smith");
    const cases: [unknown, number, RegExp][] = [
      [{ prompt: 42 }, 400, /^prompt: Invalid input: expected string, received number/],
      [{ prompt: "q", privacy_budget: -0.5 }, 400, /^privacy_budget: must be a positive ε/],
      [{ prompt: "q", max_tokens: 10_000_000 }, 400, /^max_tokens: must be at most 1024/],
      [{ prompt: "q", max_tokens: 1.5 }, 400, /^max_tokens: /],
      [{ prompt: "q", require_consensus: "yes" }, 400, /^require_consensus: /],
      [{ prompt: "q", temperature: 9 }, 400, /^temperature: /],
      [{ prompt: "q", priorty: 3 }, 400, /^priorty: unknown field "priorty"/],
      [{ prompt: "" }, 400, /^prompt: must not be empty/],
      [{ prompt: "q", user_id: "someone-else" }, 400, /^user_id: unknown field "user_id" \(the user is the bearer token's subject\)$/],
      [{ prompt: "x".repeat(16_001) }, 400, /^prompt: must be at most 16000 characters/],
      [{ max_tokens: 5 }, 400, /^prompt: /],
      [[1, 2], 400, /the body must be a JSON object/],
      [{ prompt: "q", department: "Bad Dept!" }, 400, /^department: /],
    ];
    for (const [body, status, message] of cases) {
      const { status: got, json } = await call(server.url, "POST", "/v1/inference", { token, body });
      assert.equal(got, status, `${JSON.stringify(body).slice(0, 60)} → ${JSON.stringify(json)}`);
      assert.equal(json.error.type, "invalid_request", JSON.stringify(json));
      assert.match(json.error.message, message, `${JSON.stringify(body).slice(0, 60)}: ${json.error.message}`);
    }
    const big = await call(server.url, "POST", "/v1/inference", { token, rawBody: JSON.stringify({ prompt: "x".repeat(70_000) }) });
    assert.equal(big.status, 413);
    assert.equal(big.json.error.type, "invalid_request");
    assert.match(big.json.error.message, /larger than the limit/);
    const broken = await call(server.url, "POST", "/v1/inference", { token, rawBody: '{"prompt": "secret patient text' });
    assert.equal(broken.status, 400);
    assert.equal(broken.json.error.message, "the body is not valid JSON", "the parser's message (which quotes the body) is not echoed");
    const form = await call(server.url, "POST", "/v1/inference", { token, rawBody: "prompt=q", headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(form.status, 415);
    assert.equal(form.json.error.type, "invalid_request");
    const other = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", department: "oncology" } });
    assert.equal(other.status, 403, "another department's budget is not the caller's to spend");
    assert.equal(other.json.error.type, "forbidden");
    assert.equal(server.service.requests.length, 0, "the service saw none of them");
    const ok = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q" } });
    assert.equal(ok.status, 200, "still serving");
    const unknown = await call(server.url, "GET", "/v1/nothing-here");
    assert.deepEqual(unknown.json, { error: { type: "not_found", message: "no route GET /v1/nothing-here" } });
    assert.equal(unknown.status, 404);
  } finally {
    await server.close();
  }
});

test("GET /v1/privacy/budget/:user_id: the seeds' fields for one's own budget; another user's only for admin and operator", async () => {
  const server = await startServer();
  try {
    server.service.spent.set("dr-smith", 0.25);
    const own = await call(server.url, "GET", "/v1/privacy/budget/dr-smith", { token: await tokenFor("dr-smith", "doctor", "cardiology") });
    assert.equal(own.status, 200, JSON.stringify(own.json));
    assert.deepEqual(own.json, {
      user_id: "dr-smith", total_budget: 1, consumed: 0.25, remaining: 0.75, period: "2026-12-02", next_refresh: "2026-12-03T00:00:00.000Z",
      department: { name: "cardiology", total_budget: 15, consumed: 0.25, remaining: 14.75 },
    });
    const nurse = await call(server.url, "GET", "/v1/privacy/budget/dr-smith", { token: await tokenFor("n-jones", "nurse") });
    assert.equal(nurse.status, 403);
    assert.equal(nurse.json.error.type, "forbidden");
    const admin = await call(server.url, "GET", "/v1/privacy/budget/dr-smith?department=radiology", { token: await tokenFor("root", "admin", "it") });
    assert.equal(admin.status, 200);
    assert.equal(admin.json.department.name, "radiology");
    const missing = await call(server.url, "GET", "/v1/privacy/budget/dr-smith");
    assert.equal(missing.status, 401);
    assert.equal(missing.json.error.type, "unauthorized");
  } finally {
    await server.close();
  }
});

test("health: /v1/health in the seeds' shape, /health/live, and /health/ready 503 naming what is down", async () => {
  const server = await startServer({ version: "9.9.9" });
  try {
    const healthy = await call(server.url, "GET", "/v1/health");
    assert.equal(healthy.status, 200);
    assert.equal(healthy.json.status, "healthy");
    assert.equal(healthy.json.version, "9.9.9");
    assert.deepEqual(healthy.json.components, { accountant: "healthy", "breaker:hospital-b": "healthy" });
    assert.ok(!Number.isNaN(Date.parse(healthy.json.timestamp)), "an ISO timestamp");
    assert.equal((await call(server.url, "GET", "/health/ready")).status, 200);
    server.service.health$ = { live: true, ready: false, checks: { accountant: { ok: true }, "breaker:hospital-b": { ok: false, detail: "open" } } };
    const ready = await call(server.url, "GET", "/health/ready");
    assert.equal(ready.status, 503);
    assert.equal(ready.json.error.type, "unavailable");
    assert.equal(ready.json.error.message, "not ready: breaker:hospital-b (open)");
    assert.deepEqual(ready.json.checks["breaker:hospital-b"], { ok: false, detail: "open" });
    const live = await call(server.url, "GET", "/health/live");
    assert.equal(live.status, 200);
    assert.equal(live.json.status, "live");
    assert.equal((await call(server.url, "GET", "/v1/health")).json.status, "degraded");
  } finally {
    await server.close();
  }
});

test("admin endpoints: admin and operator may add a node and change the config; a nurse or a doctor gets 403", async () => {
  const server = await startServer();
  try {
    const node = { node_id: "new_hospital", endpoint: "https://new-hospital.local:8443", compute_capacity: "4xA100", specializations: ["cardiology", "neurology"], security_level: "HIGH" };
    for (const role of ["nurse", "doctor", "researcher"]) {
      const refused = await call(server.url, "POST", "/v1/admin/nodes", { token: await tokenFor("u", role), body: node });
      assert.equal(refused.status, 403, role);
      assert.equal(refused.json.error.type, "forbidden");
      assert.match(refused.json.error.message, new RegExp(`^role ${role} may not call POST /v1/admin/nodes; it needs one of admin, operator`));
      assert.equal((await call(server.url, "PUT", "/v1/admin/config", { token: await tokenFor("u", role), body: {} })).status, 403, role);
    }
    const added = await call(server.url, "POST", "/v1/admin/nodes", { token: await tokenFor("root", "admin", "it"), body: node });
    assert.equal(added.status, 201, JSON.stringify(added.json));
    assert.deepEqual(added.json, { ...node, region: null });
    assert.deepEqual(server.service.nodes, [{ nodeId: "new_hospital", endpoint: "https://new-hospital.local:8443", computeCapacity: "4xA100", specializations: ["cardiology", "neurology"], securityLevel: "HIGH" }]);
    const badNode = await call(server.url, "POST", "/v1/admin/nodes", { token: await tokenFor("root", "admin", "it"), body: { ...node, endpoint: "not a url" } });
    assert.equal(badNode.status, 400);
    assert.match(badNode.json.error.message, /^endpoint: /);
    const config = { privacy: { epsilon_per_query: 0.1, max_budget_per_user: 10, delta: 1e-5, departments: { radiology: 12 } }, routing: { strategy: "least-outstanding" } };
    const changed = await call(server.url, "PUT", "/v1/admin/config", { token: await tokenFor("ops", "operator", "it"), body: config });
    assert.equal(changed.status, 200, JSON.stringify(changed.json));
    assert.deepEqual(changed.json, { updated: true, config });
    assert.deepEqual(server.service.config.privacy, { epsilonPerQuery: 0.1, maxBudgetPerUser: 10, delta: 1e-5, departments: { radiology: 12 } });
    const typo = await call(server.url, "PUT", "/v1/admin/config", { token: await tokenFor("ops", "operator", "it"), body: { privacy: { delta: 2 } } });
    assert.equal(typo.status, 400);
    assert.match(typo.json.error.message, /^privacy\.delta: /);
  } finally {
    await server.close();
  }
});

test("GET /metrics: the service's metrics and the HTTP layer's, labelled by route pattern, not by URL", async () => {
  const server = await startServer();
  try {
    await call(server.url, "GET", "/v1/privacy/budget/dr-smith", { token: await tokenFor("dr-smith") });
    assert.equal((await call(server.url, "GET", "/v1/privacy/budget/dr-smith")).status, 401);
    const { status, text, headers } = await call(server.url, "GET", "/metrics");
    assert.equal(status, 200);
    assert.match(headers.get("content-type") ?? "", /^text\/plain/);
    assert.match(text, /^fedrouter_budget_spent_epsilon_total 0.3$/m);
    assert.match(text, /^fedrouter_http_requests_total\{route="\/v1\/privacy\/budget\/:user_id",method="GET",status="200"\} 1$/m);
    assert.match(text, /^fedrouter_http_requests_total\{route="\/v1\/privacy\/budget\/:user_id",method="GET",status="401"\} 1$/m, "a request refused in a hook is counted with its status");
    assert.match(text, /^fedrouter_http_request_duration_seconds_count\{route="\/v1\/privacy\/budget\/:user_id",method="GET"\} 2$/m);
    assert.ok(!text.includes("dr-smith"), "no user id in a label");
  } finally {
    await server.close();
  }
});

test("rate limit: past the per-user limit a user gets 429 rate_limited while another user is still served", async () => {
  const server = await startServer({ limits: { rateLimit: { max: 3, windowMs: 60_000 } } });
  try {
    const alice = await tokenFor("alice");
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(server.url, "POST", "/v1/inference", { token: alice, body: { prompt: "q", privacy_budget: 0.01 } })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    const limited = await call(server.url, "POST", "/v1/inference", { token: alice, body: { prompt: "q" } });
    assert.equal(limited.json.error.type, "rate_limited");
    assert.match(limited.json.error.message, /more than 3 requests in the rate-limit window; retry in \d+ s/);
    assert.ok(Number(limited.headers.get("retry-after")) > 0, "Retry-After");
    const bob = await call(server.url, "POST", "/v1/inference", { token: await tokenFor("bob"), body: { prompt: "q" } });
    assert.equal(bob.status, 200, "another user has their own window");
    assert.equal((await call(server.url, "GET", "/health/live")).status, 200, "probes are not rate-limited");
  } finally {
    await server.close();
  }
});

test("with logging on, no prompt text reaches the log, whether the request succeeds, fails validation, is not JSON, or meets a defect (500 internal_error)", async () => {
  const lines: string[] = [];
  const stream = new Writable({ write: (chunk, _encoding, done) => { lines.push(String(chunk)); done(); } });
  const server = await startServer({ logger: { level: "trace", stream } });
  try {
    const token = await tokenFor("dr-smith");
    const marker = "PATIENT-JANE-DOE-HIV-POSITIVE";
    assert.equal((await call(server.url, "POST", "/v1/inference", { token, body: { prompt: marker } })).status, 200);
    assert.equal((await call(server.url, "POST", "/v1/inference", { token, body: { prompt: marker, max_tokens: -1 } })).status, 400);
    assert.equal((await call(server.url, "POST", "/v1/inference", { token, rawBody: `{"prompt": "${marker}` })).status, 400);
    assert.equal((await call(server.url, "POST", "/v1/chat/completions", { token, body: { model: "fedrouter", messages: [{ role: "user", content: marker }], stream: true } })).status, 200);
    const defect = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: `${marker} crash the fake` } });
    assert.equal(defect.status, 500);
    assert.deepEqual(defect.json, { error: { type: "internal_error", message: "the server failed to handle this request; it has been logged" } });
    const unknown = await call(server.url, "POST", "/v1/inference", { token: await tokenFor("u", "doctor", "unknown-dept"), body: { prompt: marker } });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.json.error, { type: "invalid_request", message: "department: no budget is configured for it", param: "department" });
    assert.ok(lines.length > 5, `the server logged (${lines.length} lines)`);
    assert.ok(lines.some((line) => line.includes("a defect in the fake service")), "the defect is logged");
    assert.ok(!lines.some((line) => line.includes(marker) || line.includes("crash the fake")), "no prompt text in any log line");
  } finally {
    await server.close();
  }
});

test("a single answer carries null consensus fields (no vote was taken); a consensus answer its vote's", async () => {
  const server = await startServer();
  try {
    const token = await tokenFor("dr-smith");
    const single = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q" } });
    assert.equal(single.status, 200);
    assert.deepEqual([single.json.consensus_reached, single.json.confidence_score], [null, null]);
    const voted = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", require_consensus: true } });
    assert.deepEqual([voted.json.consensus_reached, voted.json.confidence_score], [true, 0.94]);
  } finally {
    await server.close();
  }
});

test("the budget's last_refresh is the start of the Accountant's budget period, not the time of the request; unknown periods leave it out", async () => {
  const daily = await startServer({ budgetPeriods: { reset: "daily", timeZone: "UTC" } });
  try {
    const own = await call(daily.url, "GET", "/v1/privacy/budget/dr-smith", { token: await tokenFor("dr-smith") });
    assert.equal(own.json.period, "2026-12-02");
    assert.equal(own.json.last_refresh, "2026-12-02T00:00:00.000Z", "the period's first instant");
    assert.equal(own.json.next_refresh, "2026-12-03T00:00:00.000Z");
  } finally {
    await daily.close();
  }
  const service = new FakeService();
  service.budgetPeriod = { key: "2026-12", endMs: Date.UTC(2026, 11, 31, 23) }; // monthly in Europe/Berlin: 2027-01-01T00:00+01:00
  const monthly = await startServer({ budgetPeriods: { reset: "monthly", timeZone: "Europe/Berlin" } }, service);
  try {
    const own = await call(monthly.url, "GET", "/v1/privacy/budget/dr-smith", { token: await tokenFor("dr-smith") });
    assert.equal(own.json.last_refresh, "2026-11-30T23:00:00.000Z", "midnight of 1 December in Berlin");
  } finally {
    await monthly.close();
  }
  const mismatch = await startServer({ budgetPeriods: { reset: "weekly", timeZone: "UTC" } });
  try {
    const own = await call(mismatch.url, "GET", "/v1/privacy/budget/dr-smith", { token: await tokenFor("dr-smith") });
    assert.equal(own.status, 200);
    assert.ok(!("last_refresh" in own.json), "periods that do not match the Accountant's: left out, never a wrong instant");
  } finally {
    await mismatch.close();
  }
});

test("departments: one that does not exist is 400 invalid_request naming the known ones; one that exists but is not the caller's is 403; so is an account whose own department has no budget", async () => {
  const server = await startServer({ departments: ["cardiology", "emergency"] });
  try {
    const token = await tokenFor("dr-smith", "doctor", "cardiology");
    const unknown = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", department: "oncology" } });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.json.error, { type: "invalid_request", param: "department", message: 'department: "oncology" is not a department of this federation; its departments are cardiology, emergency' });
    const chat = await call(server.url, "POST", "/v1/chat/completions", { token, body: { model: "fedrouter", messages: [{ role: "user", content: "q" }], department: "oncology" } });
    assert.equal(chat.status, 400, "the OpenAI endpoints alike");
    const other = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", department: "emergency" } });
    assert.equal(other.status, 403);
    assert.equal(other.json.error.type, "forbidden");
    assert.match(other.json.error.message, /^department "emergency" is not yours/);
    assert.equal((await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", department: "cardiology" } })).status, 200);

    const stray = await call(server.url, "POST", "/v1/inference", { token: await tokenFor("dr-x", "doctor", "dermatology"), body: { prompt: "q" } });
    assert.equal(stray.status, 403, "an account in a department without a budget gets no answers, free or not");
    assert.match(stray.json.error.message, /^your account's department "dermatology" has no privacy budget in this federation \(its departments are cardiology, emergency\)/);

    const budget = (path: string, who = token) => call(server.url, "GET", path, { token: who });
    assert.equal((await budget("/v1/privacy/budget/dr-smith?department=oncology")).status, 400);
    assert.equal((await budget("/v1/privacy/budget/dr-smith?department=Bad%20Dept!")).status, 400);
    assert.equal((await budget("/v1/privacy/budget/dr-smith?department=emergency")).status, 403);
    const admin = await tokenFor("root", "admin", "cardiology");
    assert.equal((await budget("/v1/privacy/budget/dr-smith?department=oncology", admin)).status, 400, "not even an admin reads a department that does not exist");
    assert.equal((await budget("/v1/privacy/budget/dr-smith?department=emergency", admin)).status, 200);
    assert.equal(server.service.requests.length, 1, "the service saw only the good one");

    const added = await call(server.url, "PUT", "/v1/admin/config", { token: admin, body: { privacy: { departments: { oncology: 3 } } } });
    assert.equal(added.status, 200);
    const now = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", department: "oncology" } });
    assert.equal(now.status, 403, "a department an admin gave a budget exists from then on");
  } finally {
    await server.close();
  }
});

test("a body the server cannot read as sent is refused by name: a Content-Encoding other than identity, a charset other than UTF-8 (415), a __proto__ key (400); a method a route lacks is 404 whatever its body", async () => {
  const server = await startServer();
  try {
    const token = await tokenFor("dr-smith");
    const body = { prompt: "q" };
    for (const coding of ["gzip", "br", "x-custom"]) {
      const coded = await call(server.url, "POST", "/v1/inference", { token, body, headers: { "content-encoding": coding } });
      assert.equal(coded.status, 415, `${coding}: ${coded.text}`);
      assert.deepEqual(coded.json, { error: { type: "invalid_request", message: `Content-Encoding: ${coding} is not supported; send the body uncompressed (identity)`, param: "Content-Encoding" } });
      assert.equal(coded.headers.get("accept-encoding"), "identity", "RFC 9110, 15.5.16: the codings it takes");
    }
    const identity = await call(server.url, "POST", "/v1/inference", { token, body, headers: { "content-encoding": "Identity" } });
    assert.equal(identity.status, 200, identity.text);
    for (const charset of ["utf-8", "UTF-8", "utf8", "\"utf-8\""]) {
      const utf8 = await call(server.url, "POST", "/v1/inference", { token, body, headers: { "content-type": `application/json; charset=${charset}` } });
      assert.equal(utf8.status, 200, `${charset}: ${utf8.text}`);
    }
    // é as one latin-1 byte: read as UTF-8 it would become U+FFFD, a prompt the caller never sent.
    const latin1 = await fetch(`${server.url}/v1/inference`, {
      method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json; charset=ISO-8859-1" }, body: Buffer.from('{"prompt":"caf\xe9"}', "latin1"),
    });
    assert.equal(latin1.status, 415);
    assert.deepEqual(await latin1.json(), { error: { type: "invalid_request", message: "Content-Type: charset ISO-8859-1 is not supported; JSON is sent as UTF-8 (RFC 8259)", param: "Content-Type" } });
    for (const poisoned of ['{"prompt":"q","__proto__":{"role":"admin"}}', '{"prompt":"q","constructor":{"prototype":{"role":"admin"}}}']) {
      const refused = await call(server.url, "POST", "/v1/inference", { token, rawBody: poisoned });
      assert.equal(refused.status, 400, refused.text);
      assert.deepEqual(refused.json, { error: { type: "invalid_request", message: "the body holds a \"__proto__\" or \"constructor\": { \"prototype\" } key, which is refused (prototype poisoning); leave it out" } });
    }
    const wrongMethod = await call(server.url, "DELETE", "/v1/inference", { token, headers: { "content-type": "application/json" } });
    assert.deepEqual([wrongMethod.status, wrongMethod.json], [404, { error: { type: "not_found", message: "no route DELETE /v1/inference" } }]);
    const wrongMethodBadBody = await call(server.url, "PUT", "/v1/inference", { token, rawBody: "{" });
    assert.deepEqual([wrongMethodBadBody.status, wrongMethodBadBody.json.error.type], [404, "not_found"]);
    assert.equal(server.service.requests.length, 1 + 4, "only the identity and the UTF-8 requests reached the service");
  } finally {
    await server.close();
  }
});

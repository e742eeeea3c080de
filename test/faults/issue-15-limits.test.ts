/**
 * Issue 15, finding 4: limits that contradicted each other. A user id and a request id may each
 * be 128 characters, but the Accountant refused a key `<user>:<request id>` past 128 (`reserve.key:
 * Too big`), and fastify's default 100-character path parameter kept a 101–128-character user
 * from reading their own budget (414, in fastify's shape). Now each limit is one exported
 * constant, the Accountant's ids' bound, and the front door is tested at the boundary, end to end:
 * the real Router, the Accountant on LMDB, over HTTP.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_ID_CHARS } from "../../actors/accountant/validation.ts";
import { HTTP_ERROR_TYPES, MAX_REQUEST_ID_CHARS, MAX_USER_ID_CHARS } from "../../actors/router/http/index.ts";
import { call, tokenFor } from "../actors/router/http/fake-service.ts";
import { DEPARTMENT, startRouterNode, type RouterNode } from "../actors/router/router-node.ts";
import { tempDir } from "../fixtures/node-store.ts";

const ask = { prompt: "The patient was", max_tokens: 1, require_consensus: true };

async function charges(node: RouterNode, user: string) {
  const history = await node.accountant.history(user);
  assert.equal(history.type, "history", JSON.stringify(history));
  return history.type === "history" ? history.charges : [];
}

test("the limits are one: a user id and a request id are at most the Accountant's id bound, 128", () => {
  assert.equal(MAX_ID_CHARS, 128);
  assert.equal(MAX_USER_ID_CHARS, MAX_ID_CHARS);
  assert.equal(MAX_REQUEST_ID_CHARS, MAX_ID_CHARS);
});

test("a 128-character Idempotency-Key (or request_id, or a server-made id) from a 128-character user is charged once; 129 is a 400 naming the field and charges nothing", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-issue-15-limits-"));
  try {
    const url = await node.serve(await node.router());
    const user = "u".repeat(MAX_USER_ID_CHARS);
    const token = await tokenFor(user, "doctor", DEPARTMENT);

    const key = "k".repeat(MAX_REQUEST_ID_CHARS);
    const first = await call(url, "POST", "/v1/inference", { token, body: ask, headers: { "idempotency-key": key } });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.equal(first.json.request_id, key);
    assert.ok(first.json.privacy_cost > 0, "charged");
    const again = await call(url, "POST", "/v1/inference", { token, body: ask, headers: { "idempotency-key": key } });
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.equal(again.headers.get("x-fedrouter-replayed"), "true", "a retry is the same request, charged once");

    const field = "f".repeat(MAX_REQUEST_ID_CHARS);
    const byField = await call(url, "POST", "/v1/inference", { token, body: { ...ask, request_id: field } });
    assert.equal(byField.status, 200, JSON.stringify(byField.json));
    const fresh = await call(url, "POST", "/v1/inference", { token, body: ask });
    assert.equal(fresh.status, 200, JSON.stringify(fresh.json));

    const charged = await charges(node, user);
    assert.equal(charged.length, 3, "one charge per request id");
    assert.ok(charged.every((c) => c.key.length <= MAX_ID_CHARS && c.owner === `user:${user}`), JSON.stringify(charged.map((c) => c.key)));

    const tooLong = "k".repeat(MAX_REQUEST_ID_CHARS + 1);
    const header = await call(url, "POST", "/v1/inference", { token, body: ask, headers: { "idempotency-key": tooLong } });
    assert.equal(header.status, 400);
    assert.equal(header.json.error.type, "invalid_request");
    assert.equal(header.json.error.param, "Idempotency-Key");
    assert.match(header.json.error.message, /^Idempotency-Key: must be 1\.\.128 printable ASCII characters/);
    const body = await call(url, "POST", "/v1/inference", { token, body: { ...ask, request_id: tooLong } });
    assert.equal(body.status, 400);
    assert.equal(body.json.error.param, "request_id");
    assert.match(body.json.error.message, /^request_id: must be 1\.\.128 printable ASCII characters/);
    assert.equal((await charges(node, user)).length, 3, "a refused id charges nothing");
  } finally {
    await node.stop();
  }
});

test("a 128-character user id reads its own budget; a 129-character one is a 4xx in the documented shape", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-issue-15-budget-"));
  try {
    const url = await node.serve(await node.router());
    for (const length of [101, MAX_USER_ID_CHARS]) {
      const user = "b".repeat(length);
      const token = await tokenFor(user, "doctor", DEPARTMENT);
      const spent = await call(url, "POST", "/v1/inference", { token, body: ask });
      assert.equal(spent.status, 200, JSON.stringify(spent.json));
      const own = await call(url, "GET", `/v1/privacy/budget/${user}`, { token });
      assert.equal(own.status, 200, `${length}: ${own.text.slice(0, 200)}`);
      assert.equal(own.json.user_id, user);
      assert.ok(Math.abs(own.json.consumed - spent.json.privacy_cost) < 1e-6, `${length}: what was charged`);
      assert.equal(own.json.department.name, DEPARTMENT);
    }

    const admin = await tokenFor("ada", "admin", DEPARTMENT);
    const long = await call(url, "GET", `/v1/privacy/budget/${"b".repeat(MAX_USER_ID_CHARS + 1)}`, { token: admin });
    assert.equal(long.status, 414, long.text.slice(0, 300));
    assert.match(long.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(Object.keys(long.json), ["error"], long.text.slice(0, 300));
    assert.ok((HTTP_ERROR_TYPES as readonly string[]).includes(long.json.error.type), long.json.error.type);
    assert.equal(long.json.error.type, "invalid_request");
    assert.match(long.json.error.message, /128/, "the message names the bound");
    assert.ok(long.text.length < 1_000, "the path is not echoed back whole");

    const tooLongSubject = await tokenFor("b".repeat(MAX_USER_ID_CHARS + 1), "doctor", DEPARTMENT);
    const refused = await call(url, "POST", "/v1/inference", { token: tooLongSubject, body: ask });
    assert.equal(refused.status, 401);
    assert.match(refused.json.error.message, /1\.\.128/);
  } finally {
    await node.stop();
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey } from "jose";
import { addUser } from "../../../../actors/router/http/index.ts";
import { AUDIENCE, call, ISSUER, SECRET, startServer, tokenFor } from "./fake-service.ts";

const inference = { prompt: "q" };

test("refused with 401 unauthorized: no token, not a JWT, expired, signed with another key, alg none, unknown issuer, wrong audience, no valid role", async () => {
  const server = await startServer();
  try {
    const unsigned = new UnsecuredJWT({ role: "admin", department: "it" }).setSubject("mallory").setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime("10m").encode();
    const cases: [string, string | undefined, RegExp][] = [
      ["no token", undefined, /^no bearer token: send Authorization: Bearer <token>/],
      ["not a JWT", "hello", /^the bearer token is not a JWT$/],
      ["expired", await tokenFor("u", "doctor", "cardiology", { expSeconds: -60 }), /^the token has expired/],
      ["wrong key", await tokenFor("u", "doctor", "cardiology", { secret: "another-secret-of-at-least-thirty-two-bytes" }), /^the token's signature does not verify$/],
      ["alg none", unsigned, /^the token's algorithm is not accepted/],
      ["unknown issuer", await tokenFor("u", "doctor", "cardiology", { issuer: "https://evil.example" }), /^the token's issuer "https:\/\/evil.example" is not trusted here$/],
      ["wrong audience", await tokenFor("u", "doctor", "cardiology", { audience: "someone-else" }), /^the token's "aud" claim is not accepted/],
      ["no valid role", await tokenFor("u", "janitor"), /^the token's "role" claim must be one of doctor, nurse, researcher, admin, operator$/],
    ];
    for (const [what, token, message] of cases) {
      const { status, json, headers } = await call(server.url, "POST", "/v1/inference", { ...(token === undefined ? {} : { token }), body: inference });
      assert.equal(status, 401, `${what}: ${JSON.stringify(json)}`);
      assert.equal(json.error.type, "unauthorized", what);
      assert.match(json.error.message, message, `${what}: ${json.error.message}`);
      assert.equal(headers.get("www-authenticate"), 'Bearer realm="fedrouter"', what);
    }
    assert.equal(server.service.requests.length, 0, "the service saw none of them");
  } finally {
    await server.close();
  }
});

test("a hospital identity provider's token is accepted through its JWKS (served on 127.0.0.1); a key outside it is not", async () => {
  const { publicKey, privateKey } = await generateKeyPair("EdDSA", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "idp-1", alg: "EdDSA", use: "sig" };
  let fetches = 0;
  const jwks = createServer((_request, response) => {
    fetches += 1;
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((done) => jwks.listen(0, "127.0.0.1", done));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  const idp = "https://idp.hospital-b.example";
  const server = await startServer({
    auth: { issuer: ISSUER, audience: AUDIENCE, signing: { alg: "HS256", secret: SECRET }, externalIssuers: [{ issuer: idp, jwksUrl, audience: "fedrouter-api", roleClaim: "fedrouter_role" }] },
  });
  try {
    const sign = (key: CryptoKey, kid: string) => new SignJWT({ fedrouter_role: "researcher", department: "research" }).setProtectedHeader({ alg: "EdDSA", kid })
      .setSubject("res-7").setIssuer(idp).setAudience("fedrouter-api").setExpirationTime("5m").sign(key);
    const accepted = await call(server.url, "POST", "/v1/inference", { token: await sign(privateKey, "idp-1"), body: inference });
    assert.equal(accepted.status, 200, JSON.stringify(accepted.json));
    assert.deepEqual(server.service.requests[0]!.caller, { userId: "res-7", role: "researcher", department: "research", issuer: idp });
    assert.ok(fetches >= 1, "the JWKS was fetched");
    const other = await generateKeyPair("EdDSA");
    const forged = await call(server.url, "POST", "/v1/inference", { token: await sign(other.privateKey, "idp-1"), body: inference });
    assert.equal(forged.status, 401);
    assert.equal(forged.json.error.message, "the token's signature does not verify");
    // The local issuer's name on a token signed by the IdP's key: checked with the local key, refused.
    const confused = await new SignJWT({ role: "admin", department: "it" }).setProtectedHeader({ alg: "EdDSA", kid: "idp-1" }).setSubject("x").setIssuer(ISSUER)
      .setAudience(AUDIENCE).setExpirationTime("5m").sign(privateKey);
    const refused = await call(server.url, "POST", "/v1/admin/nodes", { token: confused, body: { node_id: "n", endpoint: "https://n.example" } });
    assert.equal(refused.status, 401);
    assert.match(refused.json.error.message, /algorithm is not accepted/);
  } finally {
    await server.close();
    await new Promise((done) => jwks.close(done));
  }
});

test("POST /v1/auth/token: a user of the local store gets an EdDSA JWT that the API accepts; a wrong password or unknown user gets 401", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-http-auth-"));
  const { publicKey, privateKey } = await generateKeyPair("EdDSA");
  const file = join(dir, "users.json");
  await addUser(file, { id: "dr-smith", role: "doctor", department: "emergency", password: "correct horse battery" });
  const server = await startServer({ auth: { issuer: ISSUER, audience: AUDIENCE, signing: { alg: "EdDSA", privateKey, publicKey }, tokenTtlSeconds: 600 }, users: file });
  try {
    const issued = await call(server.url, "POST", "/v1/auth/token", { body: { username: "dr-smith", password: "correct horse battery" } });
    assert.equal(issued.status, 200, JSON.stringify(issued.json));
    assert.deepEqual({ ...issued.json, access_token: "…", token: "…" }, { access_token: "…", token: "…", token_type: "Bearer", expires_in: 600, user_id: "dr-smith", role: "doctor", department: "emergency" });
    assert.equal(issued.json.access_token, issued.json.token);
    const header = JSON.parse(Buffer.from(issued.json.token.split(".")[0], "base64url").toString());
    assert.equal(header.alg, "EdDSA");
    const used = await call(server.url, "POST", "/v1/inference", { token: issued.json.access_token, body: inference });
    assert.equal(used.status, 200, JSON.stringify(used.json));
    assert.equal(server.service.requests[0]!.request.department, "emergency");
    const seeds = await call(server.url, "POST", "/v1/auth/token", { body: { user_id: "dr-smith", password: "correct horse battery" } });
    assert.equal(seeds.status, 200, "the seeds' { user_id, password } form");
    const wrong = await call(server.url, "POST", "/v1/auth/token", { body: { username: "dr-smith", password: "wrong password!" } });
    const unknown = await call(server.url, "POST", "/v1/auth/token", { body: { username: "nobody", password: "correct horse battery" } });
    for (const refused of [wrong, unknown]) {
      assert.equal(refused.status, 401);
      assert.deepEqual(refused.json.error, { type: "unauthorized", message: "unknown user or wrong password" });
    }
    const malformed = await call(server.url, "POST", "/v1/auth/token", { body: { username: "dr-smith" } });
    assert.equal(malformed.status, 400);
    assert.match(malformed.json.error.message, /^password: /);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("POST /v1/auth/token without a local user store is 503 unavailable", async () => {
  const server = await startServer();
  try {
    const { status, json } = await call(server.url, "POST", "/v1/auth/token", { body: { username: "a", password: "b" } });
    assert.equal(status, 503);
    assert.equal(json.error.type, "unavailable");
  } finally {
    await server.close();
  }
});

/**
 * Issue 15, finding 5: errors raised before the error handler — by Node's HTTP parser (bare LF,
 * obs-fold, oversized headers, smuggling-shaped framing), by Node's server (no Host, an Expect it
 * does not meet) and by fastify (an over-long path parameter, a bad percent-escape, a request
 * arriving while the server closes) — answered `{"error":"Bad Request","message":…}` or an empty
 * body instead of the documented `{"error":{"type","message"}}`. The bytes here go over a plain
 * socket, since fetch would refuse to send most of them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { createHttpApi, HTTP_ERROR_TYPES } from "../../actors/router/http/index.ts";
import { AUDIENCE, call, FakeService, ISSUER, SECRET, startServer } from "../actors/router/http/fake-service.ts";

interface RawResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** Writes `bytes` to the server and reads until it closes the connection (or 5 s pass). */
function sendRaw(url: string, bytes: string): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error("no answer within 5 s")));
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => { if (error.code !== "ECONNRESET" && error.code !== "EPIPE") reject(error); });
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return reject(new Error(`no HTTP response: ${JSON.stringify(text.slice(0, 200))}`));
      const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
      const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()] as const));
      resolve({ status: Number(statusLine!.split(" ")[1]), headers, body: text.slice(end + 4) });
    });
    socket.write(bytes, "latin1");
  });
}

function assertDocumentedShape(response: RawResponse, status: number, type: string): { type: string; message: string } {
  assert.equal(response.status, status, response.body.slice(0, 300));
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  assert.equal(Number(response.headers.get("content-length")), Buffer.byteLength(response.body, "latin1"), "Content-Length is the body's");
  const json = JSON.parse(response.body) as { error: { type: string; message: string } };
  assert.deepEqual(Object.keys(json), ["error"]);
  assert.ok((HTTP_ERROR_TYPES as readonly string[]).includes(json.error.type), json.error.type);
  assert.equal(json.error.type, type);
  assert.equal(typeof json.error.message, "string");
  assert.ok(json.error.message.length > 10 && json.error.message.length < 300, json.error.message);
  return json.error;
}

test("what Node's HTTP parser refuses is answered in the documented shape: bare LF, obs-fold, a 20 kB header, conflicting framing", async () => {
  const server = await startServer();
  try {
    const bareLf = await sendRaw(server.url, "GET /v1/health HTTP/1.1\nHost: localhost\n\n");
    assert.match(assertDocumentedShape(bareLf, 400, "invalid_request").message, /not valid HTTP\/1\.1/);

    const obsFold = await sendRaw(server.url, "GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Note: first\r\n second line\r\n\r\n");
    assert.match(assertDocumentedShape(obsFold, 400, "invalid_request").message, /not valid HTTP\/1\.1/);

    const big = await sendRaw(server.url, `GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    const bigError = assertDocumentedShape(big, 431, "invalid_request");
    assert.match(bigError.message, /headers are larger than 16384 bytes/);
    assert.doesNotMatch(big.body, /aaaaaaaa/, "the header is not echoed");

    const smuggled = await sendRaw(server.url, "POST /v1/inference HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assertDocumentedShape(smuggled, 400, "invalid_request");

    const badLength = await sendRaw(server.url, "POST /v1/inference HTTP/1.1\r\nHost: localhost\r\nContent-Length: ten\r\n\r\n");
    assertDocumentedShape(badLength, 400, "invalid_request");

    const noHost = await sendRaw(server.url, "GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n");
    const noHostError = assertDocumentedShape(noHost, 400, "invalid_request");
    assert.match(noHostError.message, /^Host: /);

    const expectation = await sendRaw(server.url, "POST /v1/inference HTTP/1.1\r\nHost: localhost\r\nExpect: magic\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    const expectationError = assertDocumentedShape(expectation, 417, "invalid_request");
    assert.match(expectationError.message, /^Expect: /);

    const after = await call(server.url, "GET", "/v1/health");
    assert.equal(after.status, 200, "the server keeps serving");
  } finally {
    await server.close();
  }
});

test("what the router refuses is answered in the documented shape: a 2 kB path parameter is 414, a bad percent-escape 400, an unknown path 404", async () => {
  const server = await startServer();
  try {
    const long = await sendRaw(server.url, `GET /v1/privacy/budget/${"a".repeat(2_000)} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    const longError = assertDocumentedShape(long, 414, "invalid_request");
    assert.match(longError.message, /longer than 128 characters/);
    assert.doesNotMatch(long.body, /aaaaaaaa/, "the path is not echoed");

    const escape = await sendRaw(server.url, "GET /v1/privacy/budget/%zz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert.match(assertDocumentedShape(escape, 400, "invalid_request").message, /percent-escape/);
    const longEscape = await sendRaw(server.url, `GET /v1/${"a".repeat(2_000)}%zz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    assertDocumentedShape(longEscape, 400, "invalid_request");
    assert.doesNotMatch(longEscape.body, /aaaaaaaa/, "the path is not echoed");

    const unknown = await sendRaw(server.url, "GET /v1/nothing-here HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assertDocumentedShape(unknown, 404, "not_found");
  } finally {
    await server.close();
  }
});

test("a request that arrives while the server closes is 503 unavailable in the documented shape", async () => {
  const app = await createHttpApi(new FakeService(), { auth: { issuer: ISSUER, audience: AUDIENCE, signing: { alg: "HS256", secret: SECRET } } });
  await app.ready();
  const closing = app.close();
  const answer = await app.inject({ method: "GET", url: "/v1/health" });
  await closing;
  assert.equal(answer.statusCode, 503, answer.body);
  assert.match(answer.headers["content-type"] as string, /^application\/json/);
  assert.equal(answer.headers.connection, "close");
  const json = answer.json() as { error: { type: string; message: string } };
  assert.deepEqual(Object.keys(json), ["error"]);
  assert.equal(json.error.type, "unavailable");
  assert.match(json.error.message, /shutting down/);
});

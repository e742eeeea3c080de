import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ActorSystem, createFrameCodec, supervisor, actor } from "../../../runtime/index.ts";
import { createDevPki, readTlsFiles } from "../../../runtime/remote/dev-certs.ts";
import { AdminServer } from "../../../runtime/remote/admin-server.ts";
import { adminService, type WireActorInfo, type WireActorTree, type WireBreaker, type WireBreakerList, type WireDeadLetter, type WireEvent } from "../../../runtime/remote/admin-proto.ts";
import { counter } from "../../fixtures/actors.ts";

let dir: string;
let system: ActorSystem;
let admin: AdminServer;
const clients: grpc.Client[] = [];

function tls(id: string) {
  return readTlsFiles(join(dir, "ca.crt"), join(dir, `${id}.crt`), join(dir, `${id}.key`));
}

function client(id = "operator"): grpc.Client {
  const { caPem, keyPem, certPem } = tls(id);
  const Admin = adminService();
  // The node's certificate names it "node-a"; the address is an IP.
  const made = new Admin(admin.address, grpc.credentials.createSsl(caPem, keyPem, certPem), { "grpc.ssl_target_name_override": "node-a" });
  clients.push(made);
  return made;
}

type Unary = (request: unknown, options: grpc.CallOptions, done: (error: grpc.ServiceError | null, reply: unknown) => void) => void;

function call<R>(c: grpc.Client, method: string, request: unknown): Promise<R> {
  const fn = (c as unknown as Record<string, Unary>)[method]!.bind(c);
  return new Promise((resolve, reject) => fn(request, { deadline: Date.now() + 10_000 }, (error, reply) => (error ? reject(error) : resolve(reply as R))));
}

async function rejects(promise: Promise<unknown>, code: grpc.status, details: RegExp): Promise<void> {
  await assert.rejects(promise, (error: grpc.ServiceError) => {
    assert.equal(error.code, code, `expected ${grpc.status[code]}, got ${grpc.status[error.code]}: ${error.details}`);
    assert.match(error.details, details);
    return true;
  });
}

/** Opens a server stream and resolves once its headers arrived: from then on it sees every item. */
async function open<T>(c: grpc.Client, method: "Events" | "DeadLetters", recent = 0): Promise<{ items: T[]; stream: grpc.ClientReadableStream<T> }> {
  const stream = (c as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<T>>)[method]!.call(c, { recent });
  const items: T[] = [];
  stream.on("data", (item: T) => items.push(item));
  stream.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    stream.once("metadata", () => resolve());
    stream.once("error", reject);
  });
  return { items, stream };
}

/** Polls `check` every 10 ms until it holds: waits for a condition, never a fixed time. */
async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "fedrouter-admin-"));
  createDevPki(dir, ["node-a", "operator", "intruder"]);
  system = await ActorSystem.start({ node: "node-a", logLevel: "silent" });
  await system.spawn(counter, 0, { name: "counter" });
  await system.spawn(counter, 10, { name: "other" });
  await system.startChild(supervisor("core", [actor("inner", counter, 100)]));
  admin = await AdminServer.start(system, { listen: "127.0.0.1:0", security: tls("node-a") });
});

after(async () => {
  for (const c of clients) c.close();
  await admin.stop();
  await system.stop();
  rmSync(dir, { recursive: true, force: true });
});

const json = (path: string, body: unknown, timeout_ms = 0) => ({ path, json: JSON.stringify(body), timeout_ms });

test("ListActors shows the supervision tree with each actor's placement and status", async () => {
  const { root } = await call<WireActorTree>(client(), "ListActors", {});
  assert.equal(root!.path, "fed://node-a/user");
  assert.equal(root!.placement, "supervisor");
  const paths = root!.children.map((c) => c.path);
  assert.deepEqual(paths, ["fed://node-a/user/counter", "fed://node-a/user/other", "fed://node-a/user/core"]);
  const first = root!.children[0]!;
  assert.equal(first.placement, "local");
  assert.equal(first.status, "running");
  assert.deepEqual(root!.children[2]!.children.map((c) => c.path), ["fed://node-a/user/core/inner"]);
});

test("Ask returns the reply as JSON; a Tell before it shows in the next answer", async () => {
  const c = client();
  const before = await call<{ json: string }>(c, "Ask", json("fed://node-a/user/other", { type: "get" }));
  assert.equal(JSON.parse(before.json), 10);
  await call(c, "Tell", json("fed://node-a/user/other", { type: "add", n: 5 }));
  const after = await call<{ json: string }>(c, "Ask", json("fed://node-a/user/other", { type: "get" }));
  assert.equal(JSON.parse(after.json), 15);
  const inner = await call<{ json: string }>(c, "Ask", json("fed://node-a/user/core/inner", { type: "get" }));
  assert.equal(JSON.parse(inner.json), 100);
  // {"$ref": path} in a body is a ref: inner forwards an add to other.
  await call(c, "Tell", json("fed://node-a/user/core/inner", { type: "forward", to: { $ref: "fed://node-a/user/other" }, n: 2 }));
  await call(c, "Ask", json("fed://node-a/user/core/inner", { type: "get" })); // inner has forwarded by now
  const forwarded = await call<{ json: string }>(c, "Ask", json("fed://node-a/user/other", { type: "get" }));
  assert.equal(JSON.parse(forwarded.json), 17);
  const whoami = await call<{ json: string }>(c, "Ask", json("fed://node-a/user/other", { type: "whoami" }));
  assert.deepEqual(JSON.parse(whoami.json), { path: "fed://node-a/user/other", threadId: 0 });
});

test("a msgpack body (a codec frame) is answered with a msgpack reply as well as JSON", async () => {
  const codec = createFrameCodec();
  const reply = await call<{ json: string; msgpack: Buffer }>(client(), "Ask", {
    path: "fed://node-a/user/counter",
    msgpack: Buffer.from(codec.encode([{ type: "sum", values: new Float32Array([1, 2, 3.5]) }]).bytes),
  });
  assert.equal(JSON.parse(reply.json), 6.5);
  const decoded = codec.decode(new Uint8Array(reply.msgpack));
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.values, [6.5]);
});

test("Restart restarts exactly that actor under its supervisor, visible as a restarted event", async () => {
  const c = client();
  await call(c, "Tell", json("fed://node-a/user/counter", { type: "add", n: 7 }));
  await call(c, "Tell", json("fed://node-a/user/other", { type: "add", n: 1 }));
  const otherBefore = JSON.parse((await call<{ json: string }>(c, "Ask", json("fed://node-a/user/other", { type: "get" }))).json) as number;
  const { items, stream } = await open<WireEvent>(c, "Events");
  try {
    const reply = await call<{ restarts: number }>(c, "Restart", { path: "fed://node-a/user/counter" });
    assert.equal(reply.restarts, 1);
    await until(() => items.some((e) => e.type === "restarted"));
    const restarted = items.find((e) => e.type === "restarted")!;
    assert.equal(restarted.path, "fed://node-a/user/counter");
    assert.equal(restarted.restarts, 1);
    assert.ok(restarted.at_ms > 0);
    // A fresh behaviour from its arguments; the sibling keeps its state.
    assert.equal(JSON.parse((await call<{ json: string }>(c, "Ask", json("fed://node-a/user/counter", { type: "get" }))).json), 0);
    assert.equal(JSON.parse((await call<{ json: string }>(c, "Ask", json("fed://node-a/user/other", { type: "get" }))).json), otherBefore);
    await call(c, "Restart", { path: "fed://node-a/user/core/inner" });
    await until(() => items.some((e) => e.type === "restarted" && e.path === "fed://node-a/user/core/inner"));
    const info = await call<WireActorInfo>(c, "InspectActor", { path: "fed://node-a/user/core/inner" });
    assert.equal(info.restarts, 1);
    assert.equal(info.status, "running");
  } finally {
    stream.cancel();
  }
  // A later subscriber may ask for recent events.
  const late = await open<WireEvent>(c, "Events", 256);
  try {
    await until(() => late.items.some((e) => e.type === "restarted" && e.path === "fed://node-a/user/counter"));
  } finally {
    late.stream.cancel();
  }
});

test("a client certificate whose CN is not an operator is refused with PERMISSION_DENIED, and logged", async (t) => {
  const intruder = client("intruder");
  const warnings: [string, Record<string, unknown> | undefined][] = [];
  const warn = system.log.warn;
  system.log.warn = (event, fields) => void warnings.push([event, fields]);
  t.after(() => {
    system.log.warn = warn;
  });
  await rejects(call(intruder, "ListActors", {}), grpc.status.PERMISSION_DENIED, /CN "intruder" is not an operator of node node-a \(allowed: operator\)/);
  await rejects(call(intruder, "Restart", { path: "fed://node-a/user/counter" }), grpc.status.PERMISSION_DENIED, /intruder/);
  const stream = (intruder as unknown as { Events(r: unknown): grpc.ClientReadableStream<WireEvent> }).Events({});
  await rejects(new Promise((resolve, reject) => {
    stream.on("data", resolve);
    stream.on("error", reject);
  }), grpc.status.PERMISSION_DENIED, /intruder/);
  assert.deepEqual(warnings.map(([event, fields]) => [event, fields?.cn, fields?.method]), [
    ["admin-refused", "intruder", "/fedrouter.admin.v1.Admin/ListActors"],
    ["admin-refused", "intruder", "/fedrouter.admin.v1.Admin/Restart"],
    ["admin-refused", "intruder", "/fedrouter.admin.v1.Admin/Events"],
  ]);
});

test("bodies that are not JSON objects with a string type, or too large, are INVALID_ARGUMENT with the reason", async () => {
  const c = client();
  const path = "fed://node-a/user/counter";
  await rejects(call(c, "Ask", { path, json: "{not json" }), grpc.status.INVALID_ARGUMENT, /^INVALID_ARGUMENT: json: is not valid JSON/);
  await rejects(call(c, "Tell", { path, json: "[1,2]" }), grpc.status.INVALID_ARGUMENT, /body: must be an object/);
  await rejects(call(c, "Tell", { path, json: "{\"n\":1}" }), grpc.status.INVALID_ARGUMENT, /body.type: must be a non-empty string/);
  await rejects(call(c, "Tell", { path }), grpc.status.INVALID_ARGUMENT, /json: is missing/);
  const big = JSON.stringify({ type: "add", pad: "x".repeat(64 * 1024) });
  await rejects(call(c, "Tell", { path, json: big }), grpc.status.INVALID_ARGUMENT, /json: is \d+ bytes; the limit is 65536/);
  await rejects(call(c, "Ask", { path: `fed://node-a/user/${"a".repeat(1100)}`, json: "{\"type\":\"get\"}" }), grpc.status.INVALID_ARGUMENT, /path: is 1\d{3} bytes; the limit is 1024/);
  await rejects(call(c, "InspectActor", { path: "counter" }), grpc.status.INVALID_ARGUMENT, /^INVALID_PATH: .*missing fed:\/\/ scheme/);
  await rejects(call(c, "Ask", { ...json(path, { type: "get" }), timeout_ms: 3_600_000 }), grpc.status.INVALID_ARGUMENT, /timeout_ms: 3600000 is above the limit/);
  await rejects(call(c, "Ask", { path, msgpack: Buffer.from([9, 1, 2]) }), grpc.status.INVALID_ARGUMENT, /^DECODE_ERROR: /);
});

test("an unknown path is NOT_FOUND with the path in the message; a slow actor is DEADLINE_EXCEEDED (ASK_TIMEOUT)", async () => {
  const c = client();
  const ghost = "fed://node-a/user/ghost";
  await rejects(call(c, "Ask", json(ghost, { type: "get" })), grpc.status.NOT_FOUND, /^ACTOR_NOT_FOUND: no actor at fed:\/\/node-a\/user\/ghost/);
  await rejects(call(c, "Tell", json(ghost, { type: "get" })), grpc.status.NOT_FOUND, /ACTOR_NOT_FOUND/);
  await rejects(call(c, "InspectActor", { path: ghost }), grpc.status.NOT_FOUND, /ghost/);
  await rejects(call(c, "Restart", { path: ghost }), grpc.status.NOT_FOUND, /ghost/);
  await rejects(call(c, "Ask", json("fed://node-a/user/counter", { type: "sleep", ms: 400 }, 50)), grpc.status.DEADLINE_EXCEEDED, /^ASK_TIMEOUT: .* within 50 ms/);
});

test("Breakers lists every breaker and ForceBreaker forces or resets one; unknown targets are NOT_FOUND", async () => {
  const c = client();
  system.breakers.get("fed://node-z");
  const forced = await call<WireBreaker>(c, "ForceBreaker", { target: "fed://node-z", state: "open" });
  assert.equal(forced.state, "forced-open");
  const { breakers } = await call<WireBreakerList>(c, "Breakers", {});
  assert.deepEqual(breakers.map((b) => [b.target, b.state]), [["fed://node-z", "forced-open"]]);
  assert.equal((await call<WireBreaker>(c, "ForceBreaker", { target: "fed://node-z", state: "reset" })).state, "closed");
  await rejects(call(c, "ForceBreaker", { target: "fed://nowhere", state: "open" }), grpc.status.NOT_FOUND, /no circuit breaker for "fed:\/\/nowhere" \(known: fed:\/\/node-z\)/);
  await rejects(call(c, "ForceBreaker", { target: "fed://node-z", state: "ajar" }), grpc.status.INVALID_ARGUMENT, /state: "ajar" is not open, closed or reset/);
});

test("DeadLetters streams undeliverable messages with their reason and type, never the payload", async () => {
  const c = client();
  const { items, stream } = await open<WireDeadLetter>(c, "DeadLetters");
  try {
    system.ref("fed://node-a/user/ghost").tell({ type: "secret-bearing", text: "patient notes" });
    await until(() => items.length > 0);
    assert.equal(items[0]!.to, "fed://node-a/user/ghost");
    assert.equal(items[0]!.reason, "no-such-actor");
    assert.equal(items[0]!.message_type, "secret-bearing");
    assert.doesNotMatch(JSON.stringify(items), /patient notes/);
  } finally {
    stream.cancel();
  }
});

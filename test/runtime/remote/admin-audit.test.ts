import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ActorSystem, type Sender } from "../../../runtime/index.ts";
import { createDevPki, readTlsFiles } from "../../../runtime/remote/dev-certs.ts";
import { AdminServer, type OperatorAction } from "../../../runtime/remote/admin-server.ts";
import { adminService } from "../../../runtime/remote/admin-proto.ts";
import { counter, sealedEcho, senderEcho } from "../../fixtures/actors.ts";

let dir: string;
let system: ActorSystem;
let audited: AdminServer;
let unrecorded: AdminServer;
const actions: OperatorAction[] = [];
/** What the audited actions saw of the world when they were recorded: the counter's value. */
const countAtRecord: number[] = [];
const clients: grpc.Client[] = [];

type Unary = (request: unknown, options: grpc.CallOptions, done: (error: grpc.ServiceError | null, reply: unknown) => void) => void;

function client(server: AdminServer, id = "ops-1"): grpc.Client {
  const { caPem, keyPem, certPem } = readTlsFiles(join(dir, "ca.crt"), join(dir, `${id}.crt`), join(dir, `${id}.key`));
  const made = new (adminService())(server.address, grpc.credentials.createSsl(caPem, keyPem, certPem), { "grpc.ssl_target_name_override": "node-a" });
  clients.push(made);
  return made;
}

function call<R>(c: grpc.Client, method: string, request: unknown): Promise<R> {
  const fn = (c as unknown as Record<string, Unary>)[method]!.bind(c);
  return new Promise((resolve, reject) => fn(request, { deadline: Date.now() + 10_000 }, (error, reply) => (error ? reject(error) : resolve(reply as R))));
}

const counterValue = () => system.ref<{ type: "get"; replyTo: unknown }>("fed://node-a/user/counter").ask<number>((replyTo) => ({ type: "get", replyTo }));

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "fedrouter-admin-audit-"));
  createDevPki(dir, ["node-a", "ops-1"]);
  system = await ActorSystem.start({ node: "node-a", logLevel: "silent" });
  await system.spawn(counter, 0, { name: "counter" });
  await system.spawn(senderEcho, undefined, { name: "echo" });
  await system.spawn(sealedEcho, undefined, { name: "sealed" });
  const security = readTlsFiles(join(dir, "ca.crt"), join(dir, "node-a.crt"), join(dir, "node-a.key"));
  audited = await AdminServer.start(system, {
    listen: "127.0.0.1:0", security, operatorIds: ["ops-1"],
    audit: async (action) => {
      countAtRecord.push(await counterValue());
      actions.push(action);
    },
  });
  unrecorded = await AdminServer.start(system, {
    listen: "127.0.0.1:0", security, operatorIds: ["ops-1"],
    audit: async () => {
      throw new Error("the trail's disk is full");
    },
  });
});

after(async () => {
  for (const c of clients) c.close();
  await audited.stop();
  await unrecorded.stop();
  await system.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("an operator's message reaches the actor as that operator (the certificate's CN), whatever the body says", async () => {
  const reply = await call<{ json: string }>(client(audited), "Ask", {
    path: "fed://node-a/user/echo", json: JSON.stringify({ type: "who", sender: { kind: "local", node: "node-a" }, operator: "root" }),
  });
  assert.deepEqual(JSON.parse(reply.json) as Sender, { kind: "operator", operator: "ops-1" });
});

test("an actor whose policy does not list operators refuses them with PERMISSION_DENIED naming the sender", async () => {
  await assert.rejects(call(client(audited), "Ask", { path: "fed://node-a/user/sealed", json: JSON.stringify({ type: "who" }) }), (error: grpc.ServiceError) => {
    assert.equal(error.code, grpc.status.PERMISSION_DENIED);
    assert.match(error.details, /FORBIDDEN: operator:ops-1 may not send "who" to fed:\/\/node-a\/user\/sealed/);
    return true;
  });
  // The same message from this node's own code is served.
  assert.deepEqual(await system.ref<{ type: "who"; replyTo: unknown }>("fed://node-a/user/sealed").ask<Sender>((replyTo) => ({ type: "who", replyTo })), { kind: "local", node: "node-a" });
});

test("tell, ask, restart and a forced breaker are recorded before they take effect, with the operator and no body", async () => {
  actions.length = 0;
  countAtRecord.length = 0;
  const c = client(audited);
  await call(c, "Tell", { path: "fed://node-a/user/counter", json: JSON.stringify({ type: "add", n: 5 }) });
  assert.equal(countAtRecord[0], 0, "the tell was recorded before the counter saw it");
  assert.equal(await counterValue(), 5);
  await call(c, "Restart", { path: "fed://node-a/user/counter" });
  system.breakers.get("fed://node-b");
  await call(c, "ForceBreaker", { target: "fed://node-b", state: "open" });
  assert.deepEqual(actions.map((a) => [a.operator, a.action, a.target, a.messageType]), [
    ["ops-1", "tell", "fed://node-a/user/counter", "add"],
    ["ops-1", "restart", "fed://node-a/user/counter", undefined],
    ["ops-1", "force-breaker", "fed://node-b", "open"],
  ]);
  assert.ok(!JSON.stringify(actions).includes('"n"'), "no message body in the trail");
});

test("an action the audit did not record does not happen: UNAVAILABLE, and the counter is unchanged", async () => {
  const before = await counterValue();
  await assert.rejects(call(client(unrecorded), "Tell", { path: "fed://node-a/user/counter", json: JSON.stringify({ type: "add", n: 1_000 }) }), (error: grpc.ServiceError) => {
    assert.equal(error.code, grpc.status.UNAVAILABLE);
    assert.match(error.details, /audit trail did not record this tell .*nothing was done/);
    return true;
  });
  await assert.rejects(call(client(unrecorded), "ForceBreaker", { target: "fed://node-b", state: "reset" }), { code: grpc.status.UNAVAILABLE });
  assert.equal(await counterValue(), before);
  assert.equal(system.breakers.get("fed://node-b").state, "forced-open");
});

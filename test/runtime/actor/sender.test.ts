import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ActorSystem, Forbidden, compileAccess, describeSender, type DeadLetter, type Sender } from "../../../runtime/index.ts";
import { twoMtlsNodes } from "../../fixtures/two-nodes.ts";
import { readRows, toRows } from "../../../runtime/internal/frame-rows.ts";
import type { Envelope } from "../../../runtime/internal/envelope.ts";
import { sealedEcho, senderEcho, type WhoMsg } from "../../fixtures/actors.ts";
import { until } from "../../fixtures/cluster-processes.ts";

const doctor: Sender = { kind: "user", user: "dr-lee", role: "doctor", department: "radiology" };
const who = (replyTo: unknown) => ({ type: "who", replyTo }) as WhoMsg;

test("code of this node sends as the node; an edge speaks for its caller with `as`, in the same thread and across threads", async () => {
  const system = await ActorSystem.start({ node: "h-a", logLevel: "silent" });
  try {
    for (const placement of ["local", "worker"] as const) {
      const echo = await system.spawn(senderEcho, undefined, { name: `echo-${placement}`, placement });
      assert.deepEqual(await echo.ask<Sender>(who), { kind: "local", node: "h-a" }, placement);
      assert.deepEqual(await echo.ask<Sender>(who, { as: doctor }), doctor, placement);
    }
  } finally {
    await system.stop();
  }
});

test("a sender the policy does not list is refused before the mailbox: FORBIDDEN to the asker, a 'forbidden' dead letter naming it", async () => {
  const system = await ActorSystem.start({ node: "h-a", logLevel: "silent" });
  const letters: DeadLetter[] = [];
  system.deadLetters$.subscribe((l) => letters.push(l));
  try {
    for (const placement of ["local", "worker"] as const) {
      const sealed = await system.spawn(sealedEcho, undefined, { name: `sealed-${placement}`, placement });
      await assert.rejects(sealed.ask(who, { as: doctor }), (error: Forbidden) => {
        assert.equal(error.code, "FORBIDDEN");
        assert.equal(error.sender, "user:dr-lee");
        assert.equal(error.messageType, "who");
        return true;
      });
      await assert.rejects(sealed.send({ type: "who", replyTo: system.ref("fed://h-a/user/nobody") } as WhoMsg, { as: { kind: "operator", operator: "ops-1" } }), { code: "FORBIDDEN" });
      assert.deepEqual(await sealed.ask<Sender>(who), { kind: "local", node: "h-a" }, "this node's own code is still served");
    }
    await until(() => letters.filter((l) => l.reason === "forbidden").length >= 4, "forbidden dead letters");
    const forbidden = letters.filter((l) => l.reason === "forbidden");
    assert.deepEqual(new Set(forbidden.map((l) => l.sender)), new Set(["user:dr-lee", "operator:ops-1"]));
    assert.ok(forbidden.every((l) => l.messageType === "who"));
    const metrics = await system.metrics.registry.metrics();
    assert.match(metrics, /fedrouter_dead_letters_total\{[^}]*reason="forbidden"[^}]*\} [4-9]/);
    const tree = await system.tree();
    const sealedLocal = tree.children!.find((c) => c.path.endsWith("sealed-local"))!;
    assert.equal(sealedLocal.processed, 1, "only the local ask was ever handled");
  } finally {
    await system.stop();
  }
});

test("over the network the sender is the peer's certificate identity, whatever the caller asked to speak as", async () => {
  const { a, b, stop } = await twoMtlsNodes("fedrouter-sender-");
  try {
    await a.spawn(senderEcho, undefined, { name: "echo" });
    await a.spawn(sealedEcho, undefined, { name: "sealed" });
    const echo = b.ref<WhoMsg>("fed://node-a/user/echo");
    const peer = { kind: "peer", node: "node-b" };
    assert.deepEqual(await echo.ask<Sender>(who), peer);
    assert.deepEqual(await echo.ask<Sender>(who, { as: { kind: "operator", operator: "ops-1" } }), peer);
    assert.deepEqual(await echo.ask<Sender>(who, { as: { kind: "local", node: "node-a" } }), peer);
    await assert.rejects(b.ref<WhoMsg>("fed://node-a/user/sealed").ask(who, { as: { kind: "local", node: "node-a" } }), { code: "FORBIDDEN", sender: "peer:node-b" });
  } finally {
    await stop();
  }
});

const senders = fc.oneof(
  fc.record({ kind: fc.constant("local" as const), node: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ kind: fc.constant("peer" as const), node: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ kind: fc.constant("operator" as const), operator: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ kind: fc.constant("user" as const), user: fc.string({ minLength: 1, maxLength: 20 }), role: fc.string(), department: fc.string() }),
);

test("frame rows carry the sender between threads and leave it out between nodes", () => {
  fc.assert(fc.property(fc.array(fc.record({ to: fc.constantFrom("fed://a/user/x", "fed://a/user/y"), msg: fc.jsonValue(), ask: fc.option(fc.constant("fed://a/temp/main/1"), { nil: undefined }), sender: fc.option(senders, { nil: undefined }) }), { maxLength: 20 }), (batch) => {
    const envs: Envelope[] = batch.map(({ to, msg, ask, sender }) => ({ to, msg, ...(ask ? { ask } : {}), ...(sender ? { sender } : {}) }));
    const read = (values: unknown[]) => {
      const out: Envelope[] = [];
      readRows(values, (env) => out.push(env), (problem) => assert.fail(problem));
      return out;
    };
    assert.deepEqual(read(toRows(envs)).map((e) => e.sender), envs.map((e) => e.sender));
    assert.ok(read(toRows(envs, false)).every((e) => e.sender === undefined));
  }));
});

test("a compiled policy allows exactly what it lists; an unlisted type is for local code only", () => {
  const access = compileAccess({ step: ["local", "peer"], load: ["operator"] });
  assert.equal(access.localAll, false);
  assert.ok(access.allows("step", "peer"));
  assert.ok(!access.allows("step", "user"));
  assert.ok(!access.allows("load", "local"));
  assert.ok(access.allows("unknown", "local"));
  assert.ok(!access.allows("unknown", "peer"));
  assert.ok(!access.allows(undefined, "operator"));
  assert.equal(describeSender({ kind: "peer", node: "h-b" }), "peer:h-b");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { AskTimeout, BehaviorTestKit, defineActor, type ActorRef, type Behavior } from "../../../runtime/index.ts";

test("the doc example: a counter run through the kit answers its inbox, and a peer is refused by its access policy", async () => {
  type CounterMsg = { type: "add"; n: number } | { type: "get"; replyTo: ActorRef<number> };
  const counter = defineActor<CounterMsg, number>(import.meta.url, "counter", (start) => {
    let total = start;
    return { receive(msg) { if (msg.type === "add") total += msg.n; else msg.replyTo.tell(total); } };
  });
  const kit = BehaviorTestKit.of(counter, 40);
  await kit.run({ type: "add", n: 2 });
  const replies = kit.inbox<number>();
  assert.deepEqual(await kit.run({ type: "get", replyTo: replies.ref }), { type: "handled" });
  assert.equal(replies.expectMessage(), 42);
  const peer = { kind: "peer", node: "node-b" } as const;
  assert.equal((await kit.run({ type: "add", n: 1 }, { sender: peer })).type, "forbidden"); // no access policy: local and operators only
});

type DeskMsg =
  | { type: "whoami"; replyTo: ActorRef<string> }
  | { type: "own"; owner: string; replyTo: ActorRef<string> }
  | { type: "quote"; replyTo: ActorRef<string> }
  | { type: "later"; replyTo: ActorRef<string> }
  | { type: "tick" }
  | { type: "boom" }
  | { type: "fail-async" }
  | { type: "quit" };

const desk = defineActor<DeskMsg, { quotes: string }>(import.meta.url, "desk", ({ quotes }) => {
  const events: string[] = [];
  return {
    start(ctx) {
      events.push("start");
      ctx.log.info("desk-ready", { at: ctx.nowMs() });
    },
    async receive(msg, ctx) {
      switch (msg.type) {
        case "whoami": {
          const s = ctx.sender;
          return msg.replyTo.tell(`${s.kind}:${s.kind === "user" ? s.user : s.kind === "operator" ? s.operator : s.node}@${ctx.nowMs()}`);
        }
        case "own":
          if (ctx.sender.kind === "peer" && ctx.sender.node !== msg.owner) {
            ctx.refused(`${ctx.sender.node} is not ${msg.owner}`);
            return msg.replyTo.tell("refused");
          }
          return msg.replyTo.tell("ok");
        case "quote": {
          const price = await ctx.lookup<{ type: "price"; replyTo: ActorRef<number> }>(quotes).ask<number>((replyTo) => ({ type: "price", replyTo }), { timeoutMs: 1_000 })
            .then((p) => `price ${p}`, (e: Error) => `no quote: ${e.message}`);
          return msg.replyTo.tell(price);
        }
        case "later":
          setImmediate(() => msg.replyTo.tell("done later"));
          return;
        case "tick":
          ctx.self.tell({ type: "boom" });
          return;
        case "boom":
          throw new Error("boom");
        case "fail-async":
          await Promise.resolve();
          throw new Error("async boom");
        case "quit":
          ctx.stopSelf();
          return;
      }
    },
    stop(ctx) {
      ctx.log.warn("desk-stopping");
    },
  };
}, { access: { whoami: ["local", "peer", "user"], own: ["local", "peer"], quote: ["local"], later: ["local"], tick: ["local"], boom: ["local"], "fail-async": ["local"], quit: ["local"] } });

test("the sender and the clock are the test's: ctx.sender per message, ctx.nowMs() from the kit", async () => {
  const kit = BehaviorTestKit.of(desk, { quotes: "fed://test/user/quotes" }, { nowMs: 1_000 });
  assert.equal((await kit.start()).type, "handled");
  assert.deepEqual(kit.logs, [{ level: "info", event: "desk-ready", fields: { at: 1_000 } }]);
  const replies = kit.inbox<string>();
  await kit.run({ type: "whoami", replyTo: replies.ref });
  kit.advance(500);
  await kit.run({ type: "whoami", replyTo: replies.ref }, { sender: { kind: "peer", node: "node-b" } });
  await kit.run({ type: "whoami", replyTo: replies.ref }, { sender: { kind: "user", user: "u-1", role: "clinician", department: "radiology" } });
  assert.deepEqual(replies.receiveAll(), ["local:test@1000", "peer:node-b@1500", "user:u-1@1500"]);
  const refused = await kit.run({ type: "whoami", replyTo: replies.ref }, { sender: { kind: "operator", operator: "ops" } });
  assert.equal(refused.type, "forbidden");
  assert.equal(refused.type === "forbidden" && refused.error.code, "FORBIDDEN");
  replies.expectNoMessage();
});

test("a refusal by the behaviour's own rule is recorded with its detail, beside its typed answer", async () => {
  const kit = BehaviorTestKit.of(desk, { quotes: "fed://test/user/quotes" });
  await kit.start();
  const replies = kit.inbox<string>();
  await kit.run({ type: "own", owner: "node-c", replyTo: replies.ref }, { sender: { kind: "peer", node: "node-b" } });
  await kit.run({ type: "own", owner: "node-b", replyTo: replies.ref }, { sender: { kind: "peer", node: "node-b" } });
  assert.deepEqual(replies.receiveAll(), ["refused", "ok"]);
  assert.deepEqual(kit.refusals, ["node-b is not node-c"]);
});

test("an ask the behaviour makes waits for the test's answer, or its failure", async () => {
  const kit = BehaviorTestKit.of(desk, { quotes: "fed://test/user/quotes" });
  await kit.start();
  const replies = kit.inbox<string>();
  const quotes = kit.inboxAt<{ type: "price"; replyTo: ActorRef<number> }>("fed://test/user/quotes");
  const running = kit.run({ type: "quote", replyTo: replies.ref });
  const ask = await quotes.nextAsk<number>();
  assert.equal(ask.msg.type, "price");
  assert.deepEqual(ask.opts, { timeoutMs: 1_000 });
  ask.reply(7);
  assert.deepEqual(await running, { type: "handled" });
  assert.equal(replies.expectMessage(), "price 7");

  const second = kit.run({ type: "quote", replyTo: replies.ref });
  (await quotes.nextAsk<number>()).fail(new AskTimeout("fed://test/user/quotes", 1_000));
  await second;
  assert.match(replies.expectMessage(), /^no quote: fed:\/\/test\/user\/quotes did not answer within 1000 ms$/);

  // Answering through the message's own replyTo works as with a real actor.
  const third = kit.run({ type: "quote", replyTo: replies.ref });
  (await quotes.next()).replyTo.tell(9);
  await third;
  assert.equal(replies.expectMessage(), "price 9");
});

test("a reply sent after receive returned is awaited with next()", async () => {
  const kit = BehaviorTestKit.of(desk, { quotes: "fed://test/user/quotes" });
  await kit.start();
  const replies = kit.inbox<string>();
  await kit.run({ type: "later", replyTo: replies.ref });
  assert.equal(await replies.next(), "done later");
});

test("a throw, sync or async, is returned as the crash; a message to self waits in selfInbox until the test runs it", async () => {
  const kit = BehaviorTestKit.of(desk, { quotes: "fed://test/user/quotes" });
  await kit.start();
  assert.deepEqual(await kit.run({ type: "tick" }), { type: "handled" });
  const toSelf = kit.selfInbox.expectMessage({ type: "boom" });
  const crashed = await kit.run(toSelf);
  assert.equal(crashed.type, "crashed");
  assert.match(String(crashed.type === "crashed" && crashed.error), /Error: boom/);
  const crashedLater = await kit.run({ type: "fail-async" });
  assert.match(String(crashedLater.type === "crashed" && crashedLater.error), /async boom/);
});

test("stopSelf, stop and restart: the hooks run, a restart makes a fresh behaviour, a stopped one takes no message", async () => {
  let made = 0;
  const kit = new BehaviorTestKit<DeskMsg>(() => {
    made++;
    return desk.create({ quotes: "fed://test/user/quotes" });
  }, { path: "fed://n/user/desk", store: { kind: "fake-store" } });
  assert.equal(kit.node, "n");
  assert.deepEqual(kit.ctx.store, { kind: "fake-store" });
  await assert.rejects(kit.run({ type: "tick" }), /call start\(\) before run\(\)/);
  await kit.start();
  await kit.run({ type: "quit" });
  assert.equal(kit.isAlive, false);
  await assert.rejects(kit.run({ type: "tick" }), /stopped itself/);
  assert.deepEqual(await kit.restart(), { type: "handled" });
  assert.equal(made, 2);
  assert.equal(kit.isAlive, true);
  assert.deepEqual(kit.logs.map((l) => l.event), ["desk-ready", "desk-stopping", "desk-ready"]);
});

test("a plain behaviour has the runtime's default policy: this node's code and its operators", async () => {
  const seen: string[] = [];
  const plain: Behavior<string> = { receive: (msg, ctx) => void seen.push(`${ctx.sender.kind}:${msg}`) };
  const kit = new BehaviorTestKit(plain);
  await kit.run("a");
  await kit.run("b", { sender: { kind: "operator", operator: "ops" } });
  assert.equal((await kit.run("c", { sender: { kind: "peer", node: "x" } })).type, "forbidden");
  assert.deepEqual(seen, ["local:a", "operator:b"]);
});

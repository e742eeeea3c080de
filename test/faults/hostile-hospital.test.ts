/**
 * A hostile hospital (issue 11). hospital-b is a member of the federation with a VALID
 * certificate for its own id, run as a child process (fixtures/hostile-hospital.ts) that speaks
 * the transport by hand: it writes batches built with the runtime's own `toRows` and frame codec,
 * forging the sender column, operator fields, replies and references as it likes. The victim,
 * hospital-a, is a real node in this process: an ActorSystem with its LMDB in a temp dir, the
 * Accountant, mutual TLS over gRPC on 127.0.0.1 (dev certificates from createDevPki).
 *
 * Every forged act must be refused and leave the victim's state as it was, and be visible: a
 * `forbidden` dead letter naming `peer:hospital-b`, fedrouter_dead_letters_total{reason="forbidden"},
 * and a `forbidden` log line (at most 20 a second, then a count); a stream refused for what a
 * batch referenced is a `peer-refused` log line and a transport refusal naming it.
 *
 * The victim's log lines (JSON on stderr) are taken off process.stderr while the suite runs and
 * asserted on; nothing else of stderr is touched.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ActorSystem, createDevPki, readTlsFiles, type DeadLetter, type NodeStore, type Refusal } from "../../runtime/index.ts";
import { accountant, AccountantClient, gnmax, readAuditTrail, selfComposed, spendOf, type AuditEntry, type PrivacyEvent } from "../../actors/accountant/index.ts";
import { counter, sealedEcho, senderEcho, type CounterMsg } from "../fixtures/actors.ts";
import { exited, until } from "../fixtures/cluster-processes.ts";
import { freePorts } from "../fixtures/free-port.ts";
import { HOSTILE, type Answer, type Command, type FloodResult, type WireEnvelope } from "./fixtures/hostile-hospital.ts";
import { holder, recorder, type HolderMsg, type RecorderMsg } from "./fixtures/hostile-targets.ts";

const VICTIM = "hospital-a";
const PEER = `peer:${HOSTILE}`;
const USER = "dr-lee";
const DEPARTMENT = "radiology";
const DELTA = 1e-5;
const FLOOD = 20_000;
const ASK_MS = 10_000;
const HOSTILE_MODULE = fileURLToPath(new URL("./fixtures/hostile-hospital.ts", import.meta.url));

const at = (name: string) => `fed://${VICTIM}/user/${name}`;
const ACCOUNTANT = at("accountant");
const ECHO = at("echo");
const SEALED = at("sealed");
const COUNTER = at("counter");
const RECORDER = at("recorder");
const HOLDER = at("holder");

interface LogLine { readonly event: string; readonly [field: string]: unknown }
type CommandBody = Command extends infer C ? (C extends { id: number } ? Omit<C, "id"> : never) : never;

let dir: string;
let victim: ActorSystem;
let child: ChildProcess;
let local: AccountantClient;
const letters: DeadLetter[] = [];
const logs: LogLine[] = [];
const refusals: Refusal[] = [];
const closes: string[] = [];
let ups = 0;
let restoreStderr = () => {};

// ---- the hostile child, driven over IPC ----

let callSeq = 0;
const calls = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

function hostile<T>(cmd: CommandBody): Promise<T> {
  const id = ++callSeq;
  return new Promise<T>((resolve, reject) => {
    calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
    child.send({ ...cmd, id });
  });
}

let tempSeq = 0;
/** A reply address of the hostile's own: the only kind of reference its frames may carry. */
const hostileTemp = () => `fed://${HOSTILE}/temp/main/${++tempSeq}`;

/** An ask as a real node would frame it (replyTo in the message, the same path in the ask column), with an optional forged sender. */
function askOf(to: string, msg: Record<string, unknown>, sender?: unknown): WireEnvelope {
  const replyAt = hostileTemp();
  return { to, msg: { ...msg, replyTo: { $ref: replyAt } }, ask: replyAt, deadlineMs: Date.now() + ASK_MS, ...(sender === undefined ? {} : { sender }) };
}

function hostileAsk(envelopes: readonly WireEnvelope[], withSender = false): Promise<(Answer | null)[]> {
  return hostile<(Answer | null)[]>({ op: "ask", envelopes, withSender, timeoutMs: ASK_MS });
}

// ---- what the victim shows ----

async function metric(name: string, label: string): Promise<number> {
  const text = await victim.metrics.text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}
const forbiddenMetric = () => metric("fedrouter_dead_letters_total", 'reason="forbidden"');
const messagesIn = (path: string) => metric("fedrouter_actor_messages_in_total", `actor="${path}"`);

interface Mark { readonly letters: number; readonly logs: number; readonly forbidden: number }
async function mark(): Promise<Mark> {
  return { letters: letters.length, logs: logs.length, forbidden: await forbiddenMetric() };
}

/**
 * At least `count` refusals of the hostile's acts at `to` since `since`: forbidden dead letters
 * naming peer:hospital-b (and no other sender), as many more on the metric, and as many log lines.
 */
async function assertRefusalsVisible(since: Mark, to: string, count: number, messageTypes?: readonly string[]): Promise<void> {
  const refused = letters.slice(since.letters).filter((l) => l.reason === "forbidden" && l.to === to);
  assert.ok(refused.length >= count, `${count} forbidden dead letters at ${to}, got ${refused.length}: ${JSON.stringify(letters.slice(since.letters))}`);
  for (const letter of refused) assert.equal(letter.sender, PEER, `the dead letter names the certificate's identity, whatever the frame said: ${JSON.stringify(letter)}`);
  if (messageTypes !== undefined) assert.deepEqual(refused.map((l) => l.messageType).sort(), [...messageTypes].sort());
  assert.ok((await forbiddenMetric()) - since.forbidden >= count, 'fedrouter_dead_letters_total{reason="forbidden"} counted them');
  const lines = logs.slice(since.logs).filter((l) => l.event === "forbidden" && l.to === to);
  assert.ok(lines.length >= count, `${count} "forbidden" log lines for ${to}: ${JSON.stringify(logs.slice(since.logs))}`);
  for (const line of lines) {
    assert.equal(line.sender, PEER);
    assert.equal(line.level, "warn");
  }
}

/** FORBIDDEN, whether the runtime refused it (a failure) or the Accountant did (a `rejected` reply); never a success. */
function assertForbidden(answer: Answer | null, what: string): void {
  assert.ok(answer !== null, `${what}: answered`);
  assert.equal((answer.msg as { code?: unknown }).code, "FORBIDDEN", `${what}: ${JSON.stringify(answer)}`);
  if (answer.fail) assert.equal((answer.msg as { sender?: unknown }).sender, PEER, `${what}: refused as ${PEER}`);
  else assert.equal((answer.msg as { type?: unknown }).type, "rejected", `${what}: ${JSON.stringify(answer)}`);
}

/** The runtime refused it before the mailbox: a FORBIDDEN failure naming the sender the certificate proved. */
function assertRuntimeRefusal(answer: Answer | null | undefined, messageType: string, target: string): void {
  assert.ok(answer !== null && answer !== undefined, `${messageType}: answered`);
  assert.equal(answer.fail, true, `${messageType} is refused by the runtime, not handled: ${JSON.stringify(answer)}`);
  const error = answer.msg as { code: string; sender: string; messageType: string; target: string };
  assert.deepEqual({ code: error.code, sender: error.sender, messageType: error.messageType, target: error.target }, { code: "FORBIDDEN", sender: PEER, messageType, target });
}

/** The victim's stream to the hostile was refused; waits until the victim dialled again and the link is up. */
async function relinked(upsBefore: number): Promise<void> {
  await until(() => ups > upsBefore && victim.transport!.peers()[0]!.up, "the victim to dial the hostile again");
  await hostile({ op: "up" });
}

/** One ask through the hostile's stream: everything it wrote before has been read by the victim. */
async function roundTrip(): Promise<void> {
  const [who] = await hostileAsk([askOf(ECHO, { type: "who" })]);
  assert.deepEqual(who, { msg: { kind: "peer", node: HOSTILE }, fail: false });
}

/** The Accountant's audit trail, as it lies in the victim's LMDB: every change it made, in order. */
const trail = (): AuditEntry[] => [...readAuditTrail(victim.store as NodeStore).entries];

const budget = async () => {
  const view = await local.budget(USER, DEPARTMENT);
  assert.equal(view.type, "budget", JSON.stringify(view));
  return view;
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "fedrouter-hostile-"));
  const keys = join(dir, "keys");
  createDevPki(keys, [VICTIM, HOSTILE]);
  const [victimPort, hostilePort] = await freePorts(2);
  const address: Record<string, string> = { [VICTIM]: `127.0.0.1:${victimPort}`, [HOSTILE]: `127.0.0.1:${hostilePort}` };

  child = fork(HOSTILE_MODULE, [keys, address[HOSTILE]!], { execArgv: ["--import", "tsx"], serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
  // A hostile that dies fails what waits on it, rather than leaving it to the test's timeout.
  child.on("exit", (code, signal) => {
    for (const pending of calls.values()) pending.reject(new Error(`the hostile hospital exited (${code ?? signal})`));
    calls.clear();
  });
  const listening = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the hostile hospital did not start")), 30_000);
    child.once("exit", (code) => reject(new Error(`the hostile hospital exited with ${code}`)));
    child.on("message", (m: { ev?: string; reason?: string; id?: number; result?: unknown; error?: string }) => {
      if (m.ev === "listening") {
        clearTimeout(timer);
        resolve();
      } else if (m.ev === "up") ups++;
      else if (m.ev === "closed") closes.push(m.reason!);
      else if (m.id !== undefined) {
        const pending = calls.get(m.id);
        calls.delete(m.id);
        if (m.error !== undefined) pending?.reject(new Error(m.error));
        else pending?.resolve(m.result);
      }
    });
  });
  await listening;

  // The victim's log lines: JSON on stderr, one write per line.
  const write = process.stderr.write;
  process.stderr.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString();
    if (text.startsWith("{") && text.includes(`"node":"${VICTIM}"`)) {
      for (const line of text.split("\n")) if (line !== "") logs.push(JSON.parse(line) as LogLine);
      return true;
    }
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof process.stderr.write;
  restoreStderr = () => {
    process.stderr.write = write;
  };

  victim = await ActorSystem.start({
    node: VICTIM,
    logLevel: "warn",
    persistence: { path: join(dir, "lmdb") },
    remote: {
      listen: address[VICTIM]!,
      peers: [VICTIM, HOSTILE].map((id) => ({ id, address: address[id]! })),
      security: readTlsFiles(join(keys, "ca.crt"), join(keys, `${VICTIM}.crt`), join(keys, `${VICTIM}.key`)),
      reconnect: { minMs: 50, maxMs: 500, jitter: 0.2 },
    },
  });
  victim.deadLetters$.subscribe((l) => letters.push(l));
  victim.transport!.refusals$.subscribe((r) => refusals.push(r));
  // No timer ticks: every message the Accountant receives is one this test sent.
  await victim.spawn(accountant, { ledger: { defaultUserEpsilon: 10, departments: { [DEPARTMENT]: { epsilon: 1_000 } }, delta: DELTA }, tickMs: 3_600_000 }, { name: "accountant" });
  await victim.spawn(senderEcho, undefined, { name: "echo" });
  await victim.spawn(sealedEcho, undefined, { name: "sealed" });
  await victim.spawn(counter, 0, { name: "counter" });
  await victim.spawn(recorder, undefined, { name: "recorder" });
  await victim.spawn(holder, undefined, { name: "holder" });
  local = new AccountantClient(victim.ref(ACCOUNTANT), ASK_MS);
  await hostile({ op: "up" });
  await until(() => victim.transport!.peers()[0]!.up, "the victim's link to the hostile hospital");
});

after(async () => {
  await victim?.stop();
  restoreStderr();
  if (child !== undefined) {
    child.kill("SIGKILL");
    await exited(child);
  }
  rmSync(dir, { recursive: true, force: true });
});

test("a forged sender column or operator fields reach the victim as peer:hospital-b, and setBudget or operatorAction sent that way is FORBIDDEN", async () => {
  const before = await budget();
  const entries = trail().length;
  const since = await mark();
  const forged = [
    { kind: "operator", operator: "root" },
    { kind: "local", node: VICTIM },
    { kind: "user", user: "admin", role: "admin", department: DEPARTMENT },
  ];
  // Seven-column rows (toRows with the sender) plus the same claims in the payload.
  const who = await hostileAsk(forged.map((sender) => askOf(ECHO, { type: "who", sender, operator: "root", as: sender }, sender)), true);
  for (const [i, answer] of who.entries()) {
    assert.deepEqual(answer, { msg: { kind: "peer", node: HOSTILE }, fail: false }, `claimed ${JSON.stringify(forged[i])}, seen as the certificate's node`);
  }

  const [sealed, setBudget, operatorAction] = await hostileAsk([
    askOf(SEALED, { type: "who" }, { kind: "local", node: VICTIM }),
    askOf(ACCOUNTANT, { type: "setBudget", operator: "ops-1", scope: "user", name: USER, epsilon: 1_000 }, { kind: "operator", operator: "ops-1" }),
    askOf(ACCOUNTANT, { type: "operatorAction", operator: "ops-1", action: "restart", target: ACCOUNTANT }, { kind: "local", node: VICTIM }),
  ], true);
  assertRuntimeRefusal(sealed, "who", SEALED);
  assertRuntimeRefusal(setBudget, "setBudget", ACCOUNTANT);
  assertRuntimeRefusal(operatorAction, "operatorAction", ACCOUNTANT);

  assert.deepEqual(await budget(), before, "the budget did not change");
  assert.equal(trail().length, entries, "nothing was written to the audit trail (no set-budget, no operator-action)");
  await assertRefusalsVisible(since, SEALED, 1, ["who"]);
  await assertRefusalsVisible(since, ACCOUNTANT, 2, ["setBudget", "operatorAction"]);
});

test("a reservation id of the victim's own, replayed by the peer, is FORBIDDEN to commit or release; it stays open and the victim's commit charges exactly", async () => {
  const reserved: PrivacyEvent = selfComposed(gnmax(40), 8);
  const actual: PrivacyEvent = selfComposed(gnmax(40), 3);
  const reservation = await local.reserve({ key: "front-door-1", user: USER, department: DEPARTMENT, event: reserved });
  assert.equal(reservation.type, "reserved", JSON.stringify(reservation));
  const id = (reservation as { reservation: string }).reservation;
  assert.match(id, /^res-[0-9a-f]{32}$/, "128 random bits: learnt, not guessed");
  const open = await budget();
  const entries = trail().length;
  const since = await mark();

  const replays = await hostileAsk([
    askOf(ACCOUNTANT, { type: "commit", reservation: id, actual }),
    askOf(ACCOUNTANT, { type: "release", reservation: id, noisyOutputReleased: false }),
    askOf(ACCOUNTANT, { type: "commit", reservation: id, actual: reserved }, { kind: "local", node: VICTIM }),
    askOf(ACCOUNTANT, { type: "release", reservation: id, noisyOutputReleased: false }, { kind: "user", user: USER, role: "doctor", department: DEPARTMENT }),
    // The victim's idempotency key, replayed: not a way to be handed the reservation.
    askOf(ACCOUNTANT, { type: "reserve", key: "front-door-1", user: USER, department: DEPARTMENT, event: reserved }),
  ], true);
  assert.ok(!JSON.stringify(replays.at(-1)).includes(id), `the replayed key is not answered with the reservation: ${JSON.stringify(replays.at(-1))}`);
  for (const [i, answer] of replays.entries()) {
    assert.ok(answer !== null && !answer.fail, `replay ${i} reached the Accountant (peers may settle their own reservations): ${JSON.stringify(answer)}`);
    assert.equal((answer.msg as { type: string }).type, "rejected", `replay ${i}: ${JSON.stringify(answer)}`);
    assert.equal((answer.msg as { code: string }).code, "FORBIDDEN", `replay ${i}: ${JSON.stringify(answer)}`);
  }
  assert.deepEqual(await budget(), open, "the reservation is still open: nothing committed, nothing freed");
  assert.equal(trail().length, entries, "nothing was written to the audit trail");
  await assertRefusalsVisible(since, ACCOUNTANT, replays.length);

  const committed = await local.commit(id, actual);
  assert.equal(committed.type, "committed", JSON.stringify(committed));
  assert.equal((committed as { duplicate: boolean }).duplicate, false, "the victim's commit is the first settlement");
  const exact = spendOf([actual], DELTA);
  assert.ok(Math.abs((committed as { cost: { epsilon: number } }).cost.epsilon - exact) < 1e-9, `charged ${JSON.stringify(committed)}, expected ε ${exact}`);
  assert.ok(Math.abs((await budget()).user.spent - exact) < 1e-9, "the user's spend is that one charge");
  assert.deepEqual(trail().slice(entries).map((e) => e.action), ["commit"], "the trail holds the victim's commit, and only it");

  // The peer's own reservation it may settle: the refusal above is about whose it is, not about peers.
  const [own] = await hostileAsk([askOf(ACCOUNTANT, { type: "reserve", key: "b-own-1", user: "visiting-1", department: DEPARTMENT, event: reserved })]);
  assert.equal((own?.msg as { type?: string }).type, "reserved", JSON.stringify(own));
  const [settled] = await hostileAsk([askOf(ACCOUNTANT, { type: "commit", reservation: (own!.msg as { reservation: string }).reservation, actual })]);
  assert.equal((settled?.msg as { type?: string }).type, "committed", JSON.stringify(settled));
});

test("setBudget from a peer is FORBIDDEN and the budgets stay as they were", async () => {
  const before = await budget();
  const entries = trail().length;
  const since = await mark();
  const answers = await hostileAsk([
    askOf(ACCOUNTANT, { type: "setBudget", scope: "user", name: USER, epsilon: 1_000 }),
    askOf(ACCOUNTANT, { type: "setBudget", operator: "ops-1", scope: "department", name: DEPARTMENT, epsilon: 1e6 }),
  ]);
  for (const answer of answers) assertForbidden(answer, "setBudget");
  assert.deepEqual(await budget(), before);
  assert.equal(trail().length, entries, "no set-budget entry");
  await assertRefusalsVisible(since, ACCOUNTANT, answers.length);
});

test("a peer asking a user's budget or history (or the period's report) is FORBIDDEN and learns nothing of them", async () => {
  const since = await mark();
  const answers = await hostileAsk([
    askOf(ACCOUNTANT, { type: "budget", user: USER, department: DEPARTMENT }),
    askOf(ACCOUNTANT, { type: "history", user: USER }),
    askOf(ACCOUNTANT, { type: "report" }),
  ]);
  for (const answer of answers) {
    assertForbidden(answer, "budget/history");
    const text = JSON.stringify(answer);
    for (const leak of ["charges", "spent", "remaining", "res-", "limit"]) assert.ok(!text.includes(leak), `nothing of the audit in ${text}`);
  }
  await assertRefusalsVisible(since, ACCOUNTANT, answers.length, ["budget", "history", "report"]);
});

test(`a flood of ${FLOOD} forbidden asks is refused before the mailbox, counted and logged within bounds, while the victim's own asks are answered`, async () => {
  // A fresh log window, so that the flood's own lines and its suppressed counts add up. The window
  // is a second of wall-clock time by design (runtime/system.ts): only time opens the next one.
  const lastLetter = letters.at(-1)?.atMs ?? 0;
  if (Date.now() - lastLetter < 1_100) await new Promise((r) => setTimeout(r, 1_100 - (Date.now() - lastLetter)));
  await budget();
  const since = await mark();
  const accountantIn = await messagesIn(ACCOUNTANT);
  assert.ok(accountantIn > 0, "the Accountant's messages_in metric is there");

  let flooding = true;
  const flood = hostile<FloodResult>({ op: "flood", n: FLOOD, batch: 256, envelope: { to: ACCOUNTANT, msg: { type: "history", user: USER } }, timeoutMs: 30_000 })
    .finally(() => (flooding = false));
  let localAsks = 0;
  do {
    await budget();
    localAsks++;
    // A loop of local asks alone is all microtasks: let the network in between them. Pacing of
    // the victim's own load during the flood, not a wait for an event.
    await new Promise((r) => setTimeout(r, 10));
  } while (flooding);
  const result = await flood;
  await budget();
  localAsks++;

  assert.ok(result.answered > 0 && result.answered <= FLOOD, `answered: ${JSON.stringify(result)}`);
  assert.deepEqual(Object.keys(result.codes), ["FORBIDDEN"], `every answer is FORBIDDEN (some may be dropped): ${JSON.stringify(result.codes)}`);
  await until(() => letters.length - since.letters >= FLOOD, "every refusal to be a dead letter");
  const refused = letters.slice(since.letters);
  assert.equal(refused.length, FLOOD, "one dead letter per forged ask, nothing else");
  assert.ok(refused.every((l) => l.reason === "forbidden" && l.sender === PEER && l.messageType === "history" && l.to === ACCOUNTANT));
  assert.equal((await forbiddenMetric()) - since.forbidden, FLOOD, "the metric counts every one");
  assert.equal((await messagesIn(ACCOUNTANT)) - accountantIn, localAsks, "none of the flood took a place in the mailbox; every local ask did");
  assert.ok(victim.transport!.peers()[0]!.up, "well-formed frames keep the stream: refusals are per message");

  // The log: at most 20 lines a second, and a count of the rest once the next window opens.
  const floodLines = logs.slice(since.logs).filter((l) => l.event === "forbidden" && l.messageType === "history");
  // 20 lines per window of a second at most: the windows the flood's letters span bound the lines.
  const windows = Math.ceil((refused.at(-1)!.atMs - refused[0]!.atMs) / 1_000) + 1;
  assert.ok(floodLines.length > 0 && floodLines.length <= 20 * windows, `the log was not flooded: ${floodLines.length} lines over ${windows} windows`);
  // The suppressed count is logged by the first refusal of the next window: a second of wall-clock
  // time later, by design (runtime/system.ts), so this wait is the window itself, not a guess.
  await new Promise((r) => setTimeout(r, 1_100));
  const [next] = await hostileAsk([askOf(ACCOUNTANT, { type: "setBudget", scope: "user", name: USER, epsilon: 1_000 })]);
  assertForbidden(next ?? null, "setBudget after the flood");
  const firstFloodLine = logs.indexOf(floodLines[0]!);
  const suppressed = logs.slice(firstFloodLine).filter((l) => l.event === "forbidden-suppressed").reduce((sum, l) => sum + Number(l.count), 0);
  assert.equal(floodLines.length + suppressed, FLOOD, `every refusal is a log line or in a suppressed count (${floodLines.length} + ${suppressed})`);
});

test("a forged answer to an ask never sent to the peer is not delivered: a forbidden dead letter, and the victim's pending ask gets its genuine answer", async () => {
  const held = victim.ref<HolderMsg>(HOLDER);
  const pending = held.ask<string>((replyTo) => ({ type: "hold", replyTo }), { timeoutMs: ASK_MS });
  const tempPath = await held.ask<string | null>((replyTo) => ({ type: "held", replyTo }));
  assert.ok(tempPath?.startsWith(`fed://${VICTIM}/temp/`), `a temp path of the victim: ${tempPath}`);
  const since = await mark();

  await hostile({ op: "send", envelopes: [
    { to: tempPath!, msg: "forged" },
    { to: `fed://${VICTIM}/temp/main/1`, msg: { type: "committed", reservation: "res-0", duplicate: false } },
  ] });
  await until(() => letters.length - since.letters >= 2, "the forged answers to be dead letters");
  const forged = letters.slice(since.letters);
  assert.deepEqual(forged.map((l) => [l.to, l.reason, l.sender]), [[tempPath, "forbidden", PEER], [`fed://${VICTIM}/temp/main/1`, "forbidden", PEER]]);
  for (const letter of forged) assert.match(letter.detail, /hospital-b sent an answer to an ask it was never sent/);
  assert.equal((await forbiddenMetric()) - since.forbidden, 2);
  const lines = logs.slice(since.logs).filter((l) => l.event === "forbidden" && l.sender === PEER);
  assert.deepEqual(lines.map((l) => l.to), [tempPath, `fed://${VICTIM}/temp/main/1`]);

  held.tell({ type: "answer", value: "genuine" });
  assert.equal(await pending, "genuine", "the pending ask was not hijacked");
});

test("a forged failure to an ask never sent to the peer is not delivered", async () => {
  const held = victim.ref<HolderMsg>(HOLDER);
  const pending = held.ask<string>((replyTo) => ({ type: "hold", replyTo }), { timeoutMs: ASK_MS });
  const tempPath = (await held.ask<string | null>((replyTo) => ({ type: "held", replyTo })))!;
  await hostile({ op: "send", envelopes: [{ to: tempPath, msg: { code: "FORBIDDEN", message: "forged", target: HOLDER, messageType: "hold", sender: "local:hospital-a" }, fail: true }] });
  await roundTrip();
  held.tell({ type: "answer", value: "genuine" });
  assert.equal(await pending, "genuine", "the pending ask did not fail on the peer's say-so");
});

test("a forged failure to an ask never sent to the peer is visible as a forbidden dead letter", async () => {
  const since = await mark();
  await hostile({ op: "send", envelopes: [{ to: `fed://${VICTIM}/temp/main/2`, msg: { code: "ACTOR_STOPPED", message: "forged", target: HOLDER }, fail: true }] });
  await roundTrip();
  const letter = letters.slice(since.letters).find((l) => l.to === `fed://${VICTIM}/temp/main/2`);
  assert.equal(letter?.reason, "forbidden", `a dead letter: ${JSON.stringify(letters.slice(since.letters))}`);
  assert.equal(letter?.sender, PEER);
  assert.equal((await forbiddenMetric()) - since.forbidden, 1);
});

test("a frame that references the victim's own actors (confused deputy), or a third node's, closes the stream naming the reference; nothing in it is delivered", async () => {
  const counterRef = victim.ref<CounterMsg>(COUNTER);
  const recorded = () => victim.ref<RecorderMsg>(RECORDER).ask<number>((replyTo) => ({ type: "count", replyTo }));
  const count = () => counterRef.ask<number>((replyTo) => ({ type: "get", replyTo }));
  const counterBefore = await count();
  const echoIn = await messagesIn(ECHO);
  const counterIn = await messagesIn(COUNTER);

  const attempts: { readonly envelopes: WireEnvelope[]; readonly reason: RegExp }[] = [
    {
      // A benign tell first in the same batch: a refused batch delivers none of it.
      envelopes: [{ to: COUNTER, msg: { type: "add", n: 5 } }, { ...askOf(ECHO, { type: "who" }), msg: { type: "who", replyTo: { $ref: RECORDER } } }],
      reason: new RegExp(`batch from ${HOSTILE} holds a reference to ${RECORDER}, not an actor of ${HOSTILE}`),
    },
    {
      // The reference buried in the payload, not in replyTo.
      envelopes: [{ to: COUNTER, msg: { type: "add", n: 7 } }, askOf(ECHO, { type: "who", cc: [{ note: { $ref: ACCOUNTANT } }] })],
      reason: new RegExp(`holds a reference to ${ACCOUNTANT}`),
    },
    {
      envelopes: [askOf(COUNTER, { type: "forward", to: { $ref: "fed://hospital-c/user/accountant" }, n: 1 })],
      reason: /holds a reference to fed:\/\/hospital-c\/user\/accountant/,
    },
    {
      // The answer address in the ask column, not in the message.
      envelopes: [{ to: ECHO, msg: { type: "who", replyTo: { $ref: hostileTemp() } }, ask: RECORDER, deadlineMs: Date.now() + ASK_MS }],
      reason: new RegExp(`envelope asks for its answer at ${RECORDER}, not at ${HOSTILE}`),
    },
  ];
  for (const { envelopes, reason } of attempts) {
    const upsBefore = ups;
    const refusalsBefore = refusals.length;
    const logsBefore = logs.length;
    const refusedMetric = await metric("fedrouter_peer_refusals_total", `peer="${HOSTILE}"`);
    await hostile({ op: "send", envelopes });
    await until(() => refusals.length > refusalsBefore, `the stream to be refused (${reason})`);
    assert.equal(await metric("fedrouter_peer_refusals_total", `peer="${HOSTILE}"`), refusedMetric + 1, "the refusal is counted in /metrics");
    assert.match(refusals.at(-1)!.reason, reason);
    assert.equal(refusals.at(-1)!.peer, HOSTILE);
    const line = logs.slice(logsBefore).find((l) => l.event === "peer-refused");
    assert.ok(line !== undefined && line.peer === HOSTILE && reason.test(String(line.reason)), `a peer-refused log line: ${JSON.stringify(logs.slice(logsBefore))}`);
    await relinked(upsBefore);
  }

  assert.equal(await recorded(), 0, "the victim's own actor got nothing");
  assert.equal(await count(), counterBefore, "nothing of a refused batch was delivered");
  assert.equal(await messagesIn(ECHO), echoIn);
  assert.equal((await messagesIn(COUNTER)) - counterIn, 1, "only this test's own get reached the counter");

  // The stream is back and serves what a peer may do.
  const [who] = await hostileAsk([askOf(ECHO, { type: "who" })]);
  assert.deepEqual(who, { msg: { kind: "peer", node: HOSTILE }, fail: false });
});

test("a peer whose stream the victim refuses is told the reason", async () => {
  const upsBefore = ups;
  const closesBefore = closes.length;
  await hostile({ op: "send", envelopes: [{ ...askOf(ECHO, { type: "who" }), msg: { type: "who", replyTo: { $ref: RECORDER } } }] });
  await relinked(upsBefore);
  assert.ok(closes.slice(closesBefore).some((c) => c.includes(`holds a reference to ${RECORDER}`)), `the hostile was told why: ${JSON.stringify(closes.slice(closesBefore))}`);
});

/**
 * Crash consistency of the Accountant: a child process (fixtures/accountant-writer.ts) runs 32
 * loops that reserve and then commit or release, one charge at a time each, with deterministic
 * idempotency keys; it is killed with SIGKILL at a random moment, again and again on the same
 * LMDB directory, and restarted to retry what it did not see settled. After every kill the
 * trail must verify and hold every acknowledged operation exactly once, and nothing that was
 * not acknowledged except the one operation each loop had in flight; a retry must come back as
 * a duplicate exactly when the trail already held it. At the end, the Accountant rebuilt from
 * the trail must report as spent the composition of the committed and still-open charges.
 *
 * Kill delays come from a seeded generator: set FEDROUTER_KILL9_SEED to replay a run's delays
 * (the seed is in the diagnostics; the moments still vary with the machine's speed).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { ActorSystem, actor, supervisor } from "../../runtime/index.ts";
import { openNodeStore } from "../../runtime/persistence/index.ts";
import { accountant, AccountantClient, DEFAULT_LEDGER_CONFIG, periodOf, readAuditTrail, spendOf, verifyStoredAudit, type AuditEntry, type PrivacyEvent } from "../../actors/accountant/index.ts";
import {
  actualOf, DEPARTMENT, keyOf, LOOPS, opOf, releases, RESERVED, STORE_ID, SUPERVISOR, USERS, userOf, WRITER_OPTIONS,
} from "./fixtures/accountant-writer.ts";
import { killAfterFirstAck } from "./fixtures/run-until-killed.ts";
import { seededUniform } from "../../actors/shard-executor/random.ts";

const ROUNDS = 10;
const MAX_KILL_DELAY_MS = 1_500;
const FIRST_ACK_TIMEOUT_MS = 30_000;
const WRITER = fileURLToPath(new URL("./fixtures/accountant-writer.ts", import.meta.url));
const TOLERANCE = 1e-9;
// WRITER_OPTIONS leaves δ and the reset schedule at their defaults.
const { delta: DELTA, reset: RESET, timeZone: TIME_ZONE } = DEFAULT_LEDGER_CONFIG;
const periodKey = (atMs: number): string => periodOf(atMs, RESET, TIME_ZONE).key;

type Settle = "committed" | "released";
interface Ack { readonly kind: "reserved" | Settle; readonly key: string; readonly loop: number; readonly n: number; readonly reservation: string; readonly duplicate: boolean }
interface Ready { readonly period: string; readonly charges: number; readonly open: number }
interface KilledRound {
  readonly ready: Ready | undefined;
  readonly acks: readonly Ack[];
  readonly killDelayMs: number;
  /** From the spawn to the ready line, and to the first ack. */
  readonly readyMs: number;
  readonly firstAckMs: number;
}

/** Starts the writer and SIGKILLs it `killDelayMs` after its first acknowledgement; every line it got out is kept. */
async function runUntilKilled(starts: readonly number[], dir: string, killDelayMs: number): Promise<KilledRound> {
  const acks: Ack[] = [];
  let ready: Ready | undefined;
  const spawnedAt = performance.now();
  let readyMs = -1;
  const { firstAckMs } = await killAfterFirstAck(WRITER, [dir, starts.join(",")], {
    killDelayMs,
    firstAckTimeoutMs: FIRST_ACK_TIMEOUT_MS,
    onLine(line) {
      const words = line.split(" ");
      const op = opOf(words[1] ?? "");
      if (words[0] === "ready" && words.length === 4) {
        ready = { period: words[1]!, charges: Number(words[2]), open: Number(words[3]) };
        readyMs = Math.round(performance.now() - spawnedAt);
        return "line";
      }
      if ((words[0] === "reserved" || words[0] === "committed" || words[0] === "released") && words.length === 4 && op !== undefined && (words[3] === "0" || words[3] === "1")) {
        acks.push({ kind: words[0], key: words[1]!, ...op, reservation: words[2]!, duplicate: words[3] === "1" });
        return "ack";
      }
      return "unexpected";
    },
  });
  return { ready, acks, killDelayMs, readyMs, firstAckMs };
}

/** What the trail holds, checked on the way: it verifies, no key is reserved twice, no reservation settled twice. */
interface Trail {
  readonly count: number;
  /** Reserve entries by idempotency key. */
  readonly reserves: Map<string, AuditEntry>;
  readonly reserveOf: Map<string, AuditEntry>;
  /** Commit or release entries by reservation. */
  readonly settles: Map<string, AuditEntry>;
}

function readTrail(dir: string, where: string): Trail {
  const store = openNodeStore({ path: dir });
  try {
    const verdict = verifyStoredAudit(store, STORE_ID);
    assert.ok(verdict.ok, `${where}: audit verify fails: ${JSON.stringify(verdict)}`);
    const reserves = new Map<string, AuditEntry>();
    const reserveOf = new Map<string, AuditEntry>();
    const settles = new Map<string, AuditEntry>();
    let count = 0;
    for (const entry of readAuditTrail(store, STORE_ID).entries) {
      count++;
      const at = `${where}: entry seq ${entry.seq} (${entry.action} ${entry.key ?? entry.reservation ?? ""})`;
      if (entry.action === "reset") continue; // a budget period began during the run
      if (entry.action === "reserve") {
        const op = opOf(entry.key ?? "");
        assert.ok(op !== undefined && op.loop < LOOPS, `${at}: a key the writer never sent`);
        assert.equal(reserves.get(entry.key!)?.seq, undefined, `${at}: key ${entry.key} reserved twice (a double charge)`);
        assert.equal(reserveOf.get(entry.reservation!)?.seq, undefined, `${at}: reservation id ${entry.reservation} given twice`);
        assert.deepEqual([entry.user, entry.department, entry.event], [userOf(op.loop), DEPARTMENT, RESERVED], `${at}: not what the writer reserved`);
        reserves.set(entry.key!, entry);
        reserveOf.set(entry.reservation!, entry);
        continue;
      }
      assert.ok(entry.action === "commit" || entry.action === "release", `${at}: the writer never causes a ${entry.action}`);
      const reserved = reserveOf.get(entry.reservation ?? "");
      assert.ok(reserved !== undefined, `${at}: settles a reservation that was never reserved`);
      assert.equal(settles.get(entry.reservation!)?.seq, undefined, `${at}: ${entry.reservation} settled twice`);
      const op = opOf(reserved.key!)!;
      assert.equal(entry.action, releases(op.loop, op.n) ? "release" : "commit", `${at}: the writer settles ${reserved.key} the other way`);
      if (entry.action === "commit") assert.deepEqual(entry.event, actualOf(op.n), `${at}: commits another event than the writer's`);
      settles.set(entry.reservation!, entry);
    }
    return { count, reserves, reserveOf, settles };
  } finally {
    void store.close();
  }
}

/** What the parent has seen acknowledged, over all rounds. */
class Acknowledged {
  readonly reserves = new Map<string, string>();
  readonly settles = new Map<string, Settle>();
  /** Per loop, the highest op whose reserve (settle) was acknowledged; -1 for none. */
  readonly lastReserved = new Array<number>(LOOPS).fill(-1);
  readonly lastSettled = new Array<number>(LOOPS).fill(-1);

  add(ack: Ack, where: string): void {
    if (ack.kind === "reserved") {
      const before = this.reserves.get(ack.key);
      assert.ok(before === undefined || before === ack.reservation, `${where}: ${ack.key} acknowledged as ${before} and then as ${ack.reservation}`);
      this.reserves.set(ack.key, ack.reservation);
      this.lastReserved[ack.loop] = Math.max(this.lastReserved[ack.loop]!, ack.n);
    } else {
      this.settles.set(ack.reservation, ack.kind);
      this.lastSettled[ack.loop] = Math.max(this.lastSettled[ack.loop]!, ack.n);
    }
  }
}

/**
 * Each loop's acks in this round follow its protocol from the op it was told to start at, and
 * each ack is a duplicate exactly when the trail before this round already held its change.
 */
function checkAcks(round: KilledRound, starts: readonly number[], before: Trail, acked: Acknowledged, where: string): { fresh: number; duplicates: number; unseen: number } {
  const next = starts.map((n) => ({ n, phase: "reserve" as "reserve" | "settle", reservation: "" }));
  let fresh = 0;
  let duplicates = 0;
  /** Duplicates of changes that were durable but whose ack the killed writer never got out. */
  let unseen = 0;
  for (const ack of round.acks) {
    const at = `${where}: ack ${ack.kind} ${ack.key} ${ack.reservation}${ack.duplicate ? " (duplicate)" : ""}`;
    const expected = next[ack.loop]!;
    assert.equal(ack.n, expected.n, `${at}: loop ${ack.loop} was at op ${expected.n}`);
    if (ack.duplicate) duplicates++;
    else fresh++;
    if (expected.phase === "reserve") {
      assert.equal(ack.kind, "reserved", `${at}: loop ${ack.loop} had to reserve first`);
      const held = before.reserves.get(ack.key);
      assert.equal(ack.duplicate, held !== undefined, `${at}: the trail before this round ${held ? `held it as ${held.reservation}` : "did not hold it"}`);
      if (held) {
        assert.equal(ack.reservation, held.reservation, `${at}: a retry must return the original reservation`);
        if (!acked.reserves.has(ack.key)) unseen++;
      } else assert.equal(before.reserveOf.has(ack.reservation), false, `${at}: a fresh reserve got an id already in the trail`);
      expected.phase = "settle";
      expected.reservation = ack.reservation;
    } else {
      assert.equal(ack.kind, releases(ack.loop, ack.n) ? "released" : "committed", `${at}: loop ${ack.loop} settles op ${ack.n} the other way`);
      assert.equal(ack.reservation, expected.reservation, `${at}: settles another reservation than it reserved`);
      assert.equal(ack.duplicate, before.settles.has(ack.reservation), `${at}: the trail before this round ${before.settles.has(ack.reservation) ? "held" : "did not hold"} this settle`);
      if (ack.duplicate && !acked.settles.has(ack.reservation)) unseen++;
      expected.phase = "reserve";
      expected.n++;
    }
  }
  return { fresh, duplicates, unseen };
}

/**
 * The trail holds every acknowledged change, with the acknowledged reservation ids; and per
 * loop, nothing beyond them but the one op it had in flight when killed: its reserves are
 * ops 0..K-1, all settled but possibly the last, at most one reserve and one settle not
 * acknowledged, each the loop's last.
 */
function checkTrailAgainstAcks(trail: Trail, acked: Acknowledged, where: string): void {
  for (const [key, reservation] of acked.reserves) {
    assert.equal(trail.reserves.get(key)?.reservation, reservation, `${where}: acknowledged reserve ${key} (${reservation}) is not in the trail (a lost charge)`);
  }
  for (const [reservation, kind] of acked.settles) {
    assert.equal(trail.settles.get(reservation)?.action, kind === "committed" ? "commit" : "release", `${where}: acknowledged ${kind} of ${reservation} is not in the trail`);
  }
  const perLoop = new Array<number>(LOOPS).fill(0);
  for (const key of trail.reserves.keys()) perLoop[opOf(key)!.loop]!++;
  for (let loop = 0; loop < LOOPS; loop++) {
    const k = perLoop[loop]!;
    const at = `${where}: loop ${loop}`;
    for (let n = 0; n < k; n++) assert.ok(trail.reserves.has(keyOf(loop, n)), `${at}: the trail holds ${k} reserves of the loop but not op ${n}`);
    assert.ok(k - 1 <= acked.lastReserved[loop]! + 1, `${at}: the trail reserves op ${k - 1}, but only op ${acked.lastReserved[loop]} was acknowledged and one more was in flight`);
    let settled = 0;
    while (settled < k && trail.settles.has(trail.reserves.get(keyOf(loop, settled))!.reservation!)) settled++;
    assert.ok(settled >= k - 1, `${at}: op ${settled} of ${k} is not settled yet a later op was reserved`);
    for (let n = settled; n < k; n++) assert.ok(!trail.settles.has(trail.reserves.get(keyOf(loop, n))!.reservation!), `${at}: op ${n} is settled after an unsettled one`);
    assert.ok(settled - 1 <= acked.lastSettled[loop]! + 1, `${at}: the trail settles op ${settled - 1}, but only op ${acked.lastSettled[loop]} was acknowledged and one more was in flight`);
  }
}

/** Charges and open reservations in `period` that the trail holds. */
function countsIn(trail: Trail, period: string): { charges: number; open: number } {
  let charges = 0;
  let open = 0;
  for (const entry of trail.reserves.values()) {
    if (periodKey(entry.atMs) !== period) continue;
    charges++;
    if (!trail.settles.has(entry.reservation!)) open++;
  }
  return { charges, open };
}

/** Per user (and "*" for the department), what the trail says is charged in `period`: committed actuals and open worst cases. */
function chargedEvents(trail: Trail, period: string): Map<string, PrivacyEvent[]> {
  const out = new Map<string, PrivacyEvent[]>([["*", []], ...USERS.map((u) => [u, []] as [string, PrivacyEvent[]])]);
  for (const entry of trail.reserves.values()) {
    if (periodKey(entry.atMs) !== period) continue;
    const settle = trail.settles.get(entry.reservation!);
    if (settle?.action === "release") continue;
    const event = settle === undefined ? entry.event! : settle.event!;
    out.get(entry.user!)!.push(event);
    out.get("*")!.push(event);
  }
  return out;
}

test("kill -9 of the Accountant while reserving and committing never loses or doubles an acknowledged charge, and its trail always verifies", { timeout: 180_000 }, async (t) => {
  const seed = Number(process.env.FEDROUTER_KILL9_SEED ?? Math.floor(Math.random() * 2 ** 32));
  const next = seededUniform(seed); // seedable, so that a failing run's kill delays can be replayed
  t.diagnostic(`seed ${seed} (FEDROUTER_KILL9_SEED=${seed} replays these kill delays)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fedrouter-kill9-accountant-"));
  try {
    const acked = new Acknowledged();
    let trail: Trail = { count: 0, reserves: new Map(), reserveOf: new Map(), settles: new Map() };
    for (let round = 1; round <= ROUNDS; round++) {
      const starts = acked.lastSettled.map((n) => n + 1);
      const killDelayMs = Math.floor(next() * (MAX_KILL_DELAY_MS + 1));
      const killed = await runUntilKilled(starts, dir, killDelayMs);
      const where = `round ${round} (seed ${seed}, killed ${killDelayMs} ms after the first ack)`;

      assert.ok(killed.ready !== undefined, `${where}: the writer acknowledged before saying ready`);
      assert.deepEqual({ charges: killed.ready.charges, open: killed.ready.open }, countsIn(trail, killed.ready.period), `${where}: the Accountant recovered what the trail held`);
      const { fresh, duplicates, unseen } = checkAcks(killed, starts, trail, acked, where);
      for (const ack of killed.acks) acked.add(ack, where);

      const checkStart = performance.now();
      trail = readTrail(dir, where);
      checkTrailAgainstAcks(trail, acked, where);
      const checkMs = Math.round(performance.now() - checkStart);
      t.diagnostic(`${where}: ready after ${killed.readyMs} ms, first ack after ${killed.firstAckMs} ms, checked in ${checkMs} ms; recovered ${killed.ready.charges} charges (${killed.ready.open} open); ${fresh} fresh and ${duplicates} duplicate acks (${unseen} of changes durable but never acknowledged); trail ${trail.count} entries, ${trail.reserves.size} reserves, ${trail.settles.size} settled`);
    }

    // The Accountant rebuilt from the trail once more: its spend is the composition of what the trail charged.
    const system = await ActorSystem.start({ node: "fault", persistence: { path: dir }, logLevel: "error" });
    try {
      const spec = actor("accountant", accountant, WRITER_OPTIONS);
      await system.startChild(supervisor(SUPERVISOR, [spec]));
      const client = new AccountantClient(system.refOf(spec, SUPERVISOR), 30_000);
      for (const user of USERS) {
        const budget = await client.budget(user, DEPARTMENT);
        if (budget.type !== "budget") return assert.fail(JSON.stringify(budget));
        assert.equal(budget.delta, DELTA);
        const charged = chargedEvents(trail, budget.period);
        const expected = spendOf(charged.get(user)!, DELTA);
        assert.ok(Math.abs(budget.user.spent - expected) <= TOLERANCE, `user ${user}: the Accountant says ε ${budget.user.spent} spent, the trail's ${charged.get(user)!.length} charges compose to ${expected}`);
        if (user === USERS[0]) {
          const all = spendOf(charged.get("*")!, DELTA);
          assert.ok(Math.abs(budget.department!.spent - all) <= TOLERANCE, `department ${DEPARTMENT}: the Accountant says ε ${budget.department!.spent} spent, the trail's charges compose to ${all}`);
          t.diagnostic(`final: ${user} spent ε ${budget.user.spent.toFixed(6)}, ${DEPARTMENT} ε ${budget.department!.spent.toFixed(6)} over ${charged.get("*")!.length} charges`);
        }
        const history = await client.history(user, budget.period);
        if (history.type !== "history") return assert.fail(JSON.stringify(history));
        const states = new Map(history.charges.map((c) => [c.key, c.state]));
        for (const entry of trail.reserves.values()) {
          if (entry.user !== user || periodKey(entry.atMs) !== budget.period) continue;
          const settle = trail.settles.get(entry.reservation!)?.action;
          assert.equal(states.get(entry.key!), settle === undefined ? "reserved" : settle === "commit" ? "committed" : "released", `${entry.key}: the ledger's state of ${entry.reservation}`);
          states.delete(entry.key!);
        }
        assert.deepEqual([...states.keys()], [], `user ${user}: the ledger holds charges the trail does not`);
      }
    } finally {
      await system.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

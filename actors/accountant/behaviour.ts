/**
 * The Accountant actor: receives, lets the ledger decide, records the decision in the audit
 * trail (its LMDB journal), and answers. Never acknowledges anything — a reservation, a commit,
 * a refusal, even a read — before LMDB has synced every change the answer could reflect.
 *
 * Durability. The audit trail is the ledger's journal: each change is one hash-chained entry,
 * appended with the anchor `{ auditHead, auditCount }` as the actor state, in one synced
 * transaction; on start the trail is verified and replayed into a fresh ledger (trail.ts), so
 * what the ledger holds is exactly what the trail proves. Like the runtime's `persistent()`,
 * the actor pipelines: it applies a decision in memory at once and handles the next message
 * while LMDB group-commits, and each reply waits for its own write. A later message may see a
 * change that is not on disk yet, but its answer waits for a write ordered after that change,
 * so no answer goes out that a crash could contradict. A failed write fails every later one;
 * the actor then crashes on its next message and restarts from what the trail holds.
 *
 * Who asks. The runtime lets a message in by its sender's kind (ACCOUNTANT_ACCESS); the behaviour
 * then applies the finer rules (authorization.ts) and the ledger checks that whoever settles a
 * reservation made it. Every such refusal is a FORBIDDEN reply that changes nothing, and is
 * reported to the runtime (`ctx.refused`) so that it is counted like the runtime's own.
 */
import { assertNever, defineActor, FedrouterError, registerErrors, type ActorContext, type Behavior, type NodeStore, type ActorStore, type Sender } from "../../runtime/index.ts";
import { parsePath } from "../../runtime/index.ts";
import { auditEntryOf, isAuditId, sealAudit, type AuditEntry, type AuditFields } from "./audit.ts";
import { verifyStoredAudit, type AuditAnchor } from "./audit-store.ts";
import { ownerOf, refusalFor, setterOf } from "./authorization.ts";
import { InvalidPrivacyParameter, UnsupportedPrivacyEvent } from "../../privacy/index.ts";
import { DEFAULT_LEDGER_CONFIG, Ledger, LedgerError, type Remaining } from "./ledger.ts";
import { ACCOUNTANT_ACCESS, DEFAULT_ACCOUNTANT, type AccountantErrorCode, type AccountantMsg, type AccountantOptions, type Rejected, type RemainingBudget } from "./protocol.ts";
import { randomReservationId } from "./reservation-id.ts";
import { factOf, limitFields, operatorActionFields, refusedFields, reservedFields, resetFields, settledFields } from "./trail.ts";
import { invalidMessage, replyToOf } from "./validation.ts";

/**
 * Messages handled per turn before the thread goes back to I/O. Each turn's decisions go to
 * LMDB as one block when the turn ends, so with the runtime's default (1,024) a burst of 64
 * clients became one block of 64 entries, and the thread sat idle through its fsync while every
 * client waited on it: the clients moved in lockstep. With 16, block n syncs while block n+1 is
 * being decided (`npm run bench -- accountant`: entries per block, and the pairs it moved).
 * 8 and 32 did worse: each block's own cost (a condition, the anchor, a promise) paid twice as
 * often, or lockstep again.
 */
const ACCOUNTANT_THROUGHPUT = 16;

/** Prune settled charges of ended periods every this many ticks. */
const PRUNE_EVERY_TICKS = 60;

/** The trail in LMDB does not verify: the Accountant will not charge on top of it. */
export class AuditTrailBroken extends FedrouterError {
  readonly code = "AUDIT_TRAIL_BROKEN";
  constructor(readonly store: string, readonly seq: number, readonly reason: string) {
    super(`the audit trail ${store} is broken at entry seq ${seq} (${reason}); run \`fedrouter audit verify\` and restore the node's LMDB directory from a backup`);
  }
}

registerErrors({ AUDIT_TRAIL_BROKEN: (f) => new AuditTrailBroken(f.string("store"), f.number("seq"), f.string("reason")) });

/**
 * @example
 * const spec = actor("accountant", accountant, { ledger: { defaultUserEpsilon: 3 } });
 * await system.startChild(supervisor("privacy", [spec]));
 * const client = new AccountantClient(system.refOf(spec, "privacy"));
 */
export const accountant = defineActor(import.meta.url, "accountant", (options: AccountantOptions = {}) => accountantBehaviour(options), { access: ACCOUNTANT_ACCESS, throughput: ACCOUNTANT_THROUGHPUT });

function accountantBehaviour(options: AccountantOptions): Behavior<AccountantMsg> {
  const tickMs = options.tickMs ?? DEFAULT_ACCOUNTANT.tickMs;
  let store: ActorStore<AuditAnchor> | undefined;
  let ledger: Ledger;
  let delta = DEFAULT_LEDGER_CONFIG.delta;
  /** The last entry appended (on disk or in flight). */
  let head: AuditEntry | undefined;
  let period: string | undefined;
  let failure: unknown;
  let timer: NodeJS.Timeout | undefined;
  let ticks = 0;

  /** Appends entries and the anchor in one synced transaction; resolves once on disk. */
  const append = (fields: readonly AuditFields[]): Promise<unknown> => {
    const records: Uint8Array[] = [];
    for (const f of fields) {
      const sealed = sealAudit(head, f);
      head = sealed.entry;
      records.push(sealed.bytes); // stored as its canonical bytes: encoded once, for the hash and the disk
    }
    period = ledger.periodAt(head!.atMs).key; // the period of the last change: a reset is noted once
    const written = store!.persist({ state: { auditHead: head!.hash, auditCount: head!.seq }, events: records });
    written.catch((error: unknown) => (failure ??= error));
    return written;
  };
  /** Sends `reply` once everything appended so far is durable (an empty persist is a barrier). */
  const answer = (written: Promise<unknown>, replyTo: { tell(reply: unknown): void }, reply: unknown): void => {
    written.then(() => replyTo.tell(reply), () => undefined); // on failure no answer: the asker times out, the actor restarts
  };
  const barrier = (): Promise<unknown> => store!.persist({});
  const budgetOf = (r: Remaining): RemainingBudget => ({ user: { epsilon: r.user, delta }, department: { epsilon: r.department, delta } });

  /**
   * A reset entry when a period began since the last change, to go before the next one (the trail
   * shows each reset). Changes nothing itself: `append` moves `period` on, so a request that is
   * rejected after this was computed leaves the reset for the next change.
   */
  const periodEntries = (nowMs: number): AuditFields[] => {
    const key = ledger.periodAt(nowMs).key;
    return period !== undefined && key !== period ? [resetFields(nowMs, key)] : [];
  };

  return {
    async start(ctx) {
      failure = undefined;
      const nodeStore = nodeStoreOf(ctx);
      const id = options.storeId ?? parsePath(ctx.path).segments.join("/");
      store = nodeStore.actor<AuditAnchor>(id, { durability: "sync" });
      await store.recover();
      const verdict = verifyStoredAudit(nodeStore, id);
      if (!verdict.ok) throw new AuditTrailBroken(`${nodeStore.path}#${id}`, verdict.firstBad, verdict.reason);
      ledger = new Ledger({ ...DEFAULT_LEDGER_CONFIG, ...options.ledger }, { tight: options.tight === "none" ? null : undefined, newReservationId: randomReservationId });
      delta = ledger.config.delta;
      head = undefined;
      for (const { event } of store.journal()) {
        head = auditEntryOf(event) as AuditEntry; // verified above: every record decodes
        const fact = factOf(head);
        if (fact !== null) ledger.apply(fact);
      }
      period = head === undefined ? undefined : ledger.periodAt(head.atMs).key;
      ledger.prune(ctx.nowMs());
      ctx.log.info("accountant-ready", { path: ctx.path, entries: head?.seq ?? 0, open: ledger.openCount });
      timer = setInterval(() => ctx.self.tell({ type: "tick" }), tickMs);
      timer.unref();
    },

    stop() {
      clearInterval(timer);
      timer = undefined;
    },

    receive(msg, ctx) {
      if (failure !== undefined) throw failure;
      const invalid = invalidMessage(msg);
      if (invalid !== null) {
        const replyTo = replyToOf(msg);
        if (replyTo !== undefined) answer(barrier(), replyTo, invalid);
        else ctx.log.warn("accountant-invalid-message", { code: invalid.code, field: invalid.field ?? null });
        return;
      }
      const sender = ctx.sender;
      const nowMs = ctx.nowMs();
      let rejected = refusalFor(msg, sender);
      if (rejected === null) {
        try {
          handle(msg, nowMs, sender);
          return;
        } catch (error) {
          rejected = rejectionOf(error);
          if (rejected === null) throw error; // a defect: crash, restart from the trail
        }
      }
      if (rejected.code === "FORBIDDEN") ctx.refused(rejected.message); // counted like the runtime's own refusals
      answer(barrier(), msg.type === "tick" ? { tell: () => undefined } : msg.replyTo, rejected);
    },
  };

  function handle(msg: AccountantMsg, nowMs: number, sender: Sender): void {
    switch (msg.type) {
      case "reserve": {
        const before = periodEntries(nowMs);
        const decision = ledger.reserve({ key: msg.key, user: msg.user, department: msg.department, event: msg.event, nowMs, by: ownerOf(sender) });
        const req = { requestId: msg.requestId, contentHash: msg.contentHash };
        switch (decision.type) {
          case "reserved":
            before.push(reservedFields(decision.charge, decision.cost, decision.remaining, delta, req)); // periodEntries' array is fresh: no copy
            answer(append(before), msg.replyTo, {
              type: "reserved", reservation: decision.charge.id, cost: { epsilon: decision.cost, delta }, remaining: budgetOf(decision.remaining),
              expiresAtMs: decision.charge.expiresMs, duplicate: false,
            });
            return;
          case "duplicate": {
            const { charge } = decision;
            answer(before.length ? append(before) : barrier(), msg.replyTo, {
              type: "reserved", reservation: charge.id, cost: { epsilon: ledger.costOf(charge.event), delta },
              remaining: budgetOf(ledger.remaining(msg.user, msg.department, nowMs)), expiresAtMs: charge.expiresMs, duplicate: true,
            });
            return;
          }
          case "refused": {
            const message = `BUDGET_EXCEEDED: ${decision.reason === "user" ? `user ${msg.user}` : `department ${msg.department}`} has ε ${decision.remaining[decision.reason].toFixed(4)} left, this request needs ${decision.needed.toFixed(4)}; resets ${new Date(decision.resetsAtMs).toISOString()}`;
            before.push(refusedFields(nowMs, { ...req, key: msg.key, user: msg.user, department: msg.department, event: msg.event }, decision, delta));
            answer(append(before), msg.replyTo, {
              type: "refused", reason: decision.reason, remaining: budgetOf(decision.remaining), needed: { epsilon: decision.needed, delta }, resetsAtMs: decision.resetsAtMs, message,
            });
            return;
          }
        }
        return;
      }
      case "commit":
      case "release": {
        const by = ownerOf(sender);
        const result = msg.type === "commit"
          ? ledger.commit({ id: msg.reservation, actual: msg.actual, nowMs, by })
          : ledger.release({ id: msg.reservation, noisyOutputReleased: msg.noisyOutputReleased, by });
        const reply = { type: msg.type === "commit" ? "committed" : "released", reservation: result.charge.id, cost: { epsilon: result.cost, delta }, remaining: budgetOf(result.remaining), duplicate: !result.changed };
        if (!result.changed) {
          answer(barrier(), msg.replyTo, reply);
          return;
        }
        const fields = periodEntries(nowMs); // a fresh array
        fields.push(settledFields(result.charge, nowMs, result.cost, result.remaining, delta));
        answer(append(fields), msg.replyTo, reply);
        return;
      }
      case "budget": {
        const view = ledger.budget(msg.user, msg.department, nowMs);
        answer(barrier(), msg.replyTo, { type: "budget", delta, ...view });
        return;
      }
      case "history": {
        const charges = ledger.history(msg.user, msg.period, nowMs);
        answer(barrier(), msg.replyTo, { type: "history", user: msg.user, period: msg.period ?? ledger.periodAt(nowMs).key, charges });
        return;
      }
      case "setBudget": {
        const setBy = setterOf(sender);
        if (!isAuditId(setBy)) throw new LedgerError("INVALID_LEDGER_REQUEST", `the trail cannot record ${JSON.stringify(setBy.slice(0, 140))} as who set a budget: it takes 1..128 printable ASCII characters without spaces; issue the operator (or admin) an identity that fits`, "sender");
        ledger.setLimit(msg.scope, msg.name, msg.epsilon);
        answer(append([limitFields(nowMs, setBy, msg.scope, msg.name, msg.epsilon, delta)]), msg.replyTo, { type: "budget-set", scope: msg.scope, name: msg.name, epsilon: msg.epsilon });
        return;
      }
      case "report": {
        answer(barrier(), msg.replyTo, { type: "report", delta, ...ledger.report(msg.period, nowMs) });
        return;
      }
      case "operatorAction": {
        const written = append([...periodEntries(nowMs), operatorActionFields(nowMs, msg)]);
        answer(written, msg.replyTo, { type: "recorded", seq: head!.seq });
        return;
      }
      case "tick": {
        const fields = periodEntries(nowMs);
        for (const charge of ledger.overdue(nowMs)) {
          const result = ledger.expire(charge.id);
          fields.push(settledFields(result.charge, nowMs, result.cost, result.remaining, delta));
        }
        if (fields.length > 0) void append(fields);
        if (++ticks % PRUNE_EVERY_TICKS === 0) ledger.prune(nowMs);
        return;
      }
      default:
        assertNever(msg);
    }
  }
}

const LEDGER_CODES: Partial<Record<string, AccountantErrorCode>> = { INVALID_LEDGER_REQUEST: "INVALID_REQUEST" };

/** The `rejected` reply for an expected failure; null for a defect. */
function rejectionOf(error: unknown): Rejected | null {
  if (error instanceof LedgerError) return { type: "rejected", code: LEDGER_CODES[error.code] ?? (error.code as AccountantErrorCode), message: error.message, ...(error.field ? { field: error.field } : {}) };
  if (error instanceof InvalidPrivacyParameter) return { type: "rejected", code: error.code, message: error.message, field: error.field };
  if (error instanceof UnsupportedPrivacyEvent) return { type: "rejected", code: error.code, message: error.message, field: "event" };
  return null;
}

function nodeStoreOf<M>(ctx: ActorContext<M>): NodeStore {
  const store = ctx.store as Partial<NodeStore> | undefined | null;
  if (!store || typeof store.actor !== "function") {
    throw new Error(`${ctx.path}: the Accountant needs a durable store; start the ActorSystem with { persistence: { path } }`);
  }
  return store as NodeStore;
}

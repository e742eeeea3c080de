/**
 * The Accountant's gate (validation.ts): every id it takes is 1..MAX_ID_CHARS printable ASCII
 * characters without spaces, the bound the ledger and the audit trail hold too, so what passes
 * the gate is charged and recorded, and what does not is a rejection naming the field and the
 * bound (issue 15, finding 4: it said `Too big`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActorSystem, actor, supervisor } from "../../../runtime/index.ts";
import { accountant, AccountantClient, gnmax, readAuditTrail, verifyStoredAudit } from "../../../actors/accountant/index.ts";
import { clearlyValid, invalidMessage, MAX_ID_CHARS, MAX_RESERVATION_KEY_CHARS, schemaRejection } from "../../../actors/accountant/validation.ts";
import fc from "fast-check";
import { tempDir, withNodeStore } from "../../fixtures/node-store.ts";

const replyTo = { tell: () => undefined };
const reserve = (fields: Record<string, unknown> = {}) => ({ type: "reserve", key: "k-1", user: "dr-lee", department: "radiology", event: gnmax(40), replyTo, ...fields });

test("ids are bounded by one constant, 128, and a reserve key by the same", () => {
  assert.equal(MAX_ID_CHARS, 128);
  assert.equal(MAX_RESERVATION_KEY_CHARS, MAX_ID_CHARS);
});

test("a reserve whose key, user and request id are each exactly the bound passes the gate; one character more is rejected naming the field and the bound", () => {
  const max = "x".repeat(MAX_ID_CHARS);
  assert.equal(invalidMessage(reserve({ key: max, user: max, requestId: max })), null);
  for (const field of ["key", "user", "department", "requestId"]) {
    const rejected = invalidMessage(reserve({ [field]: "x".repeat(MAX_ID_CHARS + 1) }));
    assert.equal(rejected?.code, "INVALID_REQUEST", field);
    assert.equal(rejected?.field, field);
    assert.equal(rejected?.message, `reserve.${field}: must be 1..128 printable ASCII characters without spaces (got 129)`);
  }
  assert.equal(invalidMessage(reserve({ key: "" }))?.message, "reserve.key: must be 1..128 printable ASCII characters without spaces (got 0)");
  assert.equal(invalidMessage(reserve({ key: "a b" }))?.message, "reserve.key: must be 1..128 printable ASCII characters without spaces");
  const budget = invalidMessage({ type: "budget", user: "u".repeat(MAX_ID_CHARS + 1), replyTo });
  assert.equal(budget?.message, "budget.user: must be 1..128 printable ASCII characters without spaces (got 129)");
});

test("what passes the gate at the bound is charged and recorded: a 128-character key, user and request id reserve, and the trail verifies", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-ids-");
  const max = (c: string) => c.repeat(MAX_ID_CHARS);
  const system = await ActorSystem.start({ node: "h1", persistence: { path: dir }, logLevel: "error" });
  try {
    const spec = actor("accountant", accountant, { ledger: { defaultUserEpsilon: 50 } });
    await system.startChild(supervisor("privacy", [spec]));
    const client = new AccountantClient(system.refOf(spec, "privacy"), 20_000);
    const reply = await client.reserve({ key: max("k"), user: max("u"), department: "radiology", event: gnmax(40), requestId: max("r") });
    assert.equal(reply.type, "reserved", JSON.stringify(reply));
    const budget = await client.budget(max("u"));
    assert.equal(budget.type, "budget", JSON.stringify(budget));
  } finally {
    await system.stop();
  }
  withNodeStore(dir, (store) => {
    assert.deepEqual(verifyStoredAudit(store, "user/privacy/accountant").ok, true);
    const entry = [...readAuditTrail(store, "user/privacy/accountant").entries].find((e) => e.action === "reserve");
    assert.equal(entry?.key, max("k"));
  });
});

test("the gate takes Confident-GNMax's threshold check as an event, with its σ and nothing else (issue 14)", () => {
  const confident = { kind: "composed", events: [{ kind: "selfComposed", event: { kind: "thresholdCheck", sigma: 2 }, count: 4 }, { kind: "selfComposed", event: gnmax(4), count: 4 }] };
  assert.equal(invalidMessage(reserve({ event: confident })), null);
  assert.equal(invalidMessage(reserve({ event: { kind: "thresholdCheck" } }))?.code, "INVALID_REQUEST");
  assert.equal(invalidMessage(reserve({ event: { kind: "thresholdCheck", sigma: 2, threshold: 2 } }))?.code, "INVALID_REQUEST", "T is not a parameter of the charge");
});

test("property: the hand check of reserve and commit passes only what the zod schema passes, and passes every valid one", () => {
  const id = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom(..."ab-_.:9Z") });
  const leaf = fc.oneof(
    fc.record({ kind: fc.constant("gaussian"), sigma: fc.double({ noNaN: true, noDefaultInfinity: true }), sensitivity: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
    fc.record({ kind: fc.constant("laplace"), scale: fc.double({ noNaN: true, noDefaultInfinity: true }), sensitivity: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
    fc.record({ kind: fc.constant("exponential"), epsilon: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
    fc.record({ kind: fc.constantFrom("gnmax", "thresholdCheck"), sigma: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
  );
  const event = fc.letrec<{ e: unknown }>((tie) => ({
    e: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf,
      fc.record({ kind: fc.constant("poissonSampled"), samplingRate: fc.double({ noNaN: true, noDefaultInfinity: true }), event: tie("e") }),
      fc.record({ kind: fc.constant("selfComposed"), event: tie("e"), count: fc.integer({ min: 1, max: 100 }) }),
      fc.record({ kind: fc.constant("composed"), events: fc.array(tie("e"), { minLength: 1, maxLength: 3 }) })),
  })).e;
  const valid = fc.oneof(
    fc.record({ type: fc.constant("reserve"), key: id, user: id, department: id, event, replyTo: fc.constant(replyTo), requestId: id, contentHash: fc.stringMatching(/^[0-9a-f]{64}$/) }, { requiredKeys: ["type", "key", "user", "department", "event", "replyTo"] }),
    fc.record({ type: fc.constant("commit"), reservation: id, actual: event, replyTo: fc.constant(replyTo) }),
  );
  // A valid message with one field, at any depth, replaced by anything (or removed, or added).
  const paths = (v: unknown, at: (string | number)[] = []): (string | number)[][] =>
    typeof v === "object" && v !== null && !(at.length === 1 && at[0] === "replyTo") ? [at, ...Object.keys(v).flatMap((k) => paths((v as Record<string, unknown>)[k], [...at, Array.isArray(v) ? Number(k) : k]))] : [at];
  const mutated = valid.chain((msg) => fc.tuple(fc.constant(msg), fc.constantFrom(...paths(msg)), fc.oneof(fc.anything(), fc.constant(undefined), fc.constant(Infinity), fc.constant(-1), fc.constant("a b"), fc.constant("x".repeat(MAX_ID_CHARS + 1)), fc.constantFrom("g".repeat(64), "A".repeat(64), "0".repeat(63), "é")), fc.constantFrom("set", "delete", "add")).map(([m, path, value, how]) => {
    const copy = structuredClone({ ...m, replyTo: undefined }) as Record<string, unknown>;
    copy.replyTo = replyTo;
    if (path.length === 0) return value;
    let parent: Record<string | number, unknown> = copy;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const last = path.at(-1)!;
    if (how === "delete") delete parent[last];
    else if (how === "add" && typeof parent === "object") parent[`x${String(last)}`] = value;
    else parent[last] = value;
    return copy;
  }));
  fc.assert(fc.property(valid, (msg) => {
    assert.equal(clearlyValid(msg), true, JSON.stringify(msg));
    assert.equal(invalidMessage(msg), null);
  }), { numRuns: 300 });
  let refused = 0;
  fc.assert(fc.property(mutated, (msg) => {
    const reference = schemaRejection(msg);
    if (reference !== null) refused++;
    if (clearlyValid(msg)) assert.equal(reference, null, `the hand check passed what zod refuses: ${JSON.stringify(msg)}`);
    assert.deepEqual(invalidMessage(msg), reference);
  }), { numRuns: 1_000 });
  assert.ok(refused > 500, `the mutations must mostly be invalid to test anything (${refused} of 1,000 were)`);
  // Edges a random mutation rarely reaches: each is refused by both.
  const commit = { type: "commit", reservation: "res-1", actual: gnmax(40), replyTo };
  for (const msg of [
    reserve({ contentHash: "g".repeat(64) }), reserve({ contentHash: "A".repeat(64) }), reserve({ contentHash: "0".repeat(63) }), reserve({ requestId: "a\u0085" }),
    reserve({ key: "x".repeat(MAX_RESERVATION_KEY_CHARS + 1) }), reserve({ event: { kind: "selfComposed", event: gnmax(4), count: 1.5 } }), reserve({ event: { kind: "selfComposed", event: gnmax(4), count: 0 } }),
    reserve({ event: { kind: "composed", events: [] } }), reserve({ event: { kind: "gnmax", sigma: 4, extra: 1 } }), reserve({ replyTo: {} }),
    { ...commit, actual: { kind: "gnmax", sigma: Infinity } }, { ...commit, reservation: "" }, { ...commit, extra: 1 },
  ]) {
    assert.equal(clearlyValid(msg), false, JSON.stringify(msg));
    assert.notEqual(schemaRejection(msg), null, JSON.stringify(msg));
  }
});

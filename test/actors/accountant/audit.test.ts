import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { appendAudit, AUDIT_ACTIONS, GENESIS_HASH, toJsonLines, verifyAudit, type AuditEntry, type AuditFields } from "../../../actors/accountant/audit.ts";
import { InvalidAuditEntry } from "../../../actors/accountant/errors.ts";
import { gaussian, poissonSampled } from "../../../privacy/index.ts";

const hexArb = fc.stringMatching(/^[0-9a-f]{64}$/);
const idArb = fc.stringMatching(/^[a-z0-9_-]{1,12}$/);
const pairArb = fc.record({ epsilon: fc.double({ min: 0, max: 10, noNaN: true }), delta: fc.double({ min: 0, max: 1e-3, noNaN: true }) });
const fieldsArb: fc.Arbitrary<AuditFields> = fc.record(
  {
    atMs: fc.integer({ min: 0, max: 2 ** 45 }),
    actor: idArb,
    action: fc.constantFrom(...AUDIT_ACTIONS),
    user: idArb,
    department: idArb,
    requestId: idArb,
    contentHash: hexArb,
    event: fc.constantFrom(gaussian(1.5), poissonSampled(0.01, gaussian(2, 1))),
    cost: pairArb,
    remaining: pairArb,
    detail: fc.stringMatching(/^[ -~]{0,40}$/),
    owner: fc.constantFrom("local:h-a", "peer:h-b", "user:dr-lee"),
    operation: fc.constantFrom("tell", "ask", "restart", "force-breaker"),
    target: fc.stringMatching(/^fed:\/\/[a-z-]{1,8}\/user\/[a-z/-]{1,30}$/),
    messageType: idArb,
  },
  { requiredKeys: ["atMs", "actor", "action"] },
);

function chain(fs: AuditFields[]): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const f of fs) out.push(appendAudit(out.at(-1), f));
  return out;
}
const sample = (n: number, seed = 1) => fc.sample(fieldsArb, { numRuns: n, seed });

test("a chain of 1,000 random entries verifies", () => {
  const c = chain(sample(1000));
  assert.equal(c[0]!.prevHash, GENESIS_HASH);
  assert.deepEqual(c.map((e) => e.seq), Array.from({ length: 1000 }, (_, i) => i + 1));
  assert.deepEqual(verifyAudit(c), { ok: true, count: 1000, lastHash: c[999]!.hash });
  assert.deepEqual(verifyAudit([]), { ok: true, count: 0, lastHash: GENESIS_HASH });
});

test("editing any field of an entry → that entry, edited", () => {
  const c = chain(sample(20, 7).map((f) => ({ ...f, user: "u", detail: "d", cost: { epsilon: 1, delta: 0 } })));
  for (const k of [0, 5, 19]) {
    for (const field of Object.keys(c[k]!)) {
      const t = c.map((e) => ({ ...e }));
      const e = t[k] as unknown as Record<string, unknown>;
      const v = e[field];
      e[field] = typeof v === "number" ? v + 1 : typeof v === "string" ? (/^[0-9a-f]{64}$/.test(v) ? (v[0] === "a" ? "b" : "a") + v.slice(1) : v + "x") : { ...(v as object), epsilon: 99 };
      const r = verifyAudit(t);
      assert.equal(r.ok, false, field);
      if (!r.ok) { assert.equal(r.reason, "edited", field); assert.equal(r.index, k); assert.equal(r.firstBad, e.seq); }
    }
  }
});

test("deleting entry k → first bad k+1; swapping → the first swapped position; head removed; bad genesis", () => {
  const c = chain(sample(10, 3));
  const del = c.filter((e) => e.seq !== 4);
  assert.deepEqual(pick(verifyAudit(del)), { firstBad: 5, index: 3, reason: "deleted-or-reordered" });
  const sw = [...c]; [sw[2], sw[6]] = [sw[6]!, sw[2]!];
  assert.deepEqual(pick(verifyAudit(sw)), { firstBad: 7, index: 2, reason: "deleted-or-reordered" });
  assert.deepEqual(pick(verifyAudit(c.slice(1))), { firstBad: 2, index: 0, reason: "truncated-head" });
  const fake = appendAudit({ ...c[0]!, seq: 0, hash: "ab".repeat(32) }, sample(1)[0]!);
  assert.deepEqual(pick(verifyAudit([fake])), { firstBad: 1, index: 0, reason: "bad-genesis" });
  assert.equal(pick(verifyAudit([{ ...c[0]!, hash: "zz" }])).reason, "malformed");
});

test("tail truncation is detected only with expectedLastHash", () => {
  const c = chain(sample(10, 4));
  const cut = c.slice(0, 7);
  assert.equal(verifyAudit(cut).ok, true);
  assert.deepEqual(pick(verifyAudit(cut, { expectedLastHash: c[9]!.hash })), { firstBad: 8, index: 7, reason: "deleted-or-reordered" });
  assert.equal(verifyAudit(c, { expectedLastHash: c[9]!.hash }).ok, true);
});

function pick(r: ReturnType<typeof verifyAudit>): { firstBad: number; index: number; reason: string } {
  assert.equal(r.ok, false);
  if (r.ok) throw new Error("unreachable");
  return { firstBad: r.firstBad, index: r.index, reason: r.reason };
}

test("property: random chain + one random tampering → verify names exactly that position", () => {
  fc.assert(fc.property(fc.array(fieldsArb, { minLength: 2, maxLength: 30 }), fc.nat(), fc.nat(), fc.constantFrom("edit", "delete", "swap"), (fs, a, b, kind) => {
    const c = chain(fs);
    const n = c.length;
    const i = a % n;
    if (kind === "edit") {
      const t = c.map((e) => ({ ...e }));
      t[i] = { ...t[i]!, atMs: t[i]!.atMs + 1 };
      assert.deepEqual(pick(verifyAudit(t)), { firstBad: i + 1, index: i, reason: "edited" });
    } else if (kind === "delete") {
      const t = c.filter((_, j) => j !== i);
      if (i === n - 1) {
        assert.equal(verifyAudit(t).ok, true);
        assert.equal(pick(verifyAudit(t, { expectedLastHash: c[n - 1]!.hash })).index, i);
      } else assert.deepEqual(pick(verifyAudit(t)), { firstBad: i + 2, index: i, reason: i === 0 ? "truncated-head" : "deleted-or-reordered" });
    } else {
      const j = (i + 1 + (b % (n - 1))) % n;
      const [lo, hi] = [Math.min(i, j), Math.max(i, j)];
      const t = [...c]; [t[lo], t[hi]] = [t[hi]!, t[lo]!];
      assert.deepEqual(pick(verifyAudit(t)), { firstBad: hi + 1, index: lo, reason: lo === 0 ? "truncated-head" : "deleted-or-reordered" });
    }
  }), { numRuns: 300 });
});

test("appendAudit rejects free text and wrong types with InvalidAuditEntry", () => {
  const ok: AuditFields = { atMs: 1, actor: "op", action: "reset" };
  assert.doesNotThrow(() => appendAudit(undefined, { ...ok, detail: "x".repeat(200) }));
  const bads: Record<string, unknown>[] = [
    { detail: "x".repeat(201) }, { detail: "a\nb" }, { detail: 5 }, { actor: "has space" }, { actor: "" }, { user: "u".repeat(129) },
    { action: "steal" }, { atMs: -1 }, { atMs: 1.5 }, { contentHash: "the prompt text" }, { cost: { epsilon: NaN, delta: 0 } },
    { cost: { epsilon: 1, delta: 0, note: "x" } }, { event: { kind: "gaussian", sigma: "big" } }, { prompt: "secret" }, { hash: "00" },
    { owner: "h-b" }, { owner: "peer:has space" }, { owner: "operator:ops-1" }, { target: "fed://h-a/a b" }, { target: "x".repeat(1025) },
    { operation: "" }, { messageType: "a b" }, { body: "the patient said…" },
  ];
  for (const b of bads) assert.throws(() => appendAudit(undefined, { ...ok, ...b } as AuditFields), InvalidAuditEntry, JSON.stringify(b));
});

test("export: JSON lines, stable key order, time filter, round-trips through JSON.parse", () => {
  const c = chain(sample(50, 9).map((f, i) => ({ ...f, atMs: i * 10 })));
  const all = toJsonLines(c);
  const lines = all.trimEnd().split("\n");
  assert.equal(lines.length, 50);
  const back = lines.map((l) => JSON.parse(l) as AuditEntry);
  assert.deepEqual(back, JSON.parse(JSON.stringify(c)));
  assert.equal(verifyAudit(back).ok, true);
  assert.equal(toJsonLines(back), all);
  assert.ok(lines.every((l) => l.startsWith('{"seq":')));
  const part = toJsonLines(c, { fromMs: 100, toMs: 190 }).trimEnd().split("\n").map((l) => (JSON.parse(l) as AuditEntry).seq);
  assert.deepEqual(part, [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  assert.equal(toJsonLines([]), "");
});

test("export never drops a field: an operator action prints every field it has, and a field this version does not know still prints", () => {
  const [act] = chain([{ atMs: 5, actor: "ops-1", action: "operator-action", operation: "restart", target: "fed://h-a/user/node/router", messageType: "reload", detail: "after the config change" }]);
  const line = JSON.parse(toJsonLines([act!])) as Record<string, unknown>;
  assert.deepEqual(Object.keys(line), ["seq", "atMs", "actor", "action", "operation", "target", "messageType", "detail", "prevHash", "hash"]);
  assert.equal(verifyAudit([line as unknown as AuditEntry]).ok, true);
  const future = { ...act!, zone: "eu" } as AuditEntry;
  assert.equal((JSON.parse(toJsonLines([future])) as Record<string, unknown>).zone, "eu");
});

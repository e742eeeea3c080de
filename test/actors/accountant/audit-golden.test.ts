/**
 * Golden hashes of known audit entries: trails already on disk must keep verifying, so the bytes
 * an entry hashes (canonical msgpack after the previous hash) may never change. These values were
 * computed by the encoder as it was before any speed-up; a change to audit.ts or canonical.ts that
 * moves one of them breaks every existing trail.
 */
import { test } from "node:test";
import fc from "fast-check";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendAudit, GENESIS_HASH, hashEntry, verifyAudit, type AuditEntry, type AuditFields } from "../../../actors/accountant/audit.ts";
import { canonicalMsgpack } from "../../../actors/accountant/canonical.ts";
import type { Charge } from "../../../actors/accountant/ledger-types.ts";
import { limitFields, operatorActionFields, refusedFields, reservedFields, resetFields, settledFields } from "../../../actors/accountant/trail.ts";
import { composed, gaussian, gnmax, laplace, poissonSampled, selfComposed } from "../../../privacy/index.ts";

const DELTA = 1e-5;
const AT = Date.UTC(2026, 10, 24, 9, 30); // above 2^32: the uint64 form
const reserved: Charge = {
  id: "res-0123456789abcdef0123456789abcdef", key: "req-42", owner: "peer:h-b", user: "dr-lee", department: "oncology",
  event: selfComposed(gnmax(40), 16), state: "reserved", period: "2026-11", periodEndMs: Date.UTC(2026, 11, 1), createdMs: AT, expiresMs: AT + 300_000,
};

function fields(): AuditFields[] {
  const committed: Charge = { ...reserved, state: "committed", actual: selfComposed(gnmax(40), 8) };
  return [
    resetFields(AT - 5, "2026-11"),
    reservedFields(reserved, 0.0312345678, { user: 4.25, department: 1e9 / 3 }, DELTA, { requestId: "rq-1", contentHash: "ab".repeat(32) }),
    settledFields(committed, AT + 7, 0.0156, { user: 4.5, department: 333_333_333.3 }, DELTA),
    settledFields({ ...reserved, id: "res-2", state: "released" }, AT + 8, 0, { user: 5, department: 7 }, DELTA),
    settledFields({ ...reserved, id: "res-3", state: "committed", actual: reserved.event, expired: true }, AT + 9, 0.5, { user: 0, department: 0 }, DELTA),
    reservedFields({ ...reserved, id: "res-4", key: "k-4", owner: undefined, event: composed(gaussian(2, 1), poissonSampled(0.01, laplace(3))) }, 1, { user: 2, department: 3 }, DELTA, {}),
    refusedFields(AT + 10, { key: "k5", user: "u-1", department: "research", event: gaussian(1.5) }, { reason: "user", remaining: { user: 0.25, department: 2 }, needed: 3.75, resetsAtMs: Date.UTC(2026, 11, 1) }, DELTA),
    limitFields(AT + 11, "ops-1", "department", "research", 8, DELTA),
    limitFields(AT + 12, "user:ada", "user", "u-1", 0, DELTA),
    operatorActionFields(AT + 13, { operator: "ops-1", action: "restart", target: "fed://h-a/user/node/router", messageType: "reload", detail: "après la mise à jour, 200 ms" }),
    { atMs: 0, actor: "a", action: "operator-action", operation: "tell", target: "t".repeat(300), detail: "x".repeat(40) },
  ];
}

const GOLDEN = [
  "8f14e60fa4782e937c1dbcc81196585526eca8be8fd73cfbb18d5377fc59299d",
  "9b145afc335229946aa635460764432af03e8c0fe099b510cbaae9e281e52311",
  "0dbdd67e104e38f8d117fd1310beed4353acc137d443ce47d04b5b996eb50912",
  "1aefa9126c659666e8ee292e21246e806bbca93f21f6ae10b0c6cdef4fd8b3c9",
  "f81e97dcd96a1760480bbb18a2c0aa1db5e8d2ce6303a2248a27fdfcbd03b218",
  "dabe1505bcf63953b8c7b07186915c92f5ee8584e8a536097af6573343c0d8d9",
  "0ff0163db075951b86f5cc0694a97f49b31e81c225fbe64af44ce0335dbd1881",
  "37b080576cee6eb0e192a665a49b9d84f0ada8d3009da74319baa9a20fe5568c",
  "17b042a420676b1b7633d2c88da5468df9a8be9cfb54ef16546ba3036a94c292",
  "a47f633832f3cead3e063235eda1c732f52b775850762ac4aff3f04af9657b98",
  "73858a7d6c80ec5012896c0fa417da2e048c8f5852b812dbb066855357cf645a",
];

function chain(fs: AuditFields[]): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const f of fs) out.push(appendAudit(out.at(-1), f));
  return out;
}

test("known entries hash to their golden values", () => {
  const c = chain(fields());
  assert.deepEqual(c.map((e) => e.hash), GOLDEN);
  assert.equal(verifyAudit(c).ok, true);
});

test("an entry hashes as SHA-256(prevHash bytes ‖ canonical msgpack of its fields without hash)", () => {
  for (const e of chain(fields())) {
    const { hash, ...rest } = e;
    const expected = createHash("sha256").update(Buffer.from(e.prevHash, "hex")).update(canonicalMsgpack(rest)).digest("hex");
    assert.equal(hash, expected);
    assert.equal(hashEntry(e), expected);
  }
  assert.equal(chain(fields())[0]!.prevHash, GENESIS_HASH);
});

test("the canonical bytes of a known commit entry", () => {
  const e = chain(fields())[2]!;
  const { hash: _, ...rest } = e;
  assert.equal(Buffer.from(canonicalMsgpack(rest)).toString("hex"), GOLDEN_COMMIT_BYTES);
});

const GOLDEN_COMMIT_BYTES =
  "8ba6616374696f6ea6636f6d6d6974a56163746f72a664722d6c6565a461744d73cf000001a20ce405c7a4636f737482a564656c7461cb3ee4f8b588e368f1a7657073696c6f6ecb3f8ff2e48e8a71deaa6465706172746d656e74a86f6e636f6c6f6779a56576656e7483a5636f756e7408a56576656e7482a46b696e64a5676e6d6178a57369676d6128a46b696e64ac73656c66436f6d706f736564a87072657648617368d94039623134356166633333353232393934366161363335343630373634343332616630336538633066653039396235313063626161653965323831653532333131a972656d61696e696e6782a564656c7461cb3ee4f8b588e368f1a7657073696c6f6ecb4012000000000000ab7265736572766174696f6ed9247265732d3031323334353637383961626364656630313233343536373839616263646566a373657103a475736572a664722d6c6565";

test("property: appendAudit's hash equals SHA-256(prevHash ‖ canonicalMsgpack(body)) for random entries", () => {
  const id = fc.stringMatching(/^[!-~]{1,20}$/);
  const pairArb = fc.record({ epsilon: fc.double({ noNaN: true, noDefaultInfinity: true }), delta: fc.double({ min: 0, max: 1, noNaN: true }) });
  const eventArb = fc.constantFrom(gaussian(1.5), selfComposed(gnmax(40), 16), composed(gaussian(2, 1), poissonSampled(0.01, laplace(3))));
  const arb: fc.Arbitrary<AuditFields> = fc.record({
    atMs: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 53 - 1 })), actor: id, action: fc.constantFrom("reserve", "commit", "refuse", "operator-action"),
    owner: fc.constantFrom("local:h-a", "peer:h-b"), user: id, department: id, requestId: id, reservation: id, key: id, contentHash: fc.stringMatching(/^[0-9a-f]{64}$/),
    event: eventArb, cost: pairArb, remaining: pairArb, limit: pairArb, detail: fc.string({ maxLength: 200 }).filter((d) => !/[\r\n\u2028\u2029]/.test(d)),
    operation: id, target: fc.stringMatching(/^[!-~]{1,400}$/), messageType: id,
  }, { requiredKeys: ["atMs", "actor", "action"] }) as fc.Arbitrary<AuditFields>;
  fc.assert(fc.property(fc.array(arb, { minLength: 1, maxLength: 8 }), (fs) => {
    for (const e of chain(fs)) {
      const { hash, ...rest } = e;
      assert.equal(hash, createHash("sha256").update(Buffer.from(e.prevHash, "hex")).update(canonicalMsgpack(rest)).digest("hex"));
    }
  }), { numRuns: 300 });
});

test("hashEntry decodes a malformed prevHash as Buffer.from(prevHash, \"hex\") does", () => {
  const e = chain(fields())[1]!;
  for (const prevHash of ["abc", "zz" + e.prevHash.slice(2), e.prevHash.slice(0, 10) + "g" + e.prevHash.slice(11), ""]) {
    const { hash: _, ...rest } = { ...e, prevHash };
    assert.equal(hashEntry({ ...rest }), createHash("sha256").update(Buffer.from(prevHash, "hex")).update(canonicalMsgpack(rest)).digest("hex"));
  }
});

/**
 * Signed contributions (secagg/ckks/signatures.ts): a decryptor accepts contributions signed by
 * distinct hospitals of the ceremony, for this round and these ciphertexts, and refuses each
 * other case by name — unsigned, an unknown signer, a hospital twice, another round, changed
 * ciphertexts, or a name claimed with another hospital's key.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { ckks } from "../../../secagg/index.ts";

const hospitals = ["a", "b", "c"];
const keys = Object.fromEntries(hospitals.map((h) => [h, generateKeyPairSync("ed25519")]));
const signers = Object.fromEntries(hospitals.map((h) => [h, keys[h]!.publicKey.export({ format: "der", type: "spki" }).toString("base64")]));
const update = (seed: number): ckks.EncryptedUpdate => ({ keyId: "k".repeat(64), length: 5, ciphertexts: [Uint8Array.of(seed, 1, 2), Uint8Array.of(seed, 3)] });
const contributions = [update(1), update(2), update(3)];
const sign = (h: string, roundId: string, u: ckks.EncryptedUpdate, as = h) => ckks.signContribution(keys[h]!.privateKey, as, roundId, u);

const refused = (signatures: (ckks.ContributionSignature | undefined)[], pattern: RegExp, list = contributions, round = "r1") =>
  assert.throws(() => ckks.verifyContributionSignatures(signers, round, list, signatures), (e: unknown) => e instanceof ckks.AggregateUnverified && pattern.test(e.message));

test("contributions signed by distinct hospitals of the ceremony, for this round and these ciphertexts, pass", () => {
  ckks.verifyContributionSignatures(signers, "r1", contributions, contributions.map((u, i) => sign(hospitals[i]!, "r1", u)));
  ckks.verifyContributionSignatures(signers, "r1", contributions.slice(0, 2), [sign("c", "r1", contributions[0]!), sign("a", "r1", contributions[1]!)]);
});

test("unsigned, unknown signer, a hospital twice, another round, changed ciphertexts, another hospital's key: each refused", () => {
  const good = contributions.map((u, i) => sign(hospitals[i]!, "r1", u));
  refused([good[0], undefined, good[2]], /contributions\[1\] carries no hospital's signature/);
  const stranger = generateKeyPairSync("ed25519");
  refused([good[0], good[1], ckks.signContribution(stranger.privateKey, "coordinator", "r1", contributions[2]!)], /contributions\[2\] is signed by "coordinator", not a hospital of the key ceremony/);
  refused([good[0], good[1], sign("a", "r1", contributions[2]!)], /contributions\[2\] is a second contribution signed by a/);
  refused(contributions.map((u, i) => sign(hospitals[i]!, "r0", u)), /contributions\[0\] has a signature by a that does not verify/);
  const changed = [...contributions];
  changed[1] = { ...contributions[1]!, ciphertexts: [Uint8Array.of(9, 9, 9), contributions[1]!.ciphertexts[1]!] };
  refused(good, /contributions\[1\] has a signature by b that does not verify/, changed);
  refused([good[0], good[1], sign("a", "r1", contributions[2]!, "c")], /contributions\[2\] has a signature by c that does not verify/);
  refused([{ by: "__proto__", signature: new Uint8Array(64) }, good[1], good[2]], /not a hospital of the key ceremony/);
});

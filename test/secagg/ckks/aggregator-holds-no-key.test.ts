import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CkksAggregator, SecretKeyRefused, dealThresholdKeys, encodeKeyShare, encryptUpdate, type Deal, type EncryptedUpdate } from "../../../secagg/ckks/index.ts";
import { buildContext } from "../../../secagg/ckks/parameters.ts";
import { SECRET_CAPABILITIES, loadPublicSeal, loadSeal } from "../../../native-bindings/seal.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
let deal: Deal;
let update: EncryptedUpdate;
let secretKeyBytes: Uint8Array;

before(async () => {
  deal = await dealThresholdKeys({ parties: 3, threshold: 2 });
  update = await encryptUpdate(deal.bundle, new Float32Array(100).fill(0.5));
  // A real SEAL secret key of the same parameters (another key pair: the dealt one is gone).
  const { seal } = await loadSeal();
  const keygen = seal.KeyGenerator(buildContext(seal, deal.bundle.parameters));
  secretKeyBytes = keygen.secretKey().saveArray(seal.ComprModeType.none);
});

/** Every module the file imports, transitively, by relative path (import type included: it is still code the module may name). */
function importGraph(entry: string): Map<string, string> {
  const seen = new Map<string, string>();
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    const source = readFileSync(path, "utf8");
    seen.set(path, source);
    for (const m of source.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms)) visit(resolve(dirname(path), m[1]!));
  };
  visit(entry);
  return seen;
}

test("the Aggregator's module graph reaches no key generation, decryption or encryption module, and never loads the whole node-seal", () => {
  const graph = importGraph(resolve(root, "secagg/ckks/aggregator.ts"));
  const files = [...graph.keys()].map((p) => p.slice(root.length + 1)).sort();
  for (const forbidden of ["secagg/ckks/dealer.ts", "secagg/ckks/threshold.ts", "secagg/ckks/encrypt.ts", "secagg/ckks/encrypt-pool.ts", "secagg/ckks/round.ts"]) {
    assert.ok(!files.includes(forbidden), `aggregator.ts reaches ${forbidden}: ${files.join(", ")}`);
  }
  assert.ok(files.includes("native-bindings/seal.ts"), "the graph was read (it reaches the loader for PublicSeal's type)");
  for (const [path, source] of graph) {
    if (path.endsWith("native-bindings/seal.ts")) continue; // the loader itself: it builds both views
    const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    assert.doesNotMatch(code, /\.(KeyGenerator|Decryptor|SecretKey|Encryptor|PublicKey|CKKSEncoder)\s*\(/, `${path} constructs key material`);
    assert.doesNotMatch(code, /\bloadSeal\s*\(/, `${path} loads the whole node-seal, not the public view`);
  }
});

test("the public view of node-seal the Aggregator is given has none of the secret capabilities, and cannot be given them", async () => {
  const view = await loadPublicSeal() as unknown as Record<string, unknown>;
  for (const name of SECRET_CAPABILITIES) assert.equal(view[name], undefined, `PublicSeal exposes ${name}`);
  assert.ok(Object.isFrozen(view));
  assert.throws(() => { view.KeyGenerator = () => undefined; }, TypeError);
  assert.equal(typeof view.Evaluator, "function", "it still adds");
});

test("a bundle whose public key is secret-key bytes or a key share is refused with SecretKeyRefused", async () => {
  const seal = await loadPublicSeal();
  assert.throws(() => CkksAggregator.open(seal, { ...deal.bundle, publicKey: secretKeyBytes }), (e: unknown) => e instanceof SecretKeyRefused && e.code === "CKKS_SECRET_KEY_REFUSED" && e.what === "bundle.publicKey");
  assert.throws(() => CkksAggregator.open(seal, { ...deal.bundle, publicKey: encodeKeyShare(deal.shares[0]!) }), SecretKeyRefused);
  // …while the genuine public key opens it.
  CkksAggregator.open(seal, deal.bundle).close();
});

test("secret-key bytes or a key share sent in place of a ciphertext are refused, and nothing is added", async () => {
  const aggregator = CkksAggregator.open(await loadPublicSeal(), deal.bundle);
  try {
    for (const bytes of [secretKeyBytes, encodeKeyShare(deal.shares[1]!)]) {
      assert.throws(() => aggregator.add([update, { ...update, ciphertexts: [bytes] }]), (e: unknown) => e instanceof SecretKeyRefused && e.what === "updates[1].ciphertexts[0]");
      assert.throws(() => aggregator.check(bytes), SecretKeyRefused);
    }
    assert.equal(aggregator.add([update, update]).ciphertexts.length, 1, "genuine ciphertexts still add");
  } finally {
    aggregator.close();
  }
});

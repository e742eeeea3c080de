/**
 * The key ceremony on disk (secagg/ckks/key-files.ts) and `fedrouter keys ckks`: the bundle reads
 * back as dealt, every share file is 0600 and belongs to the bundle, and what is not a bundle —
 * a key share, a tampered key id, a truncated file, a share of another key — is refused by name.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ckks } from "../../../secagg/index.ts";
import { runFedrouter } from "../../fixtures/cli.ts";


test("writeKeyCeremony: the bundle reads back, each share is 0600 and of this bundle, federation.json names the indices; forgeries are refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-ckks-keys-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const written = await ckks.writeKeyCeremony(dir, ["a", "b", "c"], 2);
  const bundle = ckks.readBundleFile(written.bundle);
  assert.equal(bundle.keyId, written.keyId);
  assert.deepEqual([bundle.threshold, bundle.parties], [2, 3]);
  assert.deepEqual(bundle.parameters, ckks.DEFAULT_CKKS_PARAMETERS);
  assert.deepEqual(Object.keys(bundle.signers ?? {}), ["a", "b", "c"], "the bundle lists each hospital's signing key");
  for (const [hospital, { index, file, signing }] of Object.entries(written.shares)) {
    assert.equal(statSync(file).mode & 0o777, 0o600, `${hospital}'s share is readable by its owner only`);
    assert.equal(statSync(signing).mode & 0o777, 0o600, `${hospital}'s signing key is readable by its owner only`);
    assert.equal(ckks.readKeyShareFile(file, bundle).index, index);
    assert.equal(ckks.readSigningKeyFile(signing, bundle, hospital).asymmetricKeyType, "ed25519");
  }
  assert.throws(() => ckks.readSigningKeyFile(written.shares.a!.signing, bundle, "b"), /is not the key the bundle lists for b/);
  assert.throws(() => ckks.readSigningKeyFile(written.shares.a!.signing, bundle, "z"), /belongs to no signer the bundle lists for z/);
  assert.throws(() => ckks.readSigningKeyFile(written.shares.a!.file, bundle, "a"), /is not an Ed25519 private key in PEM/);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "federation.json"), "utf8")), { keyId: written.keyId, threshold: 2, parties: 3, shares: { a: 1, b: 2, c: 3 } });

  const bytes = new Uint8Array(readFileSync(written.bundle));
  const refused = (b: Uint8Array, pattern: RegExp) => assert.throws(() => ckks.decodeBundle(b), (e: unknown) => e instanceof ckks.MalformedCiphertext && pattern.test(e.message));
  refused(new Uint8Array(readFileSync(written.shares.a!.file)), /is a key share \(FRKS\)/);
  refused(bytes.subarray(0, 40), /header of \d+ bytes does not fit/);
  const flipped = bytes.slice();
  flipped[flipped.length - 1]! ^= 1;
  refused(flipped, /not the hash of its public key/);
  const junk = bytes.slice();
  junk[0] = 0;
  refused(junk, /magic FRKB/);
  assert.throws(() => ckks.readBundleFile(join(dir, "missing.bundle")), /cannot be read \(ENOENT\); write the key ceremony with `fedrouter keys ckks`/);

  // A share of another ceremony does not belong to this bundle.
  const other = await ckks.writeKeyCeremony(join(dir, "other"), ["a", "b", "c"], 2);
  assert.throws(() => ckks.readKeyShareFile(other.shares.a!.file, bundle), /belongs to key/);
});

const run = (args: string[]) => runFedrouter(args);

test("fedrouter keys ckks: shares for every hospital that trains (a majority threshold), and bad arguments named with exit 2", { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-keys-ckks-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, "cluster.config.json");
  writeFileSync(config, JSON.stringify({
    name: "keys-ckks", tls: { insecure: true }, model: { path: "models/base" },
    hospitals: ["h-a", "h-b", "h-c", "h-d"].map((id, i) => ({
      id, region: "test", address: `127.0.0.1:${10 + i}`, admin: `127.0.0.1:${20 + i}`, actors: [{ name: "accountant" }, ...(id === "h-d" ? [] : [{ name: "trainer" }])],
    })),
  }));
  const ok = await run(["keys", "ckks", "--config", config]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /dealing a 2-of-3 CKKS key for h-a, h-b, h-c/);
  const summary = JSON.parse(readFileSync(join(dir, "keys", "ckks", "federation.json"), "utf8")) as { shares: Record<string, number> };
  assert.deepEqual(summary.shares, { "h-a": 1, "h-b": 2, "h-c": 3 });
  ckks.readBundleFile(join(dir, "keys", "ckks", "federation.bundle"));

  const unknown = await run(["keys", "ckks", "--config", config, "--hospitals", "h-a,h-x"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--hospitals names h-x, not in/);
  const threshold = await run(["keys", "ckks", "--config", config, "--threshold", "4"]);
  assert.equal(threshold.code, 2);
  assert.match(threshold.stderr, /--threshold 4 must be a whole number from 1 to 3/);

  // An existing ceremony is never replaced unasked: the hospitals hold shares of its key.
  const bundleBefore = readFileSync(join(dir, "keys", "ckks", "federation.bundle"));
  const again = await run(["keys", "ckks", "--config", config]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /keys\/ckks already holds a key ceremony \(federation\.bundle\); --force deals a new key there/);
  assert.deepEqual(readFileSync(join(dir, "keys", "ckks", "federation.bundle")), bundleBefore);
  const forced = await run(["keys", "ckks", "--config", config, "--force", "--hospitals", "h-a,h-b"]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.notDeepEqual(readFileSync(join(dir, "keys", "ckks", "federation.bundle")), bundleBefore);
  writeFileSync(join(dir, "a-file"), "x");
  const badOut = await run(["keys", "ckks", "--config", config, "--out", join(dir, "a-file", "ckks")]);
  assert.equal(badOut.code, 2);
  assert.match(badOut.stderr, /^fedrouter keys ckks: CKKS_INVALID_PARAMETERS: CKKS parameters: dir .*a-file\/ckks cannot be made \(ENOTDIR\)\n$/);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgument } from "../../../runtime/index.ts";
import { createDevPki, readTlsFiles } from "../../../runtime/remote/dev-certs.ts";
import { tempDir } from "../../fixtures/node-store.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const IDS = ["node-a", "node-b"];

/** Whether `id`'s certificate in `dir` was signed by the CA in `dir` and its key is its own (what mTLS will check). */
function holdsTogether(dir: string, id: string): boolean {
  const ca = new X509Certificate(readFileSync(join(dir, "ca.crt")));
  readTlsFiles(join(dir, "ca.crt"), join(dir, `${id}.crt`), join(dir, `${id}.key`)); // throws when the key is not the certificate's
  return new X509Certificate(readFileSync(join(dir, `${id}.crt`))).verify(ca.publicKey);
}

test("a second run keeps the CA and every good certificate, byte for byte", (t) => {
  const dir = tempDir(t, "fedrouter-pki-");
  const first = createDevPki(dir, IDS);
  assert.equal(first.caCreated, true);
  assert.deepEqual(first.certificates.map((c) => c.action), ["issued", "issued"]);
  const before = IDS.map((id) => readFileSync(join(dir, `${id}.crt`), "utf8"));
  const again = createDevPki(dir, IDS);
  assert.equal(again.caCreated, false);
  assert.deepEqual(again.certificates.map((c) => c.action), ["kept", "kept"]);
  assert.deepEqual(IDS.map((id) => readFileSync(join(dir, `${id}.crt`), "utf8")), before);
});

test("after a lost ca.key the new CA reissues every certificate of the old one, saying why (they were kept, and no node trusted another)", (t) => {
  const dir = tempDir(t, "fedrouter-pki-");
  createDevPki(dir, IDS);
  rmSync(join(dir, "ca.key"));
  const pki = createDevPki(dir, IDS);
  assert.equal(pki.caCreated, true);
  assert.deepEqual(pki.certificates.map((c) => c.action), ["reissued", "reissued"]);
  assert.match(pki.certificates[0]!.why!, /node-a\.crt was not issued by this directory's CA \(.*ca\.crt\)/);
  for (const id of IDS) assert.equal(holdsTogether(dir, id), true, id);
});

test("a certificate with another node's key, an unreadable one, or one from another directory's CA is reissued; the others are kept", (t) => {
  const dir = tempDir(t, "fedrouter-pki-");
  const ids = [...IDS, "node-c", "node-d"];
  createDevPki(dir, ids);
  const other = tempDir(t, "fedrouter-pki-other-");
  createDevPki(other, ["node-d"]);
  copyFileSync(join(dir, "node-b.key"), join(dir, "node-a.key"));
  writeFileSync(join(dir, "node-b.crt"), "not a certificate\n");
  copyFileSync(join(other, "node-d.crt"), join(dir, "node-d.crt"));
  copyFileSync(join(other, "node-d.key"), join(dir, "node-d.key"));
  const pki = createDevPki(dir, ids);
  assert.deepEqual(pki.certificates.map((c) => [c.id, c.action]), [["node-a", "reissued"], ["node-b", "reissued"], ["node-c", "kept"], ["node-d", "reissued"]]);
  assert.match(pki.certificates[0]!.why!, /node-a\.key is not the private key of .*node-a\.crt/);
  assert.match(pki.certificates[1]!.why!, /node-b\.crt is not a PEM certificate/);
  assert.match(pki.certificates[3]!.why!, /node-d\.crt was not issued by this directory's CA/);
  for (const id of ids) assert.equal(holdsTogether(dir, id), true, id);
});

test("a CA whose two files are not a pair is refused, not replaced; a directory that cannot be made is an InvalidArgument naming it", (t) => {
  const dir = tempDir(t, "fedrouter-pki-");
  createDevPki(dir, IDS);
  const other = tempDir(t, "fedrouter-pki-other-");
  createDevPki(other, []);
  copyFileSync(join(other, "ca.key"), join(dir, "ca.key"));
  const caBefore = readFileSync(join(dir, "ca.crt"), "utf8");
  assert.throws(() => createDevPki(dir, IDS), (e: unknown) => e instanceof InvalidArgument && e.field === "dir" && /ca\.key is not the private key of .*ca\.crt; .*\); remove both to create a new development CA/.test(e.message));
  assert.equal(readFileSync(join(dir, "ca.crt"), "utf8"), caBefore);
  const file = join(dir, "a-file");
  writeFileSync(file, "x");
  assert.throws(() => createDevPki(join(file, "keys"), IDS), (e: unknown) => e instanceof InvalidArgument && e.field === "dir" && /cannot create .*a-file\/keys \(ENOTDIR\)/.test(e.message));
});

test("fedrouter keys init: an unusable --out is one line and exit 2 (no stack trace); a rerun says what it kept", (t) => {
  const dir = tempDir(t, "fedrouter-pki-cli-");
  writeFileSync(join(dir, "a-file"), "x");
  const cli = (out: string) => spawnSync(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "keys", "init", "--out", out], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  const bad = cli(join(dir, "a-file", "keys"));
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /^fedrouter keys init: dir: cannot create .*a-file\/keys \(ENOTDIR\)\n$/);
  const keys = join(dir, "keys");
  assert.equal(cli(keys).status, 0);
  const rerun = cli(keys);
  assert.equal(rerun.status, 0, rerun.stderr);
  assert.match(rerun.stdout, /^dev CA .*ca\.crt \(kept\)\n {2}hospital-a: .*hospital-a\.crt \(kept\)\n/);
});

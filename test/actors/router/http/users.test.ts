import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { addUser, UserStore, UserStoreError } from "../../../../actors/router/http/index.ts";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

/** Runs the real CLI with `input` on stdin; never throws on a non-zero exit. */
function fedrouter(input: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
    child.stdin!.end(input);
  });
}

test("the user store keeps an scrypt hash under a per-user salt, verifies the right password only, and refuses a duplicate without --replace", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-users-"));
  try {
    const file = join(dir, "users.json");
    await addUser(file, { id: "dr-smith", role: "doctor", department: "cardiology", password: "correct horse battery" });
    await addUser(file, { id: "n-jones", role: "nurse", department: "cardiology", password: "correct horse battery" });
    const text = readFileSync(file, "utf8");
    assert.ok(!text.includes("correct horse"), "no password in the file");
    const stored = JSON.parse(text).users;
    assert.notEqual(stored["dr-smith"].salt, stored["n-jones"].salt, "a salt per user");
    assert.notEqual(stored["dr-smith"].hash, stored["n-jones"].hash, "same password, different hashes");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const store = new UserStore(file);
    assert.deepEqual(await store.verify("dr-smith", "correct horse battery"), { id: "dr-smith", role: "doctor", department: "cardiology" });
    assert.equal(await store.verify("dr-smith", "correct horse batter"), null);
    assert.equal(await store.verify("nobody", "correct horse battery"), null);
    assert.equal(await store.verify("__proto__", "x"), null, "no prototype lookups");
    await assert.rejects(addUser(file, { id: "dr-smith", role: "doctor", department: "cardiology", password: "another password" }),
      (error: unknown) => error instanceof UserStoreError && error.field === "user" && /exists already; pass --replace/.test(error.message));
    await addUser(file, { id: "dr-smith", role: "admin", department: "it", password: "another password" }, { replace: true });
    assert.deepEqual(await store.verify("dr-smith", "another password"), { id: "dr-smith", role: "admin", department: "it" });
    assert.equal(await store.verify("dr-smith", "correct horse battery"), null, "the old password no longer works");
    writeFileSync(file, "{ not json");
    await assert.rejects(store.verify("dr-smith", "x"), (error: unknown) => error instanceof UserStoreError && /is not JSON/.test(error.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a user file that cannot be written is a UserStoreError naming why (a missing directory, a read-only one), and no temporary file is left behind", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-users-"));
  try {
    const missing = join(dir, "no-such-dir", "users.json");
    await assert.rejects(addUser(missing, { id: "dr-smith", role: "doctor", department: "cardiology", password: "correct horse battery" }),
      (error: unknown) => error instanceof UserStoreError && error.field === "" && error.message.includes(`cannot write the user file (ENOENT: its directory ${join(dir, "no-such-dir")} does not exist; create it first)`));
    const readOnly = join(dir, "read-only");
    mkdirSync(readOnly, { mode: 0o500 });
    const file = join(readOnly, "users.json");
    if (process.getuid?.() !== 0) { // root writes anywhere
      await assert.rejects(addUser(file, { id: "dr-smith", role: "doctor", department: "cardiology", password: "correct horse battery" }),
        (error: unknown) => error instanceof UserStoreError && /cannot write the user file \(EACCES\)/.test(error.message));
    }
    // The write itself failing (a directory where the file's temporary name would go) leaves nothing behind.
    const blocked = join(dir, "users.json");
    mkdirSync(`${blocked}.${process.pid}.tmp`);
    await assert.rejects(addUser(blocked, { id: "dr-smith", role: "doctor", department: "cardiology", password: "correct horse battery" }),
      (error: unknown) => error instanceof UserStoreError && /cannot write the user file \(EISDIR\)/.test(error.message));
    assert.deepEqual(readdirSync(dir).sort(), ["read-only", `users.json.${process.pid}.tmp`], "no users.json made; the directory in the way is not ours to remove");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("users added at the same time are all kept (each add read the file, hashed, and wrote back over the others: every add but one was lost after saying added)", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-users-race-"));
  try {
    const file = join(dir, "users.json");
    const ids = ["dr-a", "dr-b", "dr-c", "dr-d"];
    await Promise.all(ids.map((id) => addUser(file, { id, role: "doctor", department: "cardiology", password: `password of ${id}` })));
    // And from another process at the same time as this one.
    const other = new Promise<void>((resolve, reject) => {
      const child = execFile(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "users", "add", "--file", file, "--user", "dr-e", "--role", "nurse", "--department", "radiology", "--password-stdin"], { cwd: ROOT, timeout: 60_000 }, (error, _stdout, stderr) =>
        error ? reject(new Error(stderr)) : resolve());
      child.stdin!.end("password of dr-e\n");
    });
    await Promise.all([other, addUser(file, { id: "dr-f", role: "doctor", department: "cardiology", password: "password of dr-f" })]);
    const store = new UserStore(file);
    for (const id of [...ids, "dr-e", "dr-f"]) assert.ok(await store.verify(id, `password of ${id}`), `${id} was kept`);
    assert.deepEqual(readdirSync(dir), ["users.json"], "no lock or temporary file left");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("fedrouter users add: a --file in a directory that does not exist exits 2 with one line, not a stack trace", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-users-"));
  try {
    const file = join(dir, "nowhere", "users.json");
    const { code, stdout, stderr } = await fedrouter("pw-123456789", "users", "add", "--user", "bob", "--role", "doctor", "--department", "radiology", "--file", file, "--password-stdin");
    assert.equal(code, 2, stderr);
    assert.equal(stdout, "");
    assert.equal(stderr, `fedrouter users add: cannot write the user file (ENOENT: its directory ${join(dir, "nowhere")} does not exist; create it first) (${file})\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("fedrouter users add: --password-stdin adds a user who can log in, never echoing the password; a bad role or a short password exits 2", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-users-cli-"));
  try {
    const file = join(dir, "users.json");
    const password = "s3cret-Pa55word";
    const added = await fedrouter(`${password}\n`, "users", "add", "--file", file, "--user", "dr-smith", "--role", "doctor", "--department", "emergency", "--password-stdin");
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, `added user dr-smith (doctor, emergency) in ${file}\n`);
    assert.ok(!added.stdout.includes(password) && !added.stderr.includes(password), "the password is never printed");
    assert.deepEqual(await new UserStore(file).verify("dr-smith", password), { id: "dr-smith", role: "doctor", department: "emergency" }, "the trailing newline is not part of the password");

    const badRole = await fedrouter(`${password}\n`, "users", "add", "--file", file, "--user", "x", "--role", "janitor", "--department", "emergency", "--password-stdin");
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /^fedrouter users add: --role: "janitor" is not a role; expected one of doctor, nurse, researcher, admin, operator/);
    const short = await fedrouter("short\n", "users", "add", "--file", file, "--user", "y", "--role", "nurse", "--department", "emergency", "--password-stdin");
    assert.equal(short.code, 2);
    assert.match(short.stderr, /the password: must be 8\.\.1024 characters \(got 5\)/);
    assert.ok(!short.stderr.includes("short\n") && !short.stderr.includes(": short"), "not even a refused password is printed");
    const noPassword = await fedrouter("", "users", "add", "--file", file, "--user", "z", "--role", "nurse", "--department", "emergency");
    assert.equal(noPassword.code, 2, "no terminal and no --password-stdin");
    assert.match(noPassword.stderr, /no password: pipe it in with --password-stdin/);
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, "utf8")).users), ["dr-smith"], "refusals wrote nothing");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("fedrouter users add refuses a department the cluster config has no budget for, naming the ones it has (issue 14); a config it cannot read is exit 2 too", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-users-dept-"));
  try {
    const file = join(dir, "users.json");
    const config = join(dir, "cluster.config.json");
    writeFileSync(config, JSON.stringify({
      name: "dept-test", hospitals: [{ id: "h-a", region: "test", address: "127.0.0.1:1", admin: "127.0.0.1:2" }],
      privacy: { departments: { radiology: 10, emergency: 20 } },
    }));
    const password = "s3cret-Pa55word\n";
    const stray = await fedrouter(password, "users", "add", "--config", config, "--file", file, "--user", "dr-x", "--role", "doctor", "--department", "oncology", "--password-stdin");
    assert.equal(stray.code, 2);
    assert.equal(stray.stderr, `fedrouter users add: --department: "oncology" has no privacy budget in ${config} (privacy.departments: radiology, emergency); use one of them, or add it to the config first\n`);
    const missing = await fedrouter(password, "users", "add", "--config", join(dir, "nowhere.ts"), "--file", file, "--user", "dr-x", "--role", "doctor", "--department", "radiology", "--password-stdin");
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^fedrouter users add: --config: cannot check --department against the cluster config: .*nowhere\.ts/);
    assert.throws(() => readFileSync(file), "nothing was written");
    const added = await fedrouter(password, "users", "add", "--config", config, "--file", file, "--user", "dr-x", "--role", "doctor", "--department", "radiology", "--password-stdin");
    assert.equal(added.code, 0, added.stderr);
    assert.deepEqual(await new UserStore(file).verify("dr-x", password.trim()), { id: "dr-x", role: "doctor", department: "radiology" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

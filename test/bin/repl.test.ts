import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { ActorSystem, actor, supervisor, type RemoteSecurity } from "../../runtime/index.ts";
import { createDevPki, readTlsFiles } from "../../runtime/remote/dev-certs.ts";
import { AdminServer } from "../../runtime/remote/admin-server.ts";
import { completePath, displayPath, formatTable, resolvePath, runRepl } from "../../bin/repl/index.ts";
import { counter } from "../fixtures/actors.ts";
import { freePort } from "../fixtures/free-port.ts";

let dir: string;
let system: ActorSystem;
let admin: AdminServer;

function tls(id: string): RemoteSecurity {
  return readTlsFiles(join(dir, "ca.crt"), join(dir, `${id}.crt`), join(dir, `${id}.key`));
}

/** Pipes `lines` into a REPL as stdin would, and returns everything it printed once it has finished. */
async function session(lines: readonly string[], security = tls("operator")): Promise<string> {
  const input = new PassThrough();
  let printed = "";
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      printed += chunk.toString();
      done();
    },
  });
  input.end(`${lines.join("\n")}\n`);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    runRepl({ address: admin.address, security, input, output, node: "node-a" }),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the REPL did not finish; it printed:\n${printed}`)), 15_000);
    }),
  ]).finally(() => clearTimeout(timer));
  return printed;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "fedrouter-repl-"));
  createDevPki(dir, ["node-a", "operator", "intruder"]);
  system = await ActorSystem.start({ node: "node-a", logLevel: "silent" });
  await system.spawn(counter, 0, { name: "counter" });
  await system.startChild(supervisor("core", [actor("inner", counter, 100)]));
  admin = await AdminServer.start(system, { listen: "127.0.0.1:0", security: tls("node-a") });
});

after(async () => {
  await admin.stop();
  await system.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("piped commands: the tree lists the actors, ask prints the value, a restart is followed by its event", async () => {
  const out = await session([
    ".tree",
    ".ask counter {\"type\":\"get\"}",
    ".send counter {\"type\":\"add\",\"n\":4}",
    "ask counter {\"type\":\"get\"}",
    ".events 0",
    ".restart counter",
    ".ask fed://node-a/user/counter {\"type\":\"get\"}",
    ".state core/inner",
  ]);
  const lines = out.split("\n");
  // The tree: a header, the root guardian, its children drawn as branches.
  assert.match(out, /^ACTOR\s+PLACEMENT\s+STATUS\s+RESTARTS\s+MAILBOX\s+PROCESSED$/m);
  assert.match(out, /^user\s+supervisor\s+running\s+0\s*$/m);
  assert.match(out, /^├─ counter\s+local\s+running\s+0\s+0\s+0$/m);
  assert.match(out, /^└─ core\s+supervisor\s+running/m);
  assert.match(out, /^   └─ inner\s+local\s+running/m);
  const replies = lines.filter((line) => line.startsWith("reply: "));
  assert.deepEqual(replies, ["reply: 0", "reply: 4", "reply: 0"]);
  assert.ok(lines.includes("sent to fed://node-a/user/counter"));
  const restartedAt = lines.indexOf("restarted fed://node-a/user/counter (restarts: 1)");
  const eventAt = lines.findIndex((line) => /^event {2}\d\d:\d\d:\d\d\.\d{3} {2}restarted {2}\s*counter {2}restarts=1 {2}delayMs=0$/.test(line));
  assert.ok(lines.includes("following events of node-a (.stop ends it)"), out);
  assert.ok(restartedAt >= 0 && eventAt >= 0, out);
  assert.match(out, /^short path\s+core\/inner$/m);
  assert.match(out, /^mailbox depth\s+0$/m);
});

test("events that happened just before .events are replayed, then it follows until .stop", async () => {
  const out = await session([".restart core/inner", ".events 1", ".stop", ".restart counter"]);
  const lines = out.split("\n");
  assert.ok(lines.some((line) => /^event .*restarted\s+core\/inner {2}restarts=1/.test(line)), out);
  assert.ok(lines.includes("stopped following events"), out);
  // Followed no more: the second restart prints its reply but no event line.
  assert.ok(lines.includes("restarted fed://node-a/user/counter (restarts: 2)"), out);
  assert.equal(lines.filter((line) => /^event .*restarted\s+counter/.test(line)).length, 0, out);
});

test("failures print error: CODE: message and the REPL goes on", async () => {
  const out = await session([
    ".ask ghost {\"type\":\"get\"}",
    ".ask counter {not json",
    ".send counter",
    ".restart",
    "frobnicate",
    ".frobnicate now",
    ".ask counter {\"type\":\"sleep\",\"ms\":1}",
    ".breakers",
    ".breaker fed://nowhere open",
  ]);
  const errors = out.split("\n").filter((line) => line.startsWith("error: "));
  assert.deepEqual(errors.map((line) => line.split(":")[1]!.trim()), ["ACTOR_NOT_FOUND", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "UNKNOWN_COMMAND", "UNKNOWN_COMMAND", "NOT_FOUND"]);
  assert.match(out, /^error: UNKNOWN_COMMAND: ".frobnicate" is not a command; .help lists them$/m, "a dotted one too (node:repl's own answer was \"Invalid REPL keyword\")");
  assert.doesNotMatch(out, /Invalid REPL keyword/);
  assert.match(out, /^error: ACTOR_NOT_FOUND: no actor at fed:\/\/node-a\/user\/ghost$/m);
  assert.match(out, /^error: INVALID_ARGUMENT: json: is not valid JSON/m);
  assert.match(out, /^reply: "slept"$/m);
  assert.match(out, /^no circuit breakers yet/m);
});

test("a certificate that is not an operator's gets PERMISSION_DENIED on every command, without ending the REPL", async () => {
  const out = await session([".tree", ".ask fed://node-a/user/counter {\"type\":\"get\"}"], tls("intruder"));
  const denied = out.split("\n").filter((line) => line.startsWith("error: PERMISSION_DENIED: client certificate CN \"intruder\""));
  assert.equal(denied.length, 3, out); // the first look at the tree, then each command
});

test("an unreachable node prints UNAVAILABLE for each command, and the REPL still ends with its input", async () => {
  const input = new PassThrough();
  let out = "";
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString();
      done();
    },
  });
  input.end(".tree\n.events\nexit\n.tree\n");
  const port = await freePort(); // free: nothing listens there
  await runRepl({ address: `127.0.0.1:${port}`, security: { kind: "insecure" }, input, output });
  const errors = out.split("\n").filter((line) => line.startsWith("error: "));
  assert.equal(errors.length, 3, out); // the first look at the tree, .tree, .events; nothing after exit
  for (const line of errors) assert.match(line, new RegExp(`^error: UNAVAILABLE: .*ECONNREFUSED 127\\.0\\.0\\.1:${port}$`));
});

test("paths: short forms resolve under the user guardian, and completion offers them", () => {
  assert.equal(resolvePath("counter", "node-a"), "fed://node-a/user/counter");
  assert.equal(resolvePath("core/inner", "node-a"), "fed://node-a/user/core/inner");
  assert.equal(resolvePath("user/core", "node-a"), "fed://node-a/user/core");
  assert.equal(resolvePath("user", "node-a"), "fed://node-a/user");
  assert.equal(resolvePath("fed://node-b/user/x", "node-a"), "fed://node-b/user/x");
  assert.throws(() => resolvePath("counter", undefined), { code: "INVALID_PATH" });
  assert.equal(displayPath("fed://node-a/user/user", "node-a"), "user/user");
  assert.equal(resolvePath(displayPath("fed://node-a/user/user", "node-a"), "node-a"), "fed://node-a/user/user");
  const known = ["fed://node-a/user", "fed://node-a/user/counter", "fed://node-a/user/core", "fed://node-a/user/core/inner"];
  assert.deepEqual(completePath("co", known, "node-a"), ["core", "core/inner", "counter"]);
  assert.deepEqual(completePath("core/", known, "node-a"), ["core/inner"]);
  assert.deepEqual(completePath("user/c", known, "node-a"), ["user/core", "user/core/inner", "user/counter"]);
  assert.deepEqual(completePath("fed://node-a/user/cou", known, "node-a"), ["fed://node-a/user/counter"]);
});

test("tables align their columns, numbers to the right", () => {
  assert.equal(formatTable(["path", "restarts"], [["counter", 1], ["core/inner", 12]]), [
    "PATH        RESTARTS",
    "counter            1",
    "core/inner        12",
  ].join("\n"));
});

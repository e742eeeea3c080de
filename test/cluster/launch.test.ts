import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createDevPki } from "../../runtime/index.ts";
import { freePort, freePorts } from "../fixtures/free-port.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function launch(config: string, hospital: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "launch", "--hospital", hospital, "--config", config], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test("launch refuses a bad config (exit 2), a missing, garbled or mismatched certificate or key, a data.mdb that is not LMDB (exit 2) and a busy port (exit 1), each with a clear message", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-launch-"));
  const blocker = createServer();
  try {
    const port = await new Promise<number>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve((blocker.address() as { port: number }).port)));
    const hospitals = [{ id: "h-a", region: "r", address: `127.0.0.1:${port}`, admin: `127.0.0.1:${await freePort()}` }];
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ name: "t", hospitals: [{ ...hospitals[0], address: "nowhere" }] }));
    const badRun = await launch(bad, "h-a");
    assert.equal(badRun.code, 2);
    assert.match(badRun.stderr, /hospitals\[0\]\.address: must be host:port/);

    const good = join(dir, "cluster.config.json");
    writeFileSync(good, JSON.stringify({ name: "t", hospitals }));
    const noCert = await launch(good, "h-a");
    assert.equal(noCert.code, 2);
    assert.match(noCert.stderr, /cannot read .*ca\.crt \(run `fedrouter keys init`/);

    // Files that are there but unusable are named at once (exit 2), not an OpenSSL error on every restart.
    createDevPki(join(dir, "keys"), ["h-a", "h-b"]);
    const certPem = readFileSync(join(dir, "keys", "h-a.crt"));
    const keyPem = readFileSync(join(dir, "keys", "h-a.key"));
    writeFileSync(join(dir, "keys", "h-a.crt"), "not a certificate\n");
    const garbled = await launch(good, "h-a");
    assert.equal(garbled.code, 2, garbled.stderr);
    assert.match(garbled.stderr, /tls\.cert: .*h-a\.crt is not a PEM certificate \(/);
    writeFileSync(join(dir, "keys", "h-a.crt"), certPem);
    writeFileSync(join(dir, "keys", "h-a.key"), readFileSync(join(dir, "keys", "h-b.key")));
    const mismatched = await launch(good, "h-a");
    assert.equal(mismatched.code, 2, mismatched.stderr);
    assert.match(mismatched.stderr, /tls\.key: .*h-a\.key is not the private key of .*h-a\.crt/);
    writeFileSync(join(dir, "keys", "h-a.key"), keyPem);

    // A data.mdb that is not whole LMDB (here zeros) is named, exit 2: restarting would not mend it.
    mkdirSync(join(dir, ".data", "h-a"), { recursive: true });
    writeFileSync(join(dir, ".data", "h-a", "data.mdb"), Buffer.alloc(64 * 1024));
    const unreadable = await launch(good, "h-a");
    assert.equal(unreadable.code, 2, unreadable.stderr);
    assert.match(unreadable.stderr, /h-a: .*data\.mdb is not an LMDB file \(its meta page has magic 0x00000000, not 0xbeefc0de\); restore the directory from a backup/);
    rmSync(join(dir, ".data", "h-a"), { recursive: true });

    const busy = await launch(good, "h-a");
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));

    const unknown = await launch(good, "h-z");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--hospital "h-z" is not in hospitals \(known: h-a\)/);
  } finally {
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a node with listenHost 0.0.0.0 binds every interface on the ports of address and admin, and its peers dial address", { timeout: 60_000 }, async () => {
  // Linux routes all of 127/8 to loopback, but a socket bound to one of those addresses answers
  // on it alone: the nodes are dialed at 127.0.0.2 (their address, as a Service name is in a pod)
  // and must answer on 127.0.0.3 too, which only a bind to 0.0.0.0 does.
  const { launchHospital } = await import("../../cluster/index.ts");
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-listen-"));
  const [a, b, adminA, adminB] = await freePorts(4);
  const hospitals = [
    { id: "h-a", region: "r", address: `127.0.0.2:${a}`, admin: `127.0.0.2:${adminA}`, listenHost: "0.0.0.0" },
    { id: "h-b", region: "r", address: `127.0.0.2:${b}`, admin: `127.0.0.2:${adminB}`, listenHost: "0.0.0.0" },
  ];
  createDevPki(join(dir, "keys"), ["h-a", "h-b"]);
  const nodes = [];
  try {
    for (const id of ["h-a", "h-b"]) nodes.push(await launchHospital({ config: { name: "t", hospitals }, hospital: id, baseDir: dir, logLevel: "silent" }));
    assert.equal(nodes[0]!.system.transport?.address, `0.0.0.0:${a}`);
    assert.equal(nodes[0]!.admin.address, `0.0.0.0:${adminA}`);
    for (const port of [a, adminA]) assert.ok(await accepts("127.0.0.3", port!), `nothing answers on 127.0.0.3:${port}`);
    const deadline = Date.now() + 20_000;
    while (!nodes[0]!.system.transport!.peers().some((p) => p.peer === "h-b" && p.up)) {
      assert.ok(Date.now() < deadline, `no link h-a → h-b: ${JSON.stringify(nodes[0]!.system.transport!.peers())}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    for (const node of nodes.reverse()) await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

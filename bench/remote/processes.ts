/**
 * The remote suite's second processes, on loopback only: a hospital started with
 * `bin/fedrouter.ts launch` from a cluster config written into a temp dir, and the bare
 * grpc-js server of the floors. Every child is tracked; whatever the suite does not stop
 * itself is killed when this process exits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ACTORS_MODULE = fileURLToPath(new URL("../runtime/actors.ts", import.meta.url));
const RAW_SERVER = fileURLToPath(new URL("./raw-server.ts", import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

/** The node id of the benchmark process, and of the hospital it talks to (the id sorting first dials). */
export const BENCH_NODE = "bench";
export const HOSPITAL = "remote-hospital";

const live = new Set<ChildProcess>();
let exitHook = false;

export interface Child {
  readonly process: ChildProcess;
  /** What the line that said it was ready matched. */
  readonly ready: RegExpExecArray;
  /** The last few kB it printed, for error messages. */
  output(): string;
}

/** Spawns `node --import tsx <args>` in the repository root and resolves once a line matches `ready`. */
function start(what: string, args: string[], ready: RegExp, stdin: "ignore" | "pipe"): Promise<Child> {
  if (!exitHook) {
    exitHook = true;
    process.once("exit", () => {
      for (const child of live) child.kill("SIGKILL");
    });
  }
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: ROOT, stdio: [stdin, "pipe", "pipe"] });
  live.add(child);
  child.once("exit", () => live.delete(child));
  let out = "";
  const output = () => out;
  return new Promise<Child>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} did not start within ${START_TIMEOUT_MS / 1_000} s:\n${out}`));
    }, START_TIMEOUT_MS);
    let started = false;
    // Read everything it prints for as long as it runs: a full pipe would stall it.
    const onData = (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-4_000);
      const match = started ? null : ready.exec(out);
      if (match !== null) {
        started = true;
        clearTimeout(timer);
        resolve({ process: child, ready: match, output });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`${what} exited with ${code ?? signal} before it was ready:\n${out}`));
    });
  });
}

/** SIGTERM, then SIGKILL if it has not exited within a few seconds; resolves once it has exited. */
export async function stopChild(child: Child | undefined): Promise<void> {
  const proc = child?.process;
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** A loopback port free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export interface ClusterFiles {
  readonly configFile: string;
  readonly hospitalAddress: string;
  readonly benchAddress: string;
}

/**
 * A two-node cluster config in `dir`: the hospital runs the suite's counters and `echo`
 * (from bench/runtime/actors.ts, the same as the runtime suite): `sink` is the counter with
 * a policy open to every sender kind (`openSink`; the runtime suite's `sink` has no policy,
 * which refuses peers), `guarded-sink` the one whose policy lets `add` in from peers and
 * users only and which reads ctx.sender. The benchmark process is the second node, with no
 * actors. Certificates are read from `dir/keys` (createDevPki) unless `insecure`.
 */
export async function writeCluster(dir: string, insecure: boolean): Promise<ClusterFiles> {
  const [hospitalPort, hospitalAdmin, benchPort, benchAdmin] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const hospitalAddress = `127.0.0.1:${hospitalPort}`;
  const benchAddress = `127.0.0.1:${benchPort}`;
  const configFile = join(dir, `cluster-${insecure ? "insecure" : "mtls"}.json`);
  writeFileSync(configFile, JSON.stringify({
    name: "bench-remote",
    tls: { ca: "keys/ca.crt", insecure },
    hospitals: [
      {
        id: HOSPITAL,
        region: "bench",
        address: hospitalAddress,
        admin: `127.0.0.1:${hospitalAdmin}`,
        dataDir: `data-${insecure ? "insecure" : "mtls"}`,
        actors: [
          { name: "sink", module: ACTORS_MODULE, definition: "open-sink" },
          { name: "guarded-sink", module: ACTORS_MODULE },
          { name: "echo", module: ACTORS_MODULE },
        ],
      },
      { id: BENCH_NODE, region: "bench", address: benchAddress, admin: `127.0.0.1:${benchAdmin}`, actors: [] },
    ],
  }, null, 2));
  return { configFile, hospitalAddress, benchAddress };
}

/** `fedrouter launch --hospital remote-hospital --config <file>`, ready once its transport listens. */
export function launchHospital(configFile: string): Promise<Child> {
  return start(HOSPITAL, ["bin/fedrouter.ts", "launch", "--hospital", HOSPITAL, "--config", configFile], /transport listening/, "ignore");
}

/** bench/remote/raw-server.ts; resolves with its address. Its stdin is our pipe: it stops if we go away. */
export async function startRawServer(mode: "insecure" | "mtls", keys: string): Promise<{ child: Child; address: string }> {
  const child = await start("raw-server", [RAW_SERVER, mode, keys], /raw-server listening on (\S+)/, "pipe");
  return { child, address: child.ready[1]! };
}

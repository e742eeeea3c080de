/**
 * The "remote" suite: fedrouter between two processes on loopback beside raw grpc-js between
 * two processes, measured in this run (STYLE §8). This process is a node of a two-node
 * cluster; the other node is a hospital started with `bin/fedrouter.ts launch`, and the floors
 * talk to bench/remote/raw-server.ts. Two phases, each with its own children: plaintext
 * (tell), then mutual TLS (tell with and without identity checks, ask, and the receive path
 * of a peer's frames with and without them in this process). Certificates, configs and the
 * hospital's LMDB live in a temp dir, removed at the end with every child stopped. About a
 * minute on a 2-core machine.
 *
 * Issue 11's estimated row puts the two identity measurements together: the receive path's
 * extra time per message with the checks (1/with − 1/without, from receive.ts, in this
 * process) taken off the time per message of the remote tell with every check (identity.ts,
 * to the guarded sink) gives an estimate of that tell without them; ratio = measured /
 * estimate. It counts the receiving side's extra time as if it added up serially with
 * everything else, which overstates the share when sender and receiver run in parallel on
 * their own cores, rather than hiding it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActorSystem, createDevPki, readTlsFiles, type RemoteSecurity } from "../../runtime/index.ts";
import { compared, type BenchResult } from "../report.ts";
import { remoteAsk } from "./ask.ts";
import { remoteTellIdentity } from "./identity.ts";
import { receivePath } from "./receive.ts";
import { BENCH_NODE, HOSPITAL, launchHospital, startRawServer, stopChild, writeCluster, type Child } from "./processes.ts";
import { connectRaw, type RawClient } from "./raw-client.ts";
import { RAW_SERVER_ID } from "./raw-proto.ts";
import { N, remoteTell } from "./tell.ts";

/**
 * Envelopes that may wait for the stream on this node: a tell batch is N synchronous tells,
 * all queued before the link's first flush (the transport's default, 10,000, would refuse
 * the rest), as the runtime suite gives its sink a mailbox of 1,000,000.
 */
const OUTBOUND_CAPACITY = 4 * N;
const CONNECT_TIMEOUT_MS = 20_000;

type Mode = "insecure" | "mtls";

/** Starts the hospital and the raw server for `mode`, joins the cluster, runs `body`, stops everything. */
async function phase<T>(dir: string, keys: string, mode: Mode, body: (system: ActorSystem, raw: RawClient) => Promise<T>): Promise<T> {
  const cluster = await writeCluster(dir, mode === "insecure");
  let hospital: Child | undefined;
  let rawServer: Child | undefined;
  let system: ActorSystem | undefined;
  let raw: RawClient | undefined;
  try {
    const [h, r] = await Promise.allSettled([launchHospital(cluster.configFile), startRawServer(mode, keys)]);
    if (h.status === "fulfilled") hospital = h.value;
    if (r.status === "fulfilled") rawServer = r.value.child;
    if (h.status === "rejected") throw h.reason;
    if (r.status === "rejected") throw r.reason;
    const security: RemoteSecurity = mode === "insecure"
      ? { kind: "insecure" }
      : readTlsFiles(join(keys, "ca.crt"), join(keys, `${BENCH_NODE}.crt`), join(keys, `${BENCH_NODE}.key`));
    system = await ActorSystem.start({
      node: BENCH_NODE,
      logLevel: "silent",
      remote: {
        listen: cluster.benchAddress,
        peers: [{ id: BENCH_NODE, address: cluster.benchAddress }, { id: HOSPITAL, address: cluster.hospitalAddress }],
        security,
        link: { outboundCapacity: OUTBOUND_CAPACITY },
      },
    });
    const transport = system.transport!;
    const started = Date.now();
    while (!transport.peers().every((p) => p.up)) {
      if (Date.now() - started > CONNECT_TIMEOUT_MS) {
        throw new Error(`${BENCH_NODE} could not reach ${HOSPITAL} (${mode}): ${transport.peers().map((p) => p.lastDownReason).join("; ")}\n${hospital?.output() ?? ""}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    raw = await connectRaw(r.value.address, mode, keys, BENCH_NODE);
    return await body(system, raw);
  } finally {
    raw?.close();
    await system?.stop();
    await Promise.all([stopChild(hospital), stopChild(rawServer)]);
  }
}

export async function runRemoteSuite(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-bench-remote-"));
  try {
    const keys = join(dir, "keys");
    createDevPki(keys, [BENCH_NODE, HOSPITAL, RAW_SERVER_ID]);
    const results: BenchResult[] = [];
    results.push(await phase(dir, keys, "insecure", (system, raw) => remoteTell(system, raw, "insecure")));
    results.push(...(await phase(dir, keys, "mtls", async (system, raw) => {
      const tell = await remoteTell(system, raw, "mTLS");
      const withChecks = await remoteTellIdentity(system);
      const ask = await remoteAsk(system, raw);
      const receive = await receivePath(system);
      const extraSecondsPerMsg = 1 / receive.withChecks - 1 / receive.without;
      const measured = withChecks.value;
      const estimatedWithout = 1 / (1 / measured - Math.max(0, extraSecondsPerMsg));
      const share = compared("remote tell (mTLS), stamp + checks + policy, estimated", "msg/s", measured, {
        name: "estimated without them: its time per message less the receive path's extra time per message",
        value: estimatedWithout,
      }, "≥ 0.95");
      return [tell, withChecks, receive.result, share, ...ask];
    })));
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

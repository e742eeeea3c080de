/**
 * Runs benchmark suites: `node --import tsx bench/run.ts runtime` (or `npm run bench -- runtime`,
 * or `fedrouter bench runtime`). Each suite prints its table and writes bench/results/<suite>.json.
 * No suite named: all of them. An unknown name: an error listing the suites, exit code 2.
 */
import { pathToFileURL } from "node:url";
import { buildReport, formatTable, writeReport, type BenchResult } from "./report.ts";

type Suite = () => Promise<BenchResult[]>;

const SUITES: Record<string, { describe: string; minutes: number; load: () => Promise<Suite> }> = {
  runtime: {
    describe: "cross-thread and same-thread tell, with a sender + access policy vs without, cross-thread ask latency, durable updates (vs MessagePort, direct calls, lmdb-js)",
    minutes: 1,
    load: async () => (await import("./runtime/suite.ts")).runRuntimeSuite,
  },
  accountant: {
    describe: "durable reserve+commit pairs with 64 clients (vs raw synced lmdb-js puts), the same pairs to a bare durable actor, main-thread time per pair, PLD/RDP time for 1,000 and 10,000 DP-SGD steps, RDP vs PLD ε table",
    minutes: 2,
    load: async () => (await import("./accountant/suite.ts")).runAccountantSuite,
  },
  remote: {
    describe: "tell throughput (plaintext, mTLS; with and without identity checks) and ask latency (mTLS) to a second process on loopback (vs raw grpc-js), a peer's frames received with and without the stamp and checks",
    minutes: 1,
    load: async () => (await import("./remote/suite.ts")).runRemoteSuite,
  },
  executor: {
    describe: "GPT-2 124M-shaped decode and 128-token prefill tokens/s, one executor (vs a raw tfjs matMul chain and the memory-bandwidth bound), 2-stage pipeline vs one executor",
    minutes: 4,
    load: async () => (await import("./executor/suite.ts")).runExecutorSuite,
  },
  http: {
    describe: "/v1/health req/s (vs bare fastify), 16-token inference req/s and p50/p99 with and without consensus, time outside the model (vs the executors driven directly)",
    minutes: 3,
    load: async () => (await import("./http/suite.ts")).runHttpSuite,
  },
  training: {
    describe: "secure aggregation (masking vs raw AES-CTR; a CKKS round and its encrypt, add, threshold decrypt vs node-seal), the FedAvg step and central noise, a local DP-SGD step (vs the batch gradient), a demo round's wall time (vs its local training alone)",
    minutes: 7,
    load: async () => (await import("./training/suite.ts")).runTrainingSuite,
  },
};

export const KNOWN_SUITES: readonly string[] = Object.keys(SUITES);

/**
 * Runs the named suites in order (all when `suites` is empty). An unknown name runs nothing:
 * it prints the known suites and sets the process exit code to 2.
 */
export async function runBenchmarks(suites: string[]): Promise<void> {
  const names = suites.length === 0 ? [...KNOWN_SUITES] : suites;
  const unknown = names.filter((name) => !Object.hasOwn(SUITES, name));
  if (unknown.length > 0) {
    const list = KNOWN_SUITES.map((name) => `  ${name.padEnd(10)} ${SUITES[name]!.describe}`).join("\n");
    process.stderr.write(`unknown benchmark suite${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}\nknown suites:\n${list}\n`);
    process.exitCode = 2;
    return;
  }
  for (const name of names) {
    const run = await SUITES[name]!.load();
    const { minutes } = SUITES[name]!;
    process.stdout.write(`suite ${name}: running (about ${minutes} minute${minutes === 1 ? "" : "s"} here; more the first time the executor suite generates its model)…\n`);
    const results = await run();
    const report = buildReport(name, results);
    const path = writeReport(report);
    process.stdout.write(`\n${formatTable(report)}\n\nwritten: ${path}\n`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runBenchmarks(process.argv.slice(2));
}

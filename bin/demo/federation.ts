/**
 * `fedrouter demo`: every hospital of the cluster config as its own child process
 * (`fedrouter launch --hospital <id>`), supervised like a one-for-one supervisor: a hospital
 * that exits unexpectedly is started again after a backoff, at most `intensity` times in
 * `periodMs`, after which the whole federation stops. Ctrl-C stops them all gracefully.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createDevPki } from "../../runtime/index.ts";
import { backoffDelayMs } from "../../runtime/supervision/backoff.ts";
import { recordRestart } from "../../runtime/supervision/intensity.ts";
import { DEFAULT_MODEL_SHAPE, initModel } from "../../actors/shard-executor/index.ts";
import { configPath, hospitalFiles, loadCluster, trainFederation, trainingMembers, type ClusterConfig } from "../../cluster/index.ts";

const CLI = fileURLToPath(new URL("../fedrouter.ts", import.meta.url));

export interface FederationOptions {
  config: string;
  intensity?: number;
  periodMs?: number;
  /** Where each child's output lines go, prefixed with its id. */
  print?: (line: string) => void;
  /**
   * When no hospital has a model yet, make them by `fedrouter train` (public pretraining, then
   * DP-FedAvg rounds charged to each hospital's ledger; a few minutes) instead of random weights.
   */
  train?: boolean;
}

export interface RunningFederation {
  readonly cluster: ClusterConfig;
  /** Resolves when every hospital printed that it listens. */
  readonly ready: Promise<void>;
  /** Resolves when the federation has stopped (asked to, or gave up). */
  readonly done: Promise<{ reason: string }>;
  /** The current process id of each hospital. */
  pids(): Map<string, number>;
  stop(): Promise<void>;
}

export async function startFederation(opts: FederationOptions): Promise<RunningFederation> {
  const cluster = await loadCluster(opts.config);
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  ensureDevKeys(cluster, print);
  await ensureModels(cluster, print, opts.train ?? false);
  ensureHttpSecret(cluster, print);
  const children = new Map<string, ChildProcess>();
  let history: number[] = [];
  let stopping = false;
  let finish!: (outcome: { reason: string }) => void;
  const done = new Promise<{ reason: string }>((resolve) => (finish = resolve));
  const readiness = new Map<string, () => void>();
  const ready = Promise.all(cluster.hospitals.map((h) => new Promise<void>((resolve) => readiness.set(h.id, resolve)))).then(() => undefined);

  const start = (id: string) => {
    const child = spawn(process.execPath, ["--import", "tsx", CLI, "launch", "--hospital", id, "--config", cluster.file], { stdio: ["ignore", "pipe", "pipe"] });
    children.set(id, child);
    for (const stream of [child.stdout!, child.stderr!]) {
      let partial = "";
      stream.setEncoding("utf8").on("data", (chunk: string) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          if (line.includes("transport listening")) readiness.get(id)?.();
          print(`[${id}] ${line}`);
        }
      });
    }
    child.once("exit", (code, signal) => {
      if (stopping) return;
      const verdict = recordRestart(history, Date.now(), { intensity: opts.intensity ?? 5, periodMs: opts.periodMs ?? 60_000 });
      history = verdict.history;
      if (code === 2 || verdict.verdict === "give-up") {
        // Exit code 2 is a configuration problem: restarting would fail the same way.
        void stop().then(() => finish({ reason: `${id} exited (${signal ?? `code ${code}`}); ${code === 2 ? "fix the configuration" : "too many restarts"}` }));
        return;
      }
      const delayMs = backoffDelayMs(history.length, { minMs: 250, maxMs: 10_000, jitter: 0.2 });
      print(`[federation] ${id} exited (${signal ?? `code ${code}`}); starting it again in ${delayMs} ms`);
      setTimeout(() => !stopping && start(id), delayMs);
    });
  };

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const running = [...children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
    for (const child of running) child.kill("SIGTERM");
    await Promise.all(running.map((child) => new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.once("exit", () => {
        clearTimeout(force);
        resolve();
      });
    })));
  };

  for (const hospital of cluster.hospitals) start(hospital.id);
  return {
    cluster,
    ready,
    done,
    pids: () => new Map([...children].map(([id, child]) => [id, child.pid ?? -1])),
    async stop() {
      await stop();
      finish({ reason: "stopped" });
    },
  };
}

/**
 * Writes a small randomly initialised GPT-2 (DEFAULT_MODEL_SHAPE, the GPT-2 vocabulary) into
 * every shard-executor's model directory that has none, each with its own seed: the demo's
 * hospitals then hold different models, as hospitals with their own fine-tunes would.
 */
async function ensureModels(cluster: ClusterConfig, print: (line: string) => void, train: boolean): Promise<void> {
  const dirs = [...new Set(cluster.hospitals.flatMap((h) => h.actors.filter((a) => a.name === "shard-executor" && a.module === undefined)
    .map((a) => configPath(cluster, a.model ?? cluster.model!.path))))];
  const members = trainingMembers(cluster);
  if (train && members.length >= 2 && dirs.every((dir) => !existsSync(join(dir, "config.json")))) {
    print("[federation] no model yet: training one together (`fedrouter train`: public pretraining, then DP-FedAvg rounds charged to each hospital's ledger; a few minutes on 2 cores, once)");
    await trainFederation({ cluster, print: (line) => print(`[federation] ${line}`), plot: configPath(cluster, ".data/training/loss.png") });
  } else if (train && dirs.some((dir) => existsSync(join(dir, "config.json")) && !existsSync(join(dir, "fedrouter_training.json")))) {
    print("[federation] serving untrained (random) weights: their answers are gibberish; stop, then `npx fedrouter train` (a few minutes) for a trained model");
  }
  for (const [i, dir] of dirs.entries()) {
    if (existsSync(join(dir, "config.json"))) continue;
    await initModel({ out: dir, ...DEFAULT_MODEL_SHAPE, vocab: "gpt2", seed: i + 1 });
    print(`[federation] generated a small random GPT-2 (${DEFAULT_MODEL_SHAPE.layers} blocks, d_model ${DEFAULT_MODEL_SHAPE.dModel}, seed ${i + 1}) in ${dir}`);
  }
}

/** A development HS256 secret for locally issued API tokens, if the config's file is missing. */
function ensureHttpSecret(cluster: ClusterConfig, print: (line: string) => void): void {
  if (cluster.http === undefined) return;
  const file = configPath(cluster, cluster.http.secret);
  if (existsSync(file)) return;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600 });
  print(`[federation] created a development API token secret in ${file} (never use it in a deployment)`);
}

/** Development certificates for every hospital and operator, when any is missing. */
function ensureDevKeys(cluster: ClusterConfig, print: (line: string) => void): void {
  if (cluster.tls.insecure) return;
  const missing = cluster.hospitals.some((h) => {
    const files = hospitalFiles(cluster, h);
    return !existsSync(files.cert) || !existsSync(files.key) || !existsSync(files.ca);
  });
  if (!missing) return;
  const first = hospitalFiles(cluster, cluster.hospitals[0]!);
  const dir = first.ca.slice(0, first.ca.lastIndexOf("/"));
  const pki = createDevPki(dir, [...cluster.hospitals.map((h) => h.id), ...cluster.tls.operators]);
  print(`[federation] created development certificates in ${dir} (dev CA; never use them in a deployment)`);
  for (const c of pki.certificates) if (c.action === "reissued") print(`[federation] reissued the certificate of ${c.id}: ${c.why}`);
}

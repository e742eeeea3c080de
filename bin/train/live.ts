/**
 * `fedrouter train --live`: DP-FedAvg rounds in the running federation. The coordinator hospital's
 * Aggregator is asked, as an operator over its Admin service (mTLS, the operator certificate), to
 * `train` over every hospital that runs a trainer; the command then follows `training-status`
 * once a second, printing each round as it ends, until the job is done. Nothing is opened here:
 * the hospitals' own ledgers are charged by the running nodes.
 */
import { configPath, describeRound, findHospital, type ClusterConfig } from "../../cluster/index.ts";
import { defaultAdaptiveClipping } from "../../cluster/training.ts";
import type { TrainingConfig, TrainingJobRequest, TrainingJobStatus } from "../../actors/aggregator/index.ts";
import { readTlsFiles } from "../../runtime/index.ts";
import { AdminClient } from "../repl/admin-client.ts";
import type { Io, TrainCommandOptions } from "./train-command.ts";


/** Exit code: 0 a round applied (and, with --install, installed everywhere), 1 the job failed, applied none or an install failed, 2 nothing to train with. */
export async function runLiveTraining(cluster: ClusterConfig, opts: TrainCommandOptions & { coordinator?: string; operator: string; out?: string; ckksBundle?: string; pollMs?: number }, io: Io): Promise<number> {
  const coordinatorId = opts.coordinator ?? cluster.http?.hospital ?? cluster.hospitals.find((h) => h.actors.some((a) => a.name === "aggregator"))?.id;
  const coordinator = coordinatorId === undefined ? undefined : findHospital(cluster, coordinatorId);
  if (coordinator === undefined || !coordinator.actors.some((a) => a.name === "aggregator")) {
    io.err(`fedrouter train --live: ${coordinatorId ?? "no hospital"} runs no aggregator to coordinate the rounds; name one with --coordinator`);
    return 2;
  }
  const trainers = cluster.hospitals.filter((h) => h.actors.some((a) => a.name === "trainer"));
  if (trainers.length < 2) {
    io.err(`fedrouter train --live: ${trainers.length} hospital(s) run a trainer; rounds need at least 2 (add { name: "trainer", model } to their actors)`);
    return 2;
  }
  if (opts.protection === "ckks") {
    const unkeyed = trainers.filter((h) => h.actors.find((a) => a.name === "trainer")!.ckks === undefined).map((h) => h.id);
    if (unkeyed.length > 0) {
      io.err(`fedrouter train --live --protection ckks: the trainers of ${unkeyed.join(", ")} have no ckks key files; run \`fedrouter keys ckks\` and give each trainer ckks: { bundle, share } in the config`);
      return 2;
    }
  }
  const own = coordinator.actors.find((a) => a.name === "trainer") ?? trainers[0]!.actors.find((a) => a.name === "trainer")!;
  const config: TrainingConfig = {
    rounds: opts.rounds, quorum: Math.floor(trainers.length / 2) + 1, noiseMultiplier: opts.noiseMultiplier, clipNorm: opts.clip, delta: cluster.privacy.delta,
    protection: opts.protection, serverOptimizer: { kind: "fedavg", learningRate: opts.serverLr }, phaseTimeoutMs: 600_000,
    local: { steps: opts.localSteps, exampleClip: 1, noiseMultiplier: opts.localNoise, learningRate: 1e-3, batchSize: 8 },
    ...(opts.adaptiveClipping === true ? { adaptiveClipping: defaultAdaptiveClipping(opts.noiseMultiplier, trainers.length) } : {}),
  };
  const request: TrainingJobRequest = {
    hospitals: trainers.map((h) => h.id),
    modelDir: configPath(cluster, own.model ?? cluster.model!.path),
    outDir: configPath(cluster, opts.out ?? ".data/training/live"),
    ...(opts.install === true ? { install: true } : {}),
    ...(opts.protection === "ckks" ? { ckksBundle: configPath(cluster, opts.ckksBundle ?? "keys/ckks/federation.bundle") } : {}),
    config,
  };
  const security = cluster.tls.insecure
    ? ({ kind: "insecure" } as const)
    : readTlsFiles(configPath(cluster, cluster.tls.ca), configPath(cluster, `keys/${opts.operator}.crt`), configPath(cluster, `keys/${opts.operator}.key`));
  const admin = new AdminClient(coordinator.admin, security, { node: coordinator.id });
  const path = `fed://${coordinator.id}/user/node/aggregator`;
  try {
    const started = JSON.parse(await admin.ask(path, JSON.stringify({ type: "train", request }), 30_000)) as { type: string; job?: string; code?: string; message?: string };
    if (started.type !== "started") {
      io.err(`fedrouter train --live: ${coordinator.id}'s Aggregator refused: ${started.code}: ${started.message}`);
      return 1;
    }
    io.out(`[train] job ${started.job} on ${coordinator.id}'s Aggregator: ${request.hospitals.join(", ")}; ${config.rounds} rounds of ${config.local.steps} local DP-SGD steps, ${config.protection === "ckks" ? "CKKS-encrypted sums (threshold decryption)" : "masked sums"}, z = ${config.noiseMultiplier}, C = ${config.clipNorm}${config.adaptiveClipping === undefined ? "" : " (adaptive)"}`);
    // The job keeps its last 200 events: each round event is printed once, by its kind and round id.
    const printed = new Set<string>();
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, opts.pollMs ?? 1_000));
      const status = JSON.parse(await admin.ask(path, JSON.stringify({ type: "training-status" }), 30_000)) as TrainingJobStatus;
      for (const e of status.events) {
        const line = describeRound(e, opts.protection);
        const key = `${e.type}:${e.roundId}`;
        if (line === undefined || printed.has(key)) continue;
        printed.add(key);
        io.out(line);
      }
      if (status.state === "running") continue;
      if (status.state === "failed" || status.outcome === undefined) {
        io.err(`fedrouter train --live: the job failed: ${status.error?.code ?? "?"}: ${status.error?.message ?? "no outcome"}`);
        return 1;
      }
      const o = status.outcome;
      io.out(`[train] done: ${o.applied} rounds applied; client-level ε ${o.epsilon.toFixed(3)}, per-note ε charged ${o.chargedEpsilon.toFixed(3)} (δ = ${cluster.privacy.delta})${o.checkpoint ? `; checkpoint in ${o.checkpoint} on ${coordinator.id}` : ""}`);
      let installFailed = false;
      for (const i of o.installs ?? []) {
        if ("code" in i) {
          installFailed = true;
          io.err(`[install] ${i.hospital}: not installed: ${i.code}: ${i.message} (it serves what it served)`);
          continue;
        }
        io.out(`[install] ${i.hospital}: in service, ${i.reloaded.length} executor(s) reloaded${i.reloaded.length ? ` (${i.reloaded.join(", ")})` : ""}; the replaced files are in previous/`);
        for (const n of i.notReloaded) {
          installFailed = true;
          io.err(`[install] ${i.hospital}: ${n.executor} did not reload (${n.reason}): the new weights serve from its next load`);
        }
      }
      return o.applied > 0 && !installFailed ? 0 : 1;
    }
  } catch (error) {
    // The Admin service unreachable, the operator certificate refused, the ask timed out.
    io.err(`fedrouter train --live: ${coordinator.id}'s Admin service: ${(error as Error).message}`);
    return 1;
  } finally {
    admin.close();
  }
}

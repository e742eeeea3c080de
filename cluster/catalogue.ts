/**
 * The actors a hospital node can be told to run, by the names cluster.config.ts uses, and the
 * spawn arguments each takes from the cluster config: the runtime's demonstration actors and,
 * the domain actors a node runs: the Accountant, the Aggregator, the Planner and the ShardExecutor
 * (the Router is started by the front door, on the hospital that serves HTTP).
 */
import type { ActorDefinition } from "../runtime/index.ts";
import { accountant, type AccountantOptions } from "../actors/accountant/index.ts";
import { DEFAULT_TRAINING_PRINCIPAL, shardExecutor, trainer, type ShardExecutorOptions, type TrainerOptions } from "../actors/shard-executor/index.ts";
import { aggregator } from "../actors/aggregator/index.ts";
import { planner, type PlannerOptions } from "../actors/planner/index.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hasher, tally, visits } from "./demo-actors.ts";
import { configPath, type ClusterConfig, type HospitalConfig } from "./config.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const ACTOR_CATALOGUE: Readonly<Record<string, ActorDefinition<any, any>>> = { visits, tally, hasher, accountant, aggregator, planner, "shard-executor": shardExecutor, trainer };

/** The Accountant's journal id in every node: `fedrouter audit verify --data-dir .data/<hospital>` finds it by default. */
export const ACCOUNTANT_STORE_ID = "user/accountant";

/** Spawn arguments drawn from the cluster config; actors not listed take none. */
export const ACTOR_ARGS: Readonly<Record<string, (cluster: ClusterConfig, entry: HospitalConfig["actors"][number], hospital: HospitalConfig) => unknown>> = {
  aggregator: () => ({}),
  // The Planner partitions the model's blocks: n_layer of the model its hospital serves.
  planner: (cluster, entry): PlannerOptions => ({ blocks: modelLayers(configPath(cluster, entry.model ?? cluster.model!.path)) }),
  "shard-executor": (cluster, entry): ShardExecutorOptions => ({
    modelDir: configPath(cluster, entry.model ?? cluster.model!.path), // the schema refuses a shard-executor without a model
    ...(entry.blocks ? { from: entry.blocks.from, to: entry.blocks.to } : {}),
  }),
  // A hospital's trainer: its model (the base of every round), its own synthetic notes, rounds
  // driven by its configured coordinator, else the hospital that serves the HTTP API, else itself only.
  // With acceptInstall, a finished job's model is written over its model and the hospital's
  // executors of the same model directory reload it.
  trainer: (cluster, entry, hospital): TrainerOptions => {
    const modelDir = configPath(cluster, entry.model ?? cluster.model!.path);
    const serving = hospital.actors.filter((a) => a.name === "shard-executor" && configPath(cluster, a.model ?? cluster.model!.path) === modelDir).map((a) => `user/node/${a.name}`);
    return {
      modelDir,
      ...(entry.coordinator !== undefined ? { coordinator: entry.coordinator } : cluster.http === undefined ? {} : { coordinator: cluster.http.hospital }),
      ...(entry.acceptInstall === true ? { acceptInstall: true, serving } : {}),
      ...(entry.ckks === undefined ? {} : {
        ckks: {
          bundle: configPath(cluster, entry.ckks.bundle),
          ...(entry.ckks.share === undefined ? {} : { share: configPath(cluster, entry.ckks.share) }),
          ...(entry.ckks.signing === undefined ? {} : { signing: configPath(cluster, entry.ckks.signing) }),
        },
      }),
    };
  },
  accountant: (cluster): AccountantOptions => ({
    storeId: ACCOUNTANT_STORE_ID,
    ledger: {
      delta: cluster.privacy.delta,
      departments: Object.fromEntries(Object.entries(cluster.privacy.departments).map(([name, epsilon]) => [name, { epsilon }])),
      // Federated training charges one principal (user "federated-training"): its limit is the
      // training department's budget, not the default a person gets.
      ...(cluster.privacy.departments[DEFAULT_TRAINING_PRINCIPAL.department] === undefined ? {} : {
        users: { [DEFAULT_TRAINING_PRINCIPAL.user]: { epsilon: cluster.privacy.departments[DEFAULT_TRAINING_PRINCIPAL.department]! } },
      }),
      reset: cluster.privacy.reset,
      timeZone: cluster.privacy.timeZone,
    },
  }),
};

/** n_layer of a Hugging Face GPT-2 directory (read at launch, before any actor starts). */
function modelLayers(modelDir: string): number {
  const config = JSON.parse(readFileSync(join(modelDir, "config.json"), "utf8")) as { n_layer?: unknown };
  if (!(typeof config.n_layer === "number" && Number.isSafeInteger(config.n_layer) && config.n_layer >= 1)) throw new Error(`${modelDir}/config.json has no valid n_layer`);
  return config.n_layer;
}

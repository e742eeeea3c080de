/**
 * The actors a hospital node can be told to run, by the names cluster.config.ts uses, and the
 * spawn arguments each takes from the cluster config: the runtime's demonstration actors and,
 * as they land, the five domain actors (today: the Accountant, the ShardExecutor and the Aggregator).
 */
import type { ActorDefinition } from "../runtime/index.ts";
import { accountant, type AccountantOptions } from "../actors/accountant/index.ts";
import { shardExecutor, type ShardExecutorOptions } from "../actors/shard-executor/index.ts";
import { aggregator } from "../actors/aggregator/index.ts";
import { hasher, tally, visits } from "./demo-actors.ts";
import { configPath, type ClusterConfig, type HospitalConfig } from "./config.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const ACTOR_CATALOGUE: Readonly<Record<string, ActorDefinition<any, any>>> = { visits, tally, hasher, accountant, aggregator, "shard-executor": shardExecutor };

/** The Accountant's journal id in every node: `fedrouter audit verify --data-dir .data/<hospital>` finds it by default. */
export const ACCOUNTANT_STORE_ID = "user/accountant";

/** Spawn arguments drawn from the cluster config; actors not listed take none. */
export const ACTOR_ARGS: Readonly<Record<string, (cluster: ClusterConfig, entry: HospitalConfig["actors"][number]) => unknown>> = {
  aggregator: () => ({}),
  "shard-executor": (cluster, entry): ShardExecutorOptions => ({
    modelDir: configPath(cluster, entry.model ?? cluster.model!.path), // the schema refuses a shard-executor without a model
    ...(entry.blocks ? { from: entry.blocks.from, to: entry.blocks.to } : {}),
  }),
  accountant: (cluster): AccountantOptions => ({
    storeId: ACCOUNTANT_STORE_ID,
    ledger: {
      delta: cluster.privacy.delta,
      departments: Object.fromEntries(Object.entries(cluster.privacy.departments).map(([name, epsilon]) => [name, { epsilon }])),
      reset: cluster.privacy.reset,
      timeZone: cluster.privacy.timeZone,
    },
  }),
};

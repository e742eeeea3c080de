/**
 * A Router on real parts for the idempotency and caller-error tests: one node with the Accountant on LMDB in a
 * temp dir, the Aggregator, one hospital's ShardExecutor (a small random GPT-2) and a
 * RouterService whose every DP vote first passes a gate the test opens, so that a request can be
 * held in flight, reservation made, while duplicates arrive. Optionally the HTTP API on 127.0.0.1.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ActorSystem, actor, supervisor } from "../../../runtime/index.ts";
import type { NodeStore } from "../../../runtime/persistence/index.ts";
import { accountant, AccountantClient } from "../../../actors/accountant/index.ts";
import { aggregator, AggregatorClient, type EnsembleVote } from "../../../actors/aggregator/index.ts";
import { Gpt2Tokenizer, initModel, readGpt2Config, shardExecutor } from "../../../actors/shard-executor/index.ts";
import { RouterService, type RouterServiceOptions } from "../../../actors/router/service.ts";
import { createHttpApi } from "../../../actors/router/http/index.ts";
import { AUDIENCE, ISSUER, SECRET } from "./http/fake-service.ts";

export const SIGMA = 2;
export const DEPARTMENT = "cardiology";

/** Votes wait here while it is closed; `reached` resolves once one is waiting. While `failing`, a vote arriving fails. */
export class VoteGate {
  failing = false;
  #open = true;
  #release: () => void = () => undefined;
  #opened: Promise<void> = Promise.resolve();
  #signal: () => void = () => undefined;
  reached: Promise<void> = Promise.resolve();

  close(): void {
    this.#open = false;
    this.#opened = new Promise((resolve) => (this.#release = resolve));
    this.reached = new Promise((resolve) => (this.#signal = resolve));
  }

  open(): void {
    this.#open = true;
    this.#release();
  }

  async pass(): Promise<void> {
    if (this.failing) throw new Error("the vote failed (test gate)");
    if (this.#open) return;
    this.#signal();
    await this.#opened;
  }
}

export interface RouterNode {
  readonly system: ActorSystem;
  readonly store: NodeStore;
  readonly accountant: AccountantClient;
  readonly gate: VoteGate;
  readonly modelDir: string;
  /** The one ShardExecutor's path: several "hospitals" may route to it (each sequence is its own). */
  readonly executorPath: string;
  /** A RouterService over this node (a fresh one per call: a restarted front door). */
  router(options?: Partial<RouterServiceOptions>): Promise<RouterService>;
  /** The HTTP API over `service` on 127.0.0.1, rate limit out of the way; returns its URL. */
  serve(service: RouterService): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the node in `dir` (a temp dir the test removes), or starts it again there: same model, same LMDB. */
export async function startRouterNode(dir: string): Promise<RouterNode> {
  const modelDir = join(dir, "model");
  if (!existsSync(modelDir)) await initModel({ out: modelDir, layers: 2, dModel: 32, heads: 4, positions: 64, vocab: "gpt2", seed: 11 });
  const system = await ActorSystem.start({ node: "h-a", persistence: { path: join(dir, "lmdb") }, logLevel: "error" });
  const budgetSpec = actor("accountant", accountant, { ledger: { defaultUserEpsilon: 20, departments: { [DEPARTMENT]: { epsilon: 30 } } } });
  await system.startChild(supervisor("privacy", [budgetSpec]));
  const budgets = new AccountantClient(system.refOf(budgetSpec, "privacy"));
  const votes = new AggregatorClient(await system.spawn(aggregator, {}, { name: "aggregator" })).voter();
  const executor = await system.spawn(shardExecutor, { modelDir, backend: "wasm" }, { name: "executor-h-a" });
  const tokenizer = await Gpt2Tokenizer.fromDirectory(modelDir);
  const { positions } = await readGpt2Config(modelDir); // as the front door reads it
  const gate = new VoteGate();
  const gated: EnsembleVote = async (v, params) => {
    await gate.pass();
    return votes(v, params);
  };
  const apps: { close(): Promise<void> }[] = [];
  return {
    system, store: system.store as NodeStore, accountant: budgets, gate, modelDir, executorPath: executor.path,
    async router(options = {}) {
      return new RouterService({
        nodeId: "h-a", hospitals: [{ id: "h-a", region: "eu", route: [{ path: executor.path }] }], lookup: (p) => system.ref(p),
        accountant: budgets, vote: gated, tokenizer, ensemble: { sigma: SIGMA, k: 1 }, stepTimeoutMs: 20_000, contextTokens: positions, ...options,
      });
    },
    async serve(service) {
      const app = await createHttpApi(service, {
        auth: { issuer: ISSUER, audience: AUDIENCE, signing: { alg: "HS256", secret: SECRET } },
        limits: { rateLimit: { max: 100_000, windowMs: 60_000 } },
      });
      apps.push(app);
      return app.listen({ host: "127.0.0.1", port: 0 });
    },
    async stop() {
      gate.open();
      for (const app of apps) await app.close();
      await system.stop();
    },
  };
}

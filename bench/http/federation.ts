/**
 * The system under test, in this process: the Router actor (asked through RouterClient, the
 * HTTP edge's FrontDoorService, as in a running node) over three "hospitals" — a ShardExecutor each, in its own worker thread, on tiny GPT-2-shaped
 * models of different seeds (DEFAULT_MODEL_SHAPE: 2 layers, d_model 64, 4 heads) — with the
 * Accountant on LMDB in a temp dir (under a supervisor, as in production) and the Aggregator,
 * assembled as test/actors/router/service.test.ts does. The benchmark user and its department
 * get budgets no run can exhaust, so no request is refused. Measures nothing; `stop` disposes
 * all of it (actor system, worker threads, temp dir).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActorSystem, actor, supervisor } from "../../runtime/index.ts";
import { accountant, AccountantClient } from "../../actors/accountant/index.ts";
import { aggregator, AggregatorClient } from "../../actors/aggregator/index.ts";
import { DEFAULT_MODEL_SHAPE, Gpt2Tokenizer, initModel, Pipeline, readGpt2Config, shardExecutor, type ShardExecutorMsg } from "../../actors/shard-executor/index.ts";
import { nodeStoreSlots, ReleasedAnswers, router, RouterClient, RouterService, type Caller, type RouterMsg } from "../../actors/router/index.ts";
import type { NodeStore } from "../../runtime/index.ts";

/** The ensemble's σ, as the Router is given it (and the model-only floor votes with). */
export const SIGMA = 2;
export const STEP_TIMEOUT_MS = 30_000;
/**
 * ε no run can spend: the ledger takes any finite limit ≥ 0, and far from the limit it composes
 * with RDP alone (the PLD accountant is consulted only near it).
 */
const UNSPENDABLE_EPSILON = 1e9;

export const BENCH_CALLER: Caller = { userId: "bench-doctor", role: "doctor", department: "radiology", issuer: "fedrouter-bench" };

export interface Federation {
  /** The Router actor, as the HTTP edge asks it. */
  readonly service: RouterClient;
  /**
   * The same RouterService the actor runs, called in place (same hospitals, options and kind of
   * durable answer store, in a store of its own): what the actor boundary costs is the difference.
   */
  readonly inPlace: RouterService;
  /** One single-stage Pipeline per hospital, over the same executors the service routes to. */
  readonly pipelines: readonly Pipeline[];
  readonly aggregator: AggregatorClient;
  readonly accountant: AccountantClient;
  readonly tokenizer: Gpt2Tokenizer;
  stop(): Promise<void>;
}

export async function startFederation(log: (line: string) => void): Promise<Federation> {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-bench-http-"));
  let system: ActorSystem | undefined;
  try {
    log(`federation: three tiny models (${DEFAULT_MODEL_SHAPE.layers} layers, d_model ${DEFAULT_MODEL_SHAPE.dModel}, ${DEFAULT_MODEL_SHAPE.heads} heads) in ${dir}…`);
    const models = await Promise.all([1, 2, 3].map(async (seed) => {
      const out = join(dir, `model-${seed}`);
      await initModel({ out, ...DEFAULT_MODEL_SHAPE, vocab: "gpt2", seed });
      return out;
    }));
    const started = await ActorSystem.start({ node: "bench-http", persistence: { path: join(dir, "lmdb") }, logLevel: "error" });
    system = started;
    const budgetSpec = actor("accountant", accountant, {
      ledger: { defaultUserEpsilon: UNSPENDABLE_EPSILON, departments: { [BENCH_CALLER.department]: { epsilon: UNSPENDABLE_EPSILON } } },
    });
    await started.startChild(supervisor("privacy", [budgetSpec]));
    const budgets = new AccountantClient(started.refOf(budgetSpec, "privacy"));
    const votes = new AggregatorClient(await started.spawn(aggregator, {}, { name: "aggregator" }));
    log("federation: three ShardExecutors in worker threads, the Accountant, the Aggregator…");
    const hospitals = await Promise.all(["h-a", "h-b", "h-c"].map(async (id, i) => {
      const ref = await started.spawn(shardExecutor, { modelDir: models[i]! }, { name: `executor-${id}`, placement: "worker" });
      return { id, region: "eu", route: [{ path: ref.path }] };
    }));
    const lookup = (path: string) => started.ref<ShardExecutorMsg>(path);
    const tokenizer = await Gpt2Tokenizer.fromDirectory(models[0]!);
    const routerRef = await started.spawn<RouterMsg, Parameters<typeof router.create>[0]>(router, {
      hospitals, modelDir: models[0]!, accountant: budgets.ref.path, aggregator: votes.ref.path,
      ensemble: { sigma: SIGMA, k: 3 }, stepTimeoutMs: STEP_TIMEOUT_MS,
    }, { name: "router" });
    const service = new RouterClient(routerRef);
    const inPlace = new RouterService({
      nodeId: "bench-http", hospitals, lookup, accountant: budgets, vote: votes.voter(), tokenizer, contextTokens: (await readGpt2Config(models[0]!)).positions,
      ensemble: { sigma: SIGMA, k: 3 }, stepTimeoutMs: STEP_TIMEOUT_MS,
      answers: new ReleasedAnswers(nodeStoreSlots(started.store as NodeStore, "bench/in-place-answers")),
    });
    const pipelines = hospitals.map((h) => new Pipeline({ lookup, route: h.route }));
    return {
      service, inPlace, pipelines, aggregator: votes, accountant: budgets, tokenizer,
      stop: async () => {
        await started.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await system?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

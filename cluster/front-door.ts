/**
 * The HTTP front door of a federation (cluster.config.ts `http`), started inside the hospital
 * process that serves it: a RouterService over this node's Accountant and Aggregator and every
 * hospital's ShardExecutor (by fed:// path, over the mTLS transport), behind the HTTP API.
 * The answers it releases are kept in this node's LMDB store (`router/released-answers/<slot>`),
 * so a retried request id gets the same answer, charged once, across a restart of the process.
 */
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import type { ActorSystem, NodeStore } from "../runtime/index.ts";
import { AccountantClient } from "../actors/accountant/index.ts";
import { AggregatorClient } from "../actors/aggregator/index.ts";
import { Gpt2Tokenizer, readGpt2Config } from "../actors/shard-executor/index.ts";
import { RouterService } from "../actors/router/service.ts";
import { nodeStoreSlots, ReleasedAnswers } from "../actors/router/released-answers.ts";
import { createHttpApi } from "../actors/router/http/index.ts";
import { configPath, type ClusterConfig, type HospitalConfig } from "./config.ts";

export interface FrontDoor {
  readonly url: string;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

export const LOCAL_ISSUER = "fedrouter-local";
export const LOCAL_AUDIENCE = "fedrouter";

export async function startFrontDoor(cluster: ClusterConfig, hospital: HospitalConfig, system: ActorSystem): Promise<FrontDoor> {
  const http = cluster.http!;
  const executors = cluster.hospitals.flatMap((h) => h.actors.filter((a) => a.name === "shard-executor").map((a) => ({ hospital: h, entry: a })));
  if (executors.length === 0) throw new Error("the HTTP API needs at least one hospital running a shard-executor");
  const modelDir = configPath(cluster, executors[0]!.entry.model ?? cluster.model!.path);
  const secretFile = configPath(cluster, http.secret);
  let secret: string;
  try {
    secret = readFileSync(secretFile, "utf8").trim();
  } catch (error) {
    throw new Error(`the HTTP token secret ${secretFile} cannot be read (\`fedrouter demo\` creates a development one): ${(error as Error).message}`);
  }
  if (secret.length < 32) throw new Error(`the HTTP token secret ${secretFile} is shorter than 32 characters`);
  const store = system.store as NodeStore | undefined;
  if (store === undefined || typeof store.actor !== "function") throw new Error(`the HTTP API keeps released answers in its node's store, and ${hospital.id} runs without persistence`);
  // The model's context, from the directory the tokenizer comes from, read as the executors read
  // it (n_positions), at start and without a round trip: the peers' executors may not be up yet,
  // and asking their `info` would make the first request wait on them. The hospitals serve one
  // model shape (one vocabulary for the ensemble's votes, one context); one whose context is
  // smaller still answers CONTEXT_EXCEEDED, a 400 or the answer's end, never a breaker failure.
  const { positions: contextTokens } = await readGpt2Config(modelDir);
  const service = new RouterService({
    nodeId: hospital.id,
    hospitals: executors.map(({ hospital: h }) => ({ id: h.id, region: h.region, route: [{ path: `fed://${h.id}/user/node/shard-executor` }] })),
    lookup: (path) => system.ref(path),
    accountant: new AccountantClient(system.ref(`fed://${hospital.id}/user/node/accountant`)),
    vote: new AggregatorClient(system.ref(`fed://${hospital.id}/user/node/aggregator`)).voter(),
    tokenizer: await Gpt2Tokenizer.fromDirectory(modelDir),
    contextTokens,
    strategy: http.strategy,
    ensemble: http.ensemble,
    openAiMode: http.privacy.mode,
    metrics: () => system.metrics.registry.metrics(),
    links: () => system.transport?.peers() ?? [],
    answers: new ReleasedAnswers(nodeStoreSlots(store)),
  });
  const app = await createHttpApi(service, {
    auth: { issuer: LOCAL_ISSUER, audience: LOCAL_AUDIENCE, signing: { alg: "HS256", secret } },
    users: configPath(cluster, http.users),
  });
  const [host, port] = [http.listen.slice(0, http.listen.lastIndexOf(":")), Number(http.listen.slice(http.listen.lastIndexOf(":") + 1))];
  await app.listen({ host, port });
  const url = `http://${http.listen}`;
  return { url, app, close: () => app.close() };
}

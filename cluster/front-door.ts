/**
 * The HTTP front door of a federation (cluster.config.ts `http`), started inside the hospital
 * process that serves it: the Router actor (`user/front-door/router`, supervised, restartable,
 * in the REPL's `.tree`) over this node's Accountant and Aggregator and every hospital's
 * ShardExecutor — by its Planner's plan where the hospital runs a Planner, else by the fixed
 * path of its executor — and the HTTP API as its edge (RouterClient: every request an ask of
 * the Router, as the verified caller). The answers it releases are kept in this node's LMDB
 * store, so a retried request id gets the same answer, charged once, across a restart.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { actor, supervisor, type ActorSystem, type NodeStore } from "../runtime/index.ts";
import { createHttpApi, DEFAULT_MODEL_ID, router, RouterClient, type RouterArgs, type RouterHospital, type RouterMsg } from "../actors/router/index.ts";
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
  const node = (id: string, name: string) => `fed://${id}/user/node/${name}`;
  const hospitals: RouterHospital[] = executors.map(({ hospital: h }) => ({
    id: h.id, region: h.region, ...(h.weight === undefined ? {} : { weight: h.weight }),
    // A hospital that runs a Planner is routed by its plans (a pipeline across its executors, or
    // across hospitals whose executors joined it); one without, straight to its executor.
    ...(h.actors.some((a) => a.name === "planner") ? { planner: node(h.id, "planner") } : { route: [{ path: node(h.id, "shard-executor") }] }),
  }));
  const args: RouterArgs = {
    hospitals,
    modelDir,
    accountant: node(hospital.id, "accountant"),
    aggregator: node(hospital.id, "aggregator"),
    strategy: http.strategy,
    ensemble: http.ensemble,
    openAiMode: http.privacy.mode,
    node: {
      metrics: () => system.metrics.registry.metrics(),
      links: () => system.transport?.peers() ?? [],
      // The endpoint of POST /v1/admin/nodes is the node's transport as a URL: grpcs://host:port.
      ...(system.transport ? { addPeer: (added) => system.transport!.addPeer({ id: added.nodeId, address: new URL(added.endpoint).host }) } : {}),
    },
  };
  // Its own supervisor under the root, so that a Router that keeps crashing stops the front door's
  // subtree, not the hospital's actors; the Router reads the node's links and metrics by reference,
  // so it runs here, on the thread of the HTTP server.
  await system.startChild(supervisor("front-door", [actor("router", router, args, { placement: "local" })], { strategy: "one-for-one", intensity: 5, periodMs: 30_000 }));
  const service = new RouterClient(system.ref<RouterMsg>(system.pathOf("front-door", "router")));
  const app = await createHttpApi(service, {
    auth: { issuer: LOCAL_ISSUER, audience: LOCAL_AUDIENCE, signing: { alg: "HS256", secret } },
    users: configPath(cluster, http.users),
    // The federation's model, as GET /v1/models lists it: created when its weights were written.
    models: [{ id: DEFAULT_MODEL_ID, createdSeconds: Math.floor(writtenAtMs(join(modelDir, "config.json")) / 1000), ownedBy: cluster.name }],
    // What the Accountant charges: its departments (an unknown one is a 400) and its periods (last_refresh).
    departments: Object.keys(cluster.privacy.departments),
    budgetPeriods: { reset: cluster.privacy.reset, timeZone: cluster.privacy.timeZone },
  });
  const [host, port] = [http.listen.slice(0, http.listen.lastIndexOf(":")), Number(http.listen.slice(http.listen.lastIndexOf(":") + 1))];
  await app.listen({ host, port });
  const url = `http://${http.listen}`;
  return {
    url, app,
    async close() {
      await app.close();
      await system.stopChild("front-door");
    },
  };
}

/** When `file` was last written (now, if it cannot be read: the Router reports a missing model itself). */
function writtenAtMs(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return Date.now();
  }
}

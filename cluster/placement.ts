/**
 * The Planner in a running federation. Each hospital that runs a `planner` plans the pipeline
 * its model is served by; each shard-executor joins one Planner at launch (its own hospital's,
 * or the one its config entry names with `planner`: an executor holding part of the model joins
 * the hospital that serves the pipeline across hospitals). The Router follows every Planner's
 * plans (actors/router/behaviour.ts).
 *
 * Membership follows the federation's links, so that a hospital leaving triggers a re-plan:
 * - on the Planner's node, a peer whose link goes down has its executors `leave` (the Planner
 *   publishes a plan without them, or withdraws the plan);
 * - on the executor's node, the join is retried until it is accepted, and made again every time
 *   the link to the Planner's node comes back up (a restarted Planner, or a healed network).
 */
import type { ActorSystem, LinkChange } from "../runtime/index.ts";
import { describeExecutor, type ShardExecutorMsg } from "../actors/shard-executor/index.ts";
import { PlannerClient, type PlannerMsg } from "../actors/planner/index.ts";
import type { ClusterConfig, HospitalConfig } from "./config.ts";

/** Nominal ms to pass one hidden state to an executor of another hospital (loopback or LAN); 0 within one. */
export const DEFAULT_PLACEMENT = Object.freeze({ remoteLinkMs: 2, retryMs: { min: 200, max: 5_000 } });

export interface Placement {
  /** Resolves once every executor of this hospital has joined its Planner at least once (or `stop`). */
  readonly joined: Promise<void>;
  stop(): void;
}

const plannerPath = (hospital: string) => `fed://${hospital}/user/node/planner`;

/** The Planner each of this hospital's executors joins, by executor entry name; none when it joins none. */
export function plannersOf(cluster: ClusterConfig, hospital: HospitalConfig): { entry: string; planner: string }[] {
  const own = hospital.actors.some((a) => a.name === "planner");
  return hospital.actors
    .filter((a) => a.name === "shard-executor" && a.module === undefined)
    .flatMap((a) => {
      const target = a.planner ?? (own ? hospital.id : undefined);
      return target === undefined || !cluster.hospitals.some((h) => h.id === target) ? [] : [{ entry: a.name, planner: target }];
    });
}

/**
 * Joins this hospital's executors to their Planners and keeps the memberships this node is
 * responsible for in step with the links. `system` must be started with the node's actors.
 */
export function startPlacement(cluster: ClusterConfig, hospital: HospitalConfig, system: ActorSystem): Placement {
  let stopped = false;
  /** Retry waits in progress: stopping ends them at once. */
  const waits = new Map<NodeJS.Timeout, () => void>();
  const joins = plannersOf(cluster, hospital).map(({ entry, planner }) => {
    const executor = system.ref<ShardExecutorMsg>(`fed://${hospital.id}/user/node/${entry}`);
    const client = new PlannerClient(system.ref<PlannerMsg>(plannerPath(planner)));
    let inFlight = false;
    /** Joins, retrying with backoff until accepted or stopped; a second call while one runs does nothing. */
    const join = async (): Promise<void> => {
      if (stopped || inFlight) return;
      inFlight = true;
      try {
        for (let attempt = 0; !stopped; attempt++) {
          try {
            const info = await describeExecutor(executor, { id: hospital.id, regions: [hospital.region], linkMs: planner === hospital.id ? 0 : DEFAULT_PLACEMENT.remoteLinkMs });
            const reply = await client.join(info);
            if (reply.type !== "accepted") throw new Error(`${reply.code}: ${reply.message}`);
            system.log.info("planner-joined", { executor: hospital.id, planner, version: reply.version });
            return;
          } catch (error) {
            if (stopped) return;
            const delay = Math.min(DEFAULT_PLACEMENT.retryMs.max, DEFAULT_PLACEMENT.retryMs.min * 2 ** attempt);
            system.log.warn("planner-join-retry", { executor: hospital.id, planner, inMs: delay, reason: error instanceof Error ? error.message : String(error) });
            await new Promise<void>((resolve) => {
              const timer = setTimeout(() => {
                waits.delete(timer);
                resolve();
              }, delay);
              waits.set(timer, resolve);
            });
          }
        }
      } finally {
        inFlight = false;
      }
    };
    return { planner, join };
  });
  const hostsPlanner = hospital.actors.some((a) => a.name === "planner");
  const ownPlanner = new PlannerClient(system.ref<PlannerMsg>(plannerPath(hospital.id)));
  const subscription = system.transport?.links$.subscribe((change: LinkChange) => {
    if (stopped) return;
    // The executor's side: join again whenever the Planner's node is reachable again.
    if (change.up) for (const j of joins) if (j.planner === change.peer) void j.join();
    // The Planner's side: a peer gone takes its executors out of the plan.
    if (!change.up && hostsPlanner) void leaveAll(ownPlanner, change.peer, system);
  });
  const joined = Promise.all(joins.map((j) => j.join())).then(() => undefined);
  return {
    joined,
    stop() {
      stopped = true;
      subscription?.unsubscribe();
      for (const [timer, resolve] of waits) {
        clearTimeout(timer);
        resolve();
      }
      waits.clear();
    },
  };
}

async function leaveAll(planner: PlannerClient, peer: string, system: ActorSystem): Promise<void> {
  try {
    const status = await planner.status();
    if (status.type !== "status") return;
    for (const executor of status.executors) {
      if (!executor.path.startsWith(`fed://${peer}/`)) continue;
      await planner.leave(executor.id);
      system.log.warn("planner-executor-left", { executor: executor.id, reason: `the link to ${peer} went down` });
    }
  } catch (error) {
    system.log.warn("planner-leave-failed", { peer, reason: error instanceof Error ? error.message : String(error) });
  }
}

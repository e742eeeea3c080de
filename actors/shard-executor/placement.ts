/**
 * Between the Planner and the executors: what an executor tells the Planner when it joins (its
 * measured per-block time, from the `calibrate` message), and putting a published plan into
 * effect (each stage's executor loads the plan's block range, if it holds another). Only the
 * Planner's protocol types are imported, as an actor may (STYLE.md §1).
 */
import type { ActorRef } from "../../runtime/index.ts";
import { FedrouterError, registerErrors } from "../../errors/index.ts";
import type { ExecutorInfo, Plan } from "../planner/protocol.ts";
import { routeFromPlan, type RouteStage } from "./pipeline.ts";
import type { CalibrationReply, ExecutorInfoReply, LoadReply, ShardExecutorMsg } from "./protocol.ts";

/** A step of placement that an executor refused or did not answer. */
export class PlacementFailed extends FedrouterError {
  readonly code = "PLACEMENT_FAILED";
  constructor(readonly executor: string, readonly reason: string) {
    super(`${executor}: ${reason}`);
  }
}

registerErrors({ PLACEMENT_FAILED: (f) => new PlacementFailed(f.string("executor"), f.string("reason")) });

/**
 * Calibrates an executor and describes it for the Planner. GPT-2's blocks have one shape, so the
 * time measured per block on the range it holds stands for every block of the model.
 */
export async function describeExecutor(ref: ActorRef<ShardExecutorMsg>, opts: { id: string; regions?: readonly string[]; linkMs: ExecutorInfo["linkMs"]; tokens?: number; timeoutMs?: number }): Promise<ExecutorInfo> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const info = await ref.ask<ExecutorInfoReply>((replyTo) => ({ type: "info", replyTo }), { timeoutMs });
  const calibration = await ref.ask<CalibrationReply>((replyTo) => ({ type: "calibrate", tokens: opts.tokens ?? 8, replyTo }), { timeoutMs });
  if (calibration.type !== "calibration") throw new PlacementFailed(opts.id, `calibration refused: ${calibration.code}: ${calibration.message}`);
  return {
    id: opts.id, path: ref.path, blockMs: Array.from({ length: info.layers }, () => calibration.blockMs), linkMs: opts.linkMs,
    ...(opts.regions ? { regions: opts.regions } : {}),
  };
}

/** Makes every stage's executor run the plan's blocks; resolves to the plan's route. */
export async function deployPlan(plan: Plan, lookup: (path: string) => ActorRef<ShardExecutorMsg>, timeoutMs = 60_000): Promise<RouteStage[]> {
  await Promise.all(plan.stages.map(async (stage) => {
    const ref = lookup(stage.path);
    const info = await ref.ask<ExecutorInfoReply>((replyTo) => ({ type: "info", replyTo }), { timeoutMs }).catch((e: Error) => { throw new PlacementFailed(stage.executor, `did not answer: ${e.message}`); });
    if (info.from === stage.from && info.to === stage.to) return;
    const loaded = await ref.ask<LoadReply>((replyTo) => ({ type: "load", from: stage.from, to: stage.to, replyTo }), { timeoutMs });
    if (loaded.type !== "loaded") throw new PlacementFailed(stage.executor, `could not load blocks [${stage.from}, ${stage.to}): ${loaded.message}`);
  }));
  return routeFromPlan(plan);
}

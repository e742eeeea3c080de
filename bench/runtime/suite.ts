/**
 * The "runtime" suite: every fedrouter figure beside its raw floor, measured in this process
 * and this run (STYLE §8). About a minute on a 2-core machine.
 */
import { ActorSystem } from "../../runtime/index.ts";
import type { BenchResult } from "../report.ts";
import { crossThreadAsk } from "./ask.ts";
import { durableUpdates } from "./durable.ts";
import { crossThreadIdentity, sameThreadIdentity } from "./identity.ts";
import { crossThreadTell, sameThreadTell } from "./tell.ts";

export async function runRuntimeSuite(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const system = await ActorSystem.start({ node: "bench", logLevel: "silent" });
  try {
    results.push(await crossThreadTell(system));
    results.push(...(await crossThreadIdentity(system)));
    results.push(await sameThreadTell(system));
    results.push(...(await sameThreadIdentity(system)));
    results.push(...(await crossThreadAsk(system)));
  } finally {
    await system.stop();
  }
  results.push(...(await durableUpdates()));
  return results;
}

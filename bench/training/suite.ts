/**
 * The "training" suite: federated fine-tuning's costs, each beside its raw floor measured in the
 * same process and run (STYLE §8): pairwise masking (vs raw AES-CTR keystreams), CKKS encryption,
 * ciphertext addition and threshold decryption (vs node-seal's own operations), the coordinator's
 * FedAvg step and central noise (vs a plain float loop), a local DP-SGD step (vs the batch
 * gradient), and a demo round's wall time (vs the same hospitals' local DP-SGD alone). About 8 minutes on a 2-core machine; the sizes are the modules' defaults (d = 1 M,
 * n = 10), overridable per module (see each file).
 */
import type { BenchResult } from "../report.ts";
import { runCkksBench } from "./ckks.ts";
import { benchDpSgd } from "./dp-sgd.ts";
import { runFedAvgBench } from "./fedavg.ts";
import { runMaskingBench } from "./masking.ts";
import { runRoundBench } from "./round.ts";

export async function runTrainingSuite(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  results.push(...(await runMaskingBench()));
  results.push(...(await runCkksBench()));
  results.push(...(await runFedAvgBench()));
  results.push(...(await benchDpSgd()));
  results.push(...(await runRoundBench()));
  return results;
}

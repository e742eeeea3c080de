/**
 * The "executor" suite: the ShardExecutor's GPT-2 forward pass on the 124M-shaped model
 * (generated on first use, bench/executor/model.ts), each figure beside its floor measured in
 * this process and run: decode tokens/s against a raw tfjs matMul chain and the
 * memory-bandwidth bound, prefill tokens/s of a 128-token prompt against the same chain, and
 * a 2-stage pipeline over two worker threads against one executor serving the same 4 sequences.
 * A few minutes on a 2-core machine (plus generating the model the first time).
 */
import type { BenchResult } from "../report.ts";
import { ensureBenchModel } from "./model.ts";
import { pipelineFigures } from "./pipeline.ts";
import { singleExecutorFigures } from "./single.ts";

const log = (line: string): void => {
  process.stdout.write(`  ${line}\n`);
};

export async function runExecutorSuite(): Promise<BenchResult[]> {
  const modelDir = await ensureBenchModel(log);
  const results: BenchResult[] = [];
  results.push(...(await singleExecutorFigures(modelDir, log)));
  results.push(...(await pipelineFigures(modelDir, log)));
  return results;
}

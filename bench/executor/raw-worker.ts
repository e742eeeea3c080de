/**
 * A worker thread that runs the raw matMul chain (raw-chain.ts) on the whole model, for the
 * pipeline benchmark's scaling floor: how much two threads doing this memory-bound work at
 * once get out of this machine, against one thread alone. Told `{ steps }`, it answers the
 * milliseconds those decode-shaped steps took.
 */
import { parentPort, workerData } from "node:worker_threads";
import { resolveTensorBackend } from "../../native-bindings/index.ts";
import { loadGpt2Stage } from "../../actors/shard-executor/model-loader.ts";
import { RawMatMulChain } from "./raw-chain.ts";

const runtime = await resolveTensorBackend();
const chain = new RawMatMulChain(runtime, await loadGpt2Stage((workerData as { modelDir: string }).modelDir));
for (let i = 0; i < 3; i++) chain.step(1);
parentPort!.on("message", (msg: { steps: number } | "exit") => {
  if (msg === "exit") {
    chain.dispose();
    parentPort!.close();
    return;
  }
  const started = performance.now();
  for (let i = 0; i < msg.steps; i++) chain.step(1);
  parentPort!.postMessage(performance.now() - started);
});
parentPort!.postMessage("ready");

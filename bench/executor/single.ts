/**
 * One ShardExecutor's figures on the 124M-shaped GPT-2 (all 12 blocks in one stage), each against
 * a floor measured in this process and run (STYLE §8):
 *
 * - decode tokens/s: a fresh KV cache, an 8-token prompt prefilled (outside the timed window),
 *   then timed single-token `forward` steps, each feeding back the greedy argmax of the logits,
 *   so the context grows from 8 to at most 8 + warm-up + measured positions;
 *   floor 1: the raw tfjs chain of the same matrix products on [1×768] (raw-chain.ts), target ≥ 0.8;
 *   floor 2: the memory-bandwidth bound, weight bytes per token ÷ large-copy bandwidth (bandwidth.ts).
 * - prefill tokens/s: one `forward` of a 128-token prompt into a fresh cache (logits for all 128
 *   positions, as forward.ts returns them); floor: the raw chain on [128×768].
 *
 * Ours and the raw chain are measured round-robin, median of rounds; both hold the weights in
 * the wasm heap at once (about 3 GB resident with XNNPACK's packed copies). Never leaks tensors:
 * caches are disposed after each phase, model and chain at the end, and a warning names any
 * tensor left over.
 */
import { describeBackend, resolveTensorBackend } from "../../native-bindings/index.ts";
import { Gpt2Stage, type KvCache } from "../../actors/shard-executor/forward.ts";
import { loadGpt2Stage } from "../../actors/shard-executor/model-loader.ts";
import { compared, type BenchResult } from "../report.ts";
import { copyBandwidth, COPY_BYTES, weightBytesPerToken } from "./bandwidth.ts";
import { RawMatMulChain } from "./raw-chain.ts";
import { describeRate, interleavedRates, type Count } from "./timing.ts";

const PROMPT_TOKENS = 8;
const PREFILL_TOKENS = 128;
/** Per round: 3 warm-up and 24 timed decode steps each side (a few seconds each here). */
const DECODE: Count = { iterations: 24, warmupIterations: 3 };
const DECODE_ROUNDS = 5;
/**
 * Per round two timed prefills of 128 tokens each side (2–4 s each here), no warm-up: decode
 * has already run every weight through its kernel (XNNPACK packs a weight matrix on first
 * use) and tiered the wasm code up.
 */
const PREFILL: Count = { iterations: 2, warmupIterations: 0 };
const PREFILL_ROUNDS = 3;

/** Deterministic token ids spread over the vocabulary. */
function promptOf(length: number, vocabSize: number): number[] {
  return Array.from({ length }, (_, i) => (i * 7919 + 464) % vocabSize);
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

export async function singleExecutorFigures(modelDir: string, log: (line: string) => void): Promise<BenchResult[]> {
  const runtime = await resolveTensorBackend();
  log(describeBackend(runtime));
  const tensorsBefore = runtime.tf.memory().numTensors;
  const loaded = performance.now();
  const weights = await loadGpt2Stage(modelDir);
  const { config } = weights;
  const stage = new Gpt2Stage(runtime, weights);
  const raw = new RawMatMulChain(runtime, weights);
  let cache: KvCache | undefined;
  log(`model: loaded ${config.layers} blocks, d_model ${config.dModel}, twice (executor and raw chain) in ${((performance.now() - loaded) / 1_000).toFixed(1)} s`);
  try {
    const bytesPerToken = weightBytesPerToken(config, config.vocabSize);
    const bandwidth = await copyBandwidth();
    const boundTokensPerS = bandwidth / bytesPerToken;
    log(`bandwidth: ${(bandwidth / 1e9).toFixed(1)} GB/s (read + written, best Float32Array.set of ${COPY_BYTES / 2 ** 20} MiB); ${(bytesPerToken / 1e6).toFixed(1)} MB of weights per token → bound ${boundTokensPerS.toFixed(1)} tokens/s`);

    // Decode: the cache and the prompt's prefill live in the phase hooks, outside the timed steps.
    let next = 0;
    const freshPrefilledCache = () => {
      cache?.dispose();
      cache = stage.createCache();
      next = argmax(lastRow(stage.forward({ tokens: promptOf(PROMPT_TOKENS, config.vocabSize) }, cache), config.vocabSize));
    };
    const dropCache = () => {
      cache?.dispose();
      cache = undefined;
    };
    log(`decode: ${DECODE_ROUNDS} rounds of ${DECODE.warmupIterations} + ${DECODE.iterations} steps, executor and raw chain in turn…`);
    const [decode, rawDecode] = await interleavedRates([
      { name: "executor decode step", perIteration: 1, fn: () => { next = argmax(stage.forward({ tokens: [next] }, cache)); }, hooks: { beforeAll: freshPrefilledCache, afterAll: dropCache } },
      { name: "raw chain [1×768]", perIteration: 1, fn: () => argmax(raw.step(1)) },
    ], DECODE_ROUNDS, DECODE);
    log(`decode: ${describeRate("executor", decode!, "tokens/s")}; ${describeRate("raw chain", rawDecode!, "tokens/s")}`);

    const prefillPrompt = promptOf(PREFILL_TOKENS, config.vocabSize);
    log(`prefill: ${PREFILL_ROUNDS} rounds of ${PREFILL.warmupIterations} + ${PREFILL.iterations} forwards of ${PREFILL_TOKENS} tokens, executor and raw chain in turn…`);
    const [prefill, rawPrefill] = await interleavedRates([
      { name: "executor prefill", perIteration: PREFILL_TOKENS, fn: () => stage.forward({ tokens: prefillPrompt }, cache), hooks: { beforeEach: () => { cache = stage.createCache(); }, afterEach: dropCache } },
      { name: `raw chain [${PREFILL_TOKENS}×768]`, perIteration: PREFILL_TOKENS, fn: () => raw.step(PREFILL_TOKENS) },
    ], PREFILL_ROUNDS, PREFILL);
    log(`prefill: ${describeRate("executor", prefill!, "tokens/s")}; ${describeRate("raw chain", rawPrefill!, "tokens/s")}`);

    const chain = `tfjs matMul chain, ${config.layers}×4 block matrices + tied head, dataSync`;
    const shape = `${config.layers} blocks, d ${config.dModel}, ${runtime.backend}`;
    return [
      compared(`decode, 1 executor (${shape})`, "tokens/s", decode!.median, { name: `raw ${chain}, [1×${config.dModel}]`, value: rawDecode!.median }, "≥ 0.8"),
      compared("decode vs memory-bandwidth bound", "tokens/s", decode!.median, {
        name: `bound: ${(bytesPerToken / 1e6).toFixed(0)} MB fp32 weights/token ÷ ${(bandwidth / 1e9).toFixed(1)} GB/s copy (read+write)`,
        value: boundTokensPerS,
      }),
      compared(`prefill, ${PREFILL_TOKENS}-token prompt (${shape})`, "tokens/s", prefill!.median, { name: `raw ${chain}, [${PREFILL_TOKENS}×${config.dModel}]`, value: rawPrefill!.median }),
    ];
  } finally {
    cache?.dispose();
    stage.dispose();
    raw.dispose();
    const leaked = runtime.tf.memory().numTensors - tensorsBefore;
    if (leaked !== 0) log(`warning: ${leaked} tensors left after the single-executor benchmarks`);
  }
}

/** The last position's logits of a [n × vocab] block. */
function lastRow(logits: Float32Array, vocabSize: number): Float32Array {
  return logits.subarray(logits.length - vocabSize);
}

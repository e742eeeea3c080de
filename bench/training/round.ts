/**
 * A demo round's wall time: three hospitals (their Accountants on LMDB in one actor system, the
 * demo's synthetic notes), the demo model's shape (2 blocks, d 64, GPT-2's vocabulary) trained in
 * its last block, the demo's settings (2 local DP-SGD steps, batch 8, z = 1, C = 1, masking, quorum
 * 2), from the round's start (its cost reserved in every ledger) to its model applied — against
 * the floor of the same three hospitals' local DP-SGD alone (localTrain, the same steps, sampling
 * and noise, one hospital after another as the round's in one process). The ratio is what a round
 * adds around the training: reservations, masking and unmasking, central noise, the server step,
 * the round store's synced writes, the settlements. Rounds: BENCH_ROUND_ROUNDS (default 3).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActorSystem, type NodeStore } from "../../runtime/index.ts";
import { accountant, AccountantClient } from "../../actors/accountant/index.ts";
import {
  accountantBudget, documentSequences, flattenTrainable, Gpt2Tokenizer, HospitalParticipant, initModel, loadGpt2Stage, localTrain, syntheticNotes, trainableSpec, type Specialty,
} from "../../actors/shard-executor/index.ts";
import { DEFAULT_MODEL_SHAPE } from "../../actors/shard-executor/model-init.ts";
import { TrainingCoordinator, type TrainingConfig } from "../../actors/aggregator/index.ts";
import { selectRound } from "../../actors/planner/index.ts";
import { openRoundStore } from "../../federated/index.ts";
import { compared, type BenchResult } from "../report.ts";

const HOSPITALS: readonly [string, Specialty][] = [["hospital-a", "cardiology"], ["hospital-b", "radiology"], ["hospital-c", "emergency"]];
const PART = { kind: "last", blocks: 1, head: false } as const;

export async function runRoundBench(options: { rounds?: number; notes?: number; log?: (line: string) => void } = {}): Promise<BenchResult[]> {
  const rounds = options.rounds ?? Number(process.env.BENCH_ROUND_ROUNDS ?? 3);
  const notes = options.notes ?? 400;
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-bench-round-"));
  const system = await ActorSystem.start({ node: "bench-round", persistence: { path: join(dir, "lmdb") }, logLevel: "error" });
  try {
    await initModel({ out: join(dir, "model"), ...DEFAULT_MODEL_SHAPE, vocab: "gpt2", seed: 1 });
    const model = await loadGpt2Stage(join(dir, "model"));
    const tokenizer = await Gpt2Tokenizer.fromDirectory(join(dir, "model"));
    const spec = trainableSpec(model.config, PART);
    const baseFlat = flattenTrainable(spec, model.tensors);
    const config: TrainingConfig = {
      rounds, quorum: 2, noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, protection: "masking",
      serverOptimizer: { kind: "fedavg", learningRate: 0.001 }, phaseTimeoutMs: 600_000,
      local: { steps: 2, exampleClip: 1, noiseMultiplier: 1, learningRate: 1e-3, batchSize: 8 },
    };
    const corpora = HOSPITALS.map(([, specialty]) => syntheticNotes(specialty, notes, 1).flatMap((note) => documentSequences(note, tokenizer, model.config.positions)));
    const participants: HospitalParticipant[] = [];
    for (const [k, [id]] of HOSPITALS.entries()) {
      const ledger = { defaultUserEpsilon: 1_000, departments: { training: { epsilon: 1_000 } }, delta: config.delta };
      const ref = await system.spawn(accountant, { ledger, tickMs: 3_600_000 }, { name: `accountant-${id}` });
      participants.push(new HospitalParticipant({ id, model, spec, baseFlat, corpus: corpora[k]!, budget: accountantBudget(new AccountantClient(ref, 60_000)) }));
    }

    // The floor: each hospital's local DP-SGD as a round runs it (Poisson rate batch/N with local noise).
    const local = (k: number) => localTrain({
      model, corpus: corpora[k]!, steps: config.local.steps, exampleClip: config.local.exampleClip, noiseMultiplier: config.local.noiseMultiplier, updateClip: config.clipNorm,
      part: PART, sampling: { kind: "poisson", rate: Math.min(1, config.local.batchSize / corpora[k]!.length) }, optimizer: { kind: "adam", learningRate: config.local.learningRate },
    });
    await local(0); // warm-up: tfjs kernels, the noise sampler
    const floorMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const start = performance.now();
      for (let k = 0; k < HOSPITALS.length; k++) await local(k);
      floorMs.push(performance.now() - start);
    }
    options.log?.(`round bench: local training of 3 hospitals ${floorMs.map((m) => m.toFixed(0)).join(", ")} ms`);

    const store = await openRoundStore(system.store as NodeStore, { initialWeights: baseFlat });
    const started = new Map<string, number>();
    const roundMs: number[] = [];
    const outcome = await new TrainingCoordinator({
      config, participants, store, select: async (r) => selectRound(r),
      onProgress: (e) => {
        if (e.type === "round-started") started.set(e.roundId, performance.now());
        if (e.type === "round-applied") roundMs.push(performance.now() - started.get(e.roundId)!);
      },
    }).run();
    if (outcome.applied !== rounds) throw new Error(`round bench: ${outcome.applied} of ${rounds} rounds applied`);
    options.log?.(`round bench: rounds ${roundMs.map((m) => m.toFixed(0)).join(", ")} ms`);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    return [
      compared(`demo round wall time: 3 hospitals, 2 local DP-SGD steps each, masked sum (median of ${rounds})`, "ms", median(roundMs), { name: "the same 3 hospitals' local DP-SGD alone", value: median(floorMs) }),
    ];
  } finally {
    await system.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

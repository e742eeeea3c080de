/** `fedrouter train`: argument checks and printing over cluster/training.ts's trainFederation. */
import { ConfigError, loadCluster, trainFederation, type FederatedTrainingOptions } from "../../cluster/index.ts";
import { FedrouterError } from "../../errors/index.ts";
import { listening } from "../demo/federation-demo.ts";

export interface TrainCommandOptions {
  config: string;
  pretrainSteps: number;
  rounds: number;
  localSteps: number;
  noiseMultiplier: number;
  clip: number;
  localNoise: number;
  serverLr: number;
  protection: "masking" | "ckks";
  /** Adaptive clipping (cluster/training.ts defaultAdaptiveClipping): C starts at `clip` and tracks the median update norm. */
  adaptiveClipping?: boolean;
  /** Train in the running federation (its coordinator's Aggregator and the hospitals' trainers). */
  live?: boolean;
  /** With --live: the hospital whose Aggregator coordinates (default the front door's). */
  coordinator?: string;
  /** With --live: the operator certificate (keys/<name>.crt). */
  operator?: string;
  /** With --live: where the coordinator writes the checkpoint (default .data/training/live). */
  out?: string;
  /** With --live --protection ckks: the federation's public bundle on the coordinator (default keys/ckks/federation.bundle). */
  ckksBundle?: string;
  /** With --live: put the trained model in service on every hospital whose trainer accepts installs. */
  install?: boolean;
  notes: number;
  plot: string;
  /** Options given on the command line that only --live reads (camelCase names); refused without --live. */
  liveOnlyGiven?: readonly string[];
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

/**
 * On a terminal, a progress line (`[####....] step k/n`) redraws the one before it in place
 * instead of scrolling; every other line, and any output that is not a terminal (a log file, a
 * pipe, the tests), is printed line by line.
 */
export function progressPrinter(write: (text: string) => void, tty: boolean): (line: string) => void {
  let drawing = false;
  return (line) => {
    const bar = tty && /\] step \d+\/\d+/.test(line);
    if (bar) {
      write(`\r\x1b[2K${line}`);
      drawing = true;
      return;
    }
    write(`${drawing ? "\n" : ""}${line}\n`);
    drawing = false;
  };
}

/** Exit code: 0 trained, 1 refused (a federation running, no round applied), 2 a bad config or option. */
export async function runTrainCommand(opts: TrainCommandOptions, io: Io): Promise<number> {
  let cluster;
  try {
    cluster = await loadCluster(opts.config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.err(`fedrouter train: invalid cluster config ${error.message}`);
    return 2;
  }
  const liveOnly = opts.liveOnlyGiven ?? (opts.install === true ? ["install"] : []);
  if (liveOnly.length > 0 && opts.live !== true) {
    const flags = liveOnly.map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ");
    io.err(`fedrouter train: ${flags} ${liveOnly.length === 1 ? "needs" : "need"} --live (without --live, the trained model is written where npm start serves it: each hospital's model directory in ${opts.config})`);
    return 2;
  }
  const busy = await listening(cluster.hospitals.flatMap((h) => [h.address, h.admin]));
  if (opts.live === true) {
    // The running federation trains itself: its coordinator's Aggregator drives the trainers.
    if (busy.length === 0) {
      io.err("fedrouter train --live: the federation is not running (no hospital answers); start it (npm start), or train without --live");
      return 1;
    }
    const { runLiveTraining } = await import("./live.ts");
    return runLiveTraining(cluster, { ...opts, operator: opts.operator ?? "operator" }, io);
  }
  // The ledgers are opened here: a running federation holds them (and would not see these charges).
  if (busy.length > 0) {
    io.err(`fedrouter train: ${busy.join(", ")} ${busy.length === 1 ? "is" : "are"} in use: the federation is probably running; stop it first (Ctrl-C in its terminal), nothing was trained`);
    return 1;
  }
  const options: FederatedTrainingOptions = {
    cluster, print: io.out, pretrainSteps: opts.pretrainSteps, rounds: opts.rounds, localSteps: opts.localSteps, noiseMultiplier: opts.noiseMultiplier,
    clipNorm: opts.clip, localNoise: opts.localNoise, serverLearningRate: opts.serverLr, protection: opts.protection, notes: opts.notes, plot: opts.plot,
    ...(opts.adaptiveClipping === true ? { adaptiveClipping: true } : {}),
  };
  try {
    const report = await trainFederation(options);
    io.out(`trained in ${(report.wallMs / 60_000).toFixed(1)} min; \`npm start\` now serves it from ${report.models.join(", ")}`);
    return 0;
  } catch (error) {
    if (!(error instanceof FedrouterError)) throw error;
    io.err(`fedrouter train: ${error.message}`);
    return /INVALID|TRAINING_REFUSED/.test(error.code) ? 2 : 1;
  }
}

/** The fedrouter CLI: thin commands over the library. */
import { Command, InvalidArgumentError } from "commander";

const program = new Command()
  .name("fedrouter")
  .description("An actor runtime for a federation of hospitals serving language models under a differential-privacy budget.")
  .showHelpAfterError();

program
  .command("demo")
  .description("Start one local node (actors in the main thread, a worker thread and a piscina pool, LMDB state) and show it working")
  .option("--data-dir <dir>", "where the node keeps its LMDB environment", ".data/demo")
  .option("--once", "run the demonstration and exit instead of staying up", false)
  .option("--status-every <seconds>", "seconds between status lines while running", parsePositive, 10)
  .action(async (opts: { dataDir: string; once: boolean; statusEvery: number }) => {
    const { runLocalDemo } = await import("./demo/local-node.ts");
    await runLocalDemo(opts);
  });

program
  .command("bench")
  .description("Run benchmark suites (e.g. `fedrouter bench runtime`); results go to bench/results/<suite>.json")
  .argument("[suites...]", "suites to run (default: all)")
  .action(async (suites: string[]) => {
    const { runBenchmarks } = await import("../bench/run.ts");
    await runBenchmarks(suites);
  });

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}

await program.parseAsync(process.argv);

/** The fedrouter CLI: thin commands over the library. */
import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";

/** The version in the package.json beside bin/. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

const program = new Command()
  .name("fedrouter")
  .description("An actor runtime for a federation of hospitals serving language models under a differential-privacy budget.")
  .version(packageVersion(), "-V, --version", "print the version of fedrouter")
  .showHelpAfterError();

program
  .command("demo")
  .description("Launch every hospital of the cluster config as its own process, supervised (or --local: one node in this process, narrated)")
  .option("--config <path>", "the cluster config", "cluster.config.ts")
  .option("--local", "run the single-node runtime demonstration instead of the federation", false)
  .option("--data-dir <dir>", "with --local: where the node keeps its LMDB environment", ".data/demo")
  .option("--once", "start, show that it works, and exit instead of staying up", false)
  .option("--status-every <seconds>", "with --local: seconds between status lines while running", parsePositive, 10)
  .option("--reset", "wipe the demo's state (every hospital's .data/<id>, the HTTP users, the --local directory; keeps keys/ and models/) and exit", false)
  .action(async (opts: { config: string; local: boolean; dataDir: string; once: boolean; statusEvery: number; reset: boolean }) => {
    if (opts.reset) {
      const { resetDemo } = await import("./demo/reset.ts");
      process.exitCode = await resetDemo(opts, { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) });
      return;
    }
    if (opts.local) {
      const { runLocalDemo } = await import("./demo/local-node.ts");
      await runLocalDemo(opts);
      return;
    }
    const { runFederationDemo } = await import("./demo/federation-demo.ts");
    process.exitCode = await runFederationDemo(opts);
  });

program
  .command("launch")
  .description("Start one hospital's node: its actors, LMDB state and the mTLS transport to the other hospitals")
  // From the environment too, so that one container image serves every hospital (Dockerfile).
  .addOption(new Option("--hospital <id>", "the hospital id in the cluster config").env("FEDROUTER_HOSPITAL").makeOptionMandatory())
  .addOption(new Option("--config <path>", "the cluster config").env("FEDROUTER_CONFIG").default("cluster.config.ts"))
  .action(async (opts: { hospital: string; config: string }) => {
    const { launchHospital, LaunchError } = await import("../cluster/index.ts");
    try {
      const node = await launchHospital(opts);
      const { hospital } = node;
      process.stdout.write(`${hospital.id}: transport listening on ${node.system.transport?.address} (${node.cluster.tls.insecure ? "PLAINTEXT" : "mTLS"}), ` +
        `admin on ${node.admin.address}, ${hospital.actors.length} actors, state in LMDB${node.frontDoor ? `, HTTP API on ${node.frontDoor.url}` : ""}; Ctrl-C stops it\n`);
      const ended = await new Promise<{ reason: string } | undefined>((done) => {
        process.once("SIGINT", () => done(undefined));
        process.once("SIGTERM", () => done(undefined));
        // The root supervisor gave up: the node has stopped itself (OTP); exit so that whatever
        // supervises this process (the demo, systemd, Kubernetes) starts it again.
        node.system.terminated$.subscribe((t) => done(t));
      });
      if (ended !== undefined) {
        process.stderr.write(`fedrouter launch: ${hospital.id}: the root supervisor gave up (${ended.reason}); the node stopped\n`);
        await node.stop();
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${hospital.id}: stopping (actors in reverse order, streams, LMDB)\n`);
      await node.stop();
      process.stdout.write(`${hospital.id}: stopped\n`);
    } catch (error) {
      if (error instanceof LaunchError) {
        process.stderr.write(`fedrouter launch: ${error.message}\n`);
        process.exitCode = error.exitCode;
        return;
      }
      throw error;
    }
  });

const deploy = program.command("deploy").description("Deployment files rendered from the cluster config (README, \"Deploy it\")");

deploy
  .command("config")
  .description("The cluster config as the container image reads it (JSON on stdout): each node bound to 0.0.0.0 at the config's addresses, paths at the image's mount points")
  .option("--config <path>", "the cluster config", "cluster.config.ts")
  .action(async (opts: { config: string }) => {
    const { runDeployConfig } = await import("./deploy/deploy-command.ts");
    process.exitCode = await runDeployConfig(opts);
  });

deploy
  .command("k8s")
  .description("Kubernetes manifests on stdout (per hospital a StatefulSet with its volume, Services, a PodDisruptionBudget, a NetworkPolicy; the config as a ConfigMap); Secrets are referenced, never rendered")
  .option("--config <path>", "the cluster config", "cluster.config.ts")
  .option("--image <ref>", "the image built from the Dockerfile", `fedrouter:${packageVersion()}`)
  .option("--namespace <name>", "the namespace of every object", "fedrouter")
  .option("--storage <quantity>", "each hospital's volume (LMDB state and its models)", "5Gi")
  .option("--storage-class <name>", "the volumes' StorageClass (default: the cluster's default)")
  .action(async (opts: { config: string; image: string; namespace: string; storage: string; storageClass?: string }) => {
    const { runDeployK8s } = await import("./deploy/deploy-command.ts");
    process.exitCode = await runDeployK8s(opts);
  });

program
  .command("repl")
  .description("An operator REPL on a live hospital node (Admin service over mTLS with the operator certificate); works with piped input")
  .requiredOption("--hospital <id>", "the hospital id in the cluster config")
  .option("--config <path>", "the cluster config", "cluster.config.ts")
  .option("--operator <name>", "the operator certificate to use (keys/<name>.crt)", "operator")
  .action(async (opts: { hospital: string; config: string; operator: string }) => {
    const { loadCluster, findHospital, configPath, ConfigError } = await import("../cluster/index.ts");
    const { readTlsFiles } = await import("../runtime/index.ts");
    const { runRepl } = await import("./repl/index.ts");
    try {
      const cluster = await loadCluster(opts.config);
      const hospital = findHospital(cluster, opts.hospital);
      const security = cluster.tls.insecure
        ? ({ kind: "insecure" } as const)
        : readTlsFiles(configPath(cluster, cluster.tls.ca), configPath(cluster, `keys/${opts.operator}.crt`), configPath(cluster, `keys/${opts.operator}.key`));
      await runRepl({ address: hospital.admin, security, input: process.stdin, output: process.stdout, node: hospital.id });
    } catch (error) {
      if (error instanceof ConfigError || (error as { code?: string }).code === "INVALID_ARGUMENT") {
        process.stderr.write(`fedrouter repl: ${error instanceof ConfigError ? `invalid cluster config ${error.message}` : (error as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      throw error;
    }
  });

const keys = program
  .command("keys")
  .description("Development certificates, and the CKKS key ceremony");
keys
  .command("init")
  .description("Create a dev CA and a certificate per hospital of the cluster config, plus an operator certificate (system openssl)")
  .option("--config <path>", "the cluster config", "cluster.config.ts")
  .option("--out <dir>", "where to write them", "keys")
  .action(async (opts: { config: string; out: string }) => {
    const { loadCluster, ConfigError } = await import("../cluster/index.ts");
    const { createDevPki, InvalidArgument } = await import("../runtime/index.ts");
    try {
      const cluster = await loadCluster(opts.config);
      const ids = [...cluster.hospitals.map((h) => h.id), ...cluster.tls.operators];
      const pki = createDevPki(opts.out, ids);
      const line = (c: (typeof pki.certificates)[number]) => `  ${c.id}: ${c.certPath} (${c.action}${c.why === undefined ? "" : `: ${c.why}`})`;
      process.stdout.write(`dev CA ${pki.caCertPath} (${pki.caCreated ? "created" : "kept"})\n${pki.certificates.map(line).join("\n")}\n` +
        `These are development certificates (private keys unencrypted, 0600): do not use them in a deployment.\n`);
    } catch (error) {
      if (error instanceof ConfigError) {
        process.stderr.write(`fedrouter keys init: invalid cluster config ${error.message}\n`);
        process.exitCode = 2;
        return;
      }
      if (error instanceof InvalidArgument) {
        process.stderr.write(`fedrouter keys init: ${error.message}\n`);
        process.exitCode = 2;
        return;
      }
      throw error;
    }
  });

keys
  .command("ckks")
  .description("The CKKS key ceremony (a trusted dealer, on this machine): the federation's public bundle and one key share per hospital, for `train --live --protection ckks`")
  .option("--config <path>", "the cluster config", "cluster.config.ts")
  .option("--out <dir>", "where to write federation.bundle, <hospital>.share (0600) and federation.json", "keys/ckks")
  .option("--hospitals <ids>", "comma-separated hospitals that get a key share (default: every hospital that runs a trainer)")
  .option("--threshold <t>", "key shares needed to decrypt (default: a majority)")
  .option("--force", "replace a key ceremony already in --out (every hospital then needs its new share)", false)
  .action(async (opts: { config: string; out: string; hospitals?: string; threshold?: string; force: boolean }) => {
    const { runKeysCkks } = await import("./train/keys-ckks.ts");
    process.exitCode = await runKeysCkks(opts, { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) });
  });

program
  .command("users")
  .description("The local user store behind POST /v1/auth/token (JSON file, scrypt-hashed passwords)")
  .command("add")
  .description("Add a user with a role and a department; the password comes from --password-stdin or a prompt that does not echo it")
  .requiredOption("--file <path>", "the user store (created, mode 0600, when absent)")
  .requiredOption("--user <id>", "the user id (the token's sub)")
  .requiredOption("--role <role>", "doctor | nurse | researcher | admin | operator")
  .requiredOption("--department <name>", "the department whose budget the user spends")
  .option("--password-stdin", "read the password from standard input", false)
  .option("--replace", "change a user that exists already", false)
  .option("--config <path>", "the cluster config: the department must be one of its privacy.departments", "cluster.config.ts")
  .action(async (opts: { config: string; file: string; user: string; role: string; department: string; passwordStdin: boolean; replace: boolean }) => {
    const { runUsersAdd } = await import("./users/users-command.ts");
    process.exitCode = await runUsersAdd(opts);
  });

const audit = program
  .command("audit")
  .description("Check or export the Accountant's tamper-evident audit trail in a node's LMDB directory")
  // A usage error (missing or unknown option) exits 2, like the commands' own refusals: 1 means "broken".
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

audit
  .command("verify")
  .description("Verify the hash chain, the journal's seqs and the anchor in the actor state: exit 0 intact, 1 broken, 2 cannot check")
  .requiredOption("--data-dir <dir>", "the node's LMDB directory (must exist)")
  .option("--actor <id>", "the Accountant's actor store id (default: user/accountant)")
  .action(async (opts: { dataDir: string; actor?: string }) => {
    const { runAuditVerify } = await import("./audit/audit-command.ts");
    process.exitCode = await runAuditVerify(opts);
  });

audit
  .command("export")
  .description("Write the audit entries as JSON lines, one object per line, optionally only those in [--from, --to]")
  .requiredOption("--data-dir <dir>", "the node's LMDB directory (must exist)")
  .option("--actor <id>", "the Accountant's actor store id (default: user/accountant)")
  .option("--from <when>", "only entries at or after: ISO date (2026-03-01 is 00:00 UTC, 2026-03-01T12:00:00Z) or epoch ms")
  .option("--to <when>", "only entries at or before: same forms as --from")
  .option("--out <file>", "write to this file instead of stdout")
  .action(async (opts: { dataDir: string; actor?: string; from?: string; to?: string; out?: string }) => {
    const { runAuditExport } = await import("./audit/audit-command.ts");
    process.exitCode = await runAuditExport(opts);
  });

program
  .command("train")
  .description("Fine-tune the demo hospitals' model together: public pretraining, then DP-FedAvg rounds under secure aggregation, each charged to every hospital's own privacy ledger; writes the trained model where `npm start` serves it")
  .option("--config <path>", "the cluster config", "cluster.config.ts")
  .option("--pretrain-steps <n>", "public pretraining steps (0: reuse .data/training/pretrained)", parseCount, 160)
  .option("--rounds <n>", "federated rounds", parsePositive, 3)
  .option("--local-steps <n>", "DP-SGD steps each hospital runs per round", parsePositive, 2)
  .option("--noise-multiplier <z>", "central noise: σ = z·C on the sum of updates (client-level DP)", parsePositive, 1)
  .option("--clip <C>", "each hospital's update is clipped to this L2 norm", parsePositive, 1)
  .option("--local-noise <z>", "each hospital's DP-SGD noise multiplier (example-level DP; 0: clipping only)", parseCount, 1)
  .option("--server-lr <eta>", "FedAvg's server learning rate", parsePositive, 0.001)
  .option("--adaptive-clipping", "C tracks the median update norm (Andrew et al. 2021): each hospital's clipped-or-not bit travels inside the secure sum, noised; the update noise rises to z_Δ·C so ε is unchanged", false)
  .addOption(new Option("--protection <kind>", "secure aggregation: masking (pairwise masks) or ckks (threshold CKKS, a majority of hospitals decrypts)").choices(["masking", "ckks"]).default("masking"))
  .option("--notes <n>", "synthetic notes per hospital", parsePositive, 400)
  .option("--plot <file>", "where to draw the loss curve (PNG)", ".data/training/loss.png")
  .option("--live", "train in the running federation: its coordinator's Aggregator drives every hospital's trainer over mTLS; no pretraining", false)
  .option("--coordinator <id>", "with --live: the hospital whose Aggregator coordinates (default the front door's)")
  .option("--operator <name>", "with --live: the operator certificate to use (keys/<name>.crt)", "operator")
  .option("--out <dir>", "with --live: where the coordinator writes the trained checkpoint", ".data/training/live")
  .option("--ckks-bundle <file>", "with --live --protection ckks: the federation's public bundle on the coordinator (`fedrouter keys ckks` writes it)", "keys/ckks/federation.bundle")
  .option("--install", "with --live: after the last round, put the trained model in service on every hospital whose trainer has acceptInstall (written over its model, the replaced files kept in previous/, its executors reloaded)", false)
  .action(async (opts: import("./train/train-command.ts").TrainCommandOptions, command: Command) => {
    const { progressPrinter, runTrainCommand } = await import("./train/train-command.ts");
    const out = progressPrinter((text) => process.stdout.write(text), process.stdout.isTTY === true);
    // Options that only --live reads, as typed (their defaults say nothing): without --live they are refused, not ignored.
    const liveOnly = ["coordinator", "operator", "out", "ckksBundle", "install"].filter((name) => command.getOptionValueSource(name) === "cli");
    process.exitCode = await runTrainCommand({ ...opts, liveOnlyGiven: liveOnly }, { out, err: (line) => process.stderr.write(`${line}\n`) });
  });

const model = program.command("model").description("Model directories in the Hugging Face GPT-2 format");

model
  .command("init")
  .description("Write a randomly initialised GPT-2 (config.json, model.safetensors, vocab.json, merges.txt) that loads like any Hugging Face checkpoint")
  .requiredOption("--out <dir>", "the model directory to write")
  .option("--layers <n>", "transformer blocks", parsePositive, 2)
  .option("--d-model <n>", "embedding width (n_embd)", parsePositive, 64)
  .option("--heads <n>", "attention heads (must divide --d-model)", parsePositive, 4)
  .option("--positions <n>", "context length (n_positions)", parsePositive, 128)
  .option("--vocab <name>", "the vocabulary: gpt2 (50,257 BPE tokens)", "gpt2")
  .option("--seed <n>", "seed of the initialisation (same seed, same bytes)", (v) => Number.parseInt(v, 10), 1)
  .option("--force", "replace a model already in --out", false)
  .action(async (opts: { out: string; layers: number; dModel: number; heads: number; positions: number; vocab: string; seed: number; force: boolean }) => {
    const { initModel, InvalidModelShape } = await import("../actors/shard-executor/model-init.ts");
    try {
      const started = Date.now();
      const { parameters } = await initModel({ ...opts, vocab: opts.vocab as "gpt2", progress: (line) => process.stdout.write(`${line}\n`) });
      process.stdout.write(`wrote ${opts.out}: GPT-2 with ${opts.layers} layers, d_model ${opts.dModel}, ${opts.heads} heads, ${parameters.toLocaleString("en-US")} parameters (seed ${opts.seed}) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    } catch (error) {
      if (!(error instanceof InvalidModelShape)) throw error;
      process.stderr.write(`fedrouter model init: --${error.field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${error.reason}\n`);
      process.exitCode = 2;
    }
  });

program
  .command("tensor-backend")
  .description("Show which tfjs backend this machine gets (node-gpu, node, wasm, cpu) and why the better ones were passed over; FEDROUTER_TF_BACKEND forces one")
  .option("--prefer <name>", "try only this backend: node-gpu | node | wasm | cpu")
  .action(async (opts: { prefer?: string }) => {
    const tensor = await import("../native-bindings/index.ts");
    try {
      const runtime = await tensor.resolveTensorBackend(opts.prefer === undefined ? {} : { prefer: tensor.parseBackendName(opts.prefer, "--prefer") });
      process.stdout.write(`${tensor.describeBackend(runtime)}\n`);
      for (const a of runtime.attempts) process.stdout.write(`  ${a.name.padEnd(9)} ${a.outcome}${a.reason ? `: ${a.reason}` : ""}\n`);
    } catch (error) {
      if (!(error instanceof tensor.TensorBackendUnavailable || error instanceof tensor.UnknownTensorBackend)) throw error;
      process.stderr.write(`fedrouter tensor-backend: ${error.message}\n`);
      process.exitCode = error instanceof tensor.UnknownTensorBackend ? 2 : 1;
    }
  });

program
  .command("bench")
  .description("Run benchmark suites (e.g. `fedrouter bench runtime`); results go to bench/results/<suite>.json")
  .argument("[suites...]", "suites to run (default: all)")
  .action(async (suites: string[]) => {
    const { runBenchmarks } = await import("../bench/run.ts");
    await runBenchmarks(suites);
  });

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a number ≥ 0, got "${value}"`);
  return n;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}

await program.parseAsync(process.argv);

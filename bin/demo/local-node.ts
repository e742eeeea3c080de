/**
 * `fedrouter demo` until the federation lands: one node with actors in the main thread, a
 * dedicated worker and a piscina pool, LMDB-backed state, and a supervisor that restarts a
 * crashed worker — narrated, so a newcomer sees each contract of the runtime at work.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { ActorSystem, actor, supervisor, type LifecycleEvent } from "../../runtime/index.ts";
import { hasher, tally, visits, type HashMsg, type TallyMsg, type VisitsMsg } from "../../cluster/index.ts";

export interface LocalDemoOptions {
  dataDir: string;
  once: boolean;
  statusEvery: number;
}

const say = (line: string) => process.stdout.write(`${line}\n`);

export async function runLocalDemo(opts: LocalDemoOptions): Promise<void> {
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  say(`fedrouter demo — one local node (the three-hospital federation arrives with the federation and router issues)`);
  say(`  LMDB environment: ${dataDir}`);
  const system = await ActorSystem.start({ node: "local", persistence: { path: dataDir }, logLevel: "error" });
  system.events$.subscribe((e) => say(`  event  ${describe(e)}`));

  await system.startChild(
    supervisor("demo", [
      actor("visits", visits, undefined),
      actor("tally", tally, undefined, { placement: "worker", mailbox: { capacity: 200_000 } }),
      actor("hasher", hasher, undefined, { placement: "pool", poolThreads: 2 }),
    ], { strategy: "one-for-one", intensity: 5, periodMs: 10_000 }),
  );
  const visitsRef = system.ref<VisitsMsg>(system.pathOf("demo", "visits"));
  const tallyRef = system.ref<TallyMsg>(system.pathOf("demo", "tally"));
  const hasherRef = system.ref<HashMsg>(system.pathOf("demo", "hasher"));

  const count = await visitsRef.ask<number>((replyTo) => ({ type: "visit", replyTo }));
  say(`\n1. durable state: this is visit #${count} to this node (kept in LMDB, acknowledged only after fsync; run again and it grows)`);

  const started = performance.now();
  for (let i = 0; i < 100_000; i++) tallyRef.tell({ type: "add", n: 1 });
  const total = await tallyRef.ask<number>((replyTo) => ({ type: "get", replyTo }));
  say(`2. cross-thread tells: 100,000 messages to ${tallyRef.path} (a worker thread) in ${(performance.now() - started).toFixed(0)} ms; it counted ${total}`);

  const digests = await Promise.all([1, 2, 3, 4].map((i) => hasherRef.ask<string>((replyTo) => ({ type: "hash", rounds: 20_000, seed: `job-${i}`, replyTo }))));
  say(`3. pool: 4 hashing jobs on a piscina pool answered ${digests.join(", ")}`);

  say(`4. fault: the worker thread of ${tallyRef.path} exits; its supervisor starts a new one at the same path`);
  const back = new Promise<void>((done) => {
    const sub = system.events$.subscribe((e) => {
      if (e.type === "restarted" && e.path === tallyRef.path) {
        sub.unsubscribe();
        done();
      }
    });
  });
  tallyRef.tell({ type: "exit-thread" });
  await back;
  tallyRef.tell({ type: "add", n: 42 });
  say(`   after the restart the same ref answers: ${await tallyRef.ask<number>((replyTo) => ({ type: "get", replyTo }))} (state is fresh: it was in memory only)`);

  const metrics = (await system.metrics.text()).split("\n").filter((l) => l.startsWith("fedrouter_actor_messages_in_total") || l.startsWith("fedrouter_actor_restarts_total"));
  say(`5. metrics (prom-client):\n${metrics.map((l) => `   ${l}`).join("\n")}`);

  if (opts.once) {
    await system.stop();
    say(`\nstopped cleanly (children stopped in reverse order, LMDB closed).`);
    return;
  }
  say(`\nthe node stays up; Ctrl-C stops it gracefully. Status every ${opts.statusEvery} s.`);
  const status = setInterval(async () => {
    const tree = await system.tree();
    const actors = tree.children?.flatMap((c) => c.children ?? [c]) ?? [];
    say(`  status ${new Date().toISOString()}  ${actors.map((a) => `${a.path.split("/").pop()}:${a.status}`).join(" ")}  dead letters: ${system.deadLetterCount}`);
  }, opts.statusEvery * 1_000);
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  clearInterval(status);
  say(`\nstopping…`);
  await system.stop();
  say(`stopped cleanly.`);
}

function describe(e: LifecycleEvent): string {
  switch (e.type) {
    case "started":
      return `started   ${e.path} (${e.placement})`;
    case "stopped":
      return `stopped   ${e.path} (${e.reason})`;
    case "failed":
      return `failed    ${e.path}: ${e.reason}`;
    case "restarted":
      return `restarted ${e.path} (restart #${e.restarts}, after ${e.delayMs} ms)`;
    case "escalated":
      return `escalated ${e.path}: ${e.reason}`;
  }
}

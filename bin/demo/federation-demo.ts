/** `fedrouter demo`: the federation of cluster.config.ts on this machine, narrated. */
import { ConfigError } from "../cluster/config.ts";
import { startFederation } from "../cluster/federation.ts";

const say = (line: string) => process.stdout.write(`${line}\n`);

export async function runFederationDemo(opts: { config: string; once: boolean }): Promise<number> {
  let federation;
  try {
    federation = await startFederation({ config: opts.config, print: say });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`fedrouter demo: invalid cluster config ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const { cluster } = federation;
  say(`fedrouter demo — federation "${cluster.name}": ${cluster.hospitals.length} hospitals, each its own process, mutual TLS between them`);
  const outcome = await Promise.race([federation.ready.then(() => undefined), federation.done]);
  if (outcome !== undefined) {
    say(`[federation] stopped before every hospital was up: ${outcome.reason}`);
    return 1;
  }
  say("");
  say("every hospital is up:");
  for (const h of cluster.hospitals) {
    say(`  ${h.id.padEnd(12)} ${h.region.padEnd(11)} transport ${h.address}  admin ${h.admin}  actors: ${h.actors.map((a) => `${a.name} (${a.placement})`).join(", ") || "none"}`);
  }
  if (opts.once) {
    await federation.stop();
    say("stopped cleanly.");
    return 0;
  }
  say("");
  say("Try, in another terminal:");
  say(`  npx fedrouter repl --hospital ${cluster.hospitals[0]!.id}            # the operator REPL: .tree, .ask node/visits {"type":"visit"}, .events`);
  say(`  printf '.tree\\n' | npx fedrouter repl --hospital ${cluster.hospitals.at(-1)!.id}   # scripted`);
  const first = cluster.hospitals.find((h) => h.actors.some((a) => a.name === "accountant"));
  if (first !== undefined) {
    say(`  printf '.ask node/accountant {"type":"reserve","key":"q1","user":"dr-lee","department":"radiology","event":{"kind":"gnmax","sigma":40}}\\n' | npx fedrouter repl --hospital ${first.id}`);
    say(`  printf '.ask node/accountant {"type":"budget","user":"dr-lee","department":"radiology"}\\n' | npx fedrouter repl --hospital ${first.id}   # the charge, composed`);
    say(`  npx fedrouter audit verify --data-dir .data/${first.id}   # the privacy audit trail, verified (also while it runs)`);
  }
  say("Ctrl-C stops the federation (each hospital stops its actors in reverse order and closes LMDB).");
  const stop = new Promise<{ reason: string }>((resolve) => {
    const handler = () => resolve({ reason: "interrupted" });
    process.once("SIGINT", handler);
    process.once("SIGTERM", handler);
  });
  const ended = await Promise.race([stop, federation.done]);
  await federation.stop();
  say(`[federation] stopped (${ended.reason}).`);
  return ended.reason === "interrupted" ? 0 : 1;
}

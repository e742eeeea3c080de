/** `fedrouter demo`: the federation of cluster.config.ts on this machine, narrated. */
import { existsSync, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { dirname } from "node:path";
import { addUser } from "../../actors/router/http/index.ts";
import { ConfigError, configPath, loadCluster } from "../../cluster/index.ts";
import { startFederation } from "./federation.ts";

/** Demo users, written to the HTTP user store only when it does not exist (dev passwords, printed). */
export const DEMO_USERS = [
  { id: "dr-lee", role: "doctor", department: "radiology", password: "lee-demo-pass" },
  { id: "nurse-kim", role: "nurse", department: "emergency", password: "kim-demo-pass" },
  { id: "res-ali", role: "researcher", department: "research", password: "ali-demo-pass" },
  { id: "admin", role: "admin", department: "general", password: "admin-demo-pass" },
] as const;

const say = (line: string) => process.stdout.write(`${line}\n`);

/** The host:port addresses something already accepts connections on (each tried for 500 ms at most). */
export async function listening(addresses: readonly string[]): Promise<string[]> {
  const open = await Promise.all(addresses.map((address) => new Promise<boolean>((resolve) => {
    const at = address.lastIndexOf(":");
    const socket = connect({ host: address.slice(0, at), port: Number(address.slice(at + 1)) });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  })));
  return addresses.filter((_, i) => open[i]);
}

export async function runFederationDemo(opts: { config: string; once: boolean }): Promise<number> {
  let federation;
  try {
    const config = await loadCluster(opts.config);
    // A federation already running on these ports would make every hospital retry a busy port
    // until its supervisor gave up: say so at once instead.
    const busy = await listening([...config.hospitals.flatMap((h) => [h.address, h.admin]), ...(config.http ? [config.http.listen] : [])]);
    if (busy.length > 0) {
      process.stderr.write(`fedrouter demo: ${busy.join(", ")} ${busy.length === 1 ? "is" : "are"} already in use: a federation (another \`npm start\`) is probably running on these ports; stop it (Ctrl-C in its terminal) or change the addresses in ${opts.config}\n`);
      return 1;
    }
    if (config.http !== undefined && !existsSync(configPath(config, config.http.users))) {
      mkdirSync(dirname(configPath(config, config.http.users)), { recursive: true });
      for (const user of DEMO_USERS) await addUser(configPath(config, config.http.users), user);
      say(`[federation] created demo users in ${config.http.users}: ${DEMO_USERS.map((u) => `${u.id} (${u.role}, ${u.department})`).join(", ")}`);
    }
    federation = await startFederation({ config: opts.config, print: say, train: true });
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
    say(`  printf '.ask node/accountant {"type":"setBudget","scope":"department","name":"radiology","epsilon":12}\\n' | npx fedrouter repl --hospital ${first.id}   # as the operator: audited`);
    say(`  printf '.ask node/accountant {"type":"budget","user":"dr-lee","department":"radiology"}\\n' | npx fedrouter repl --hospital ${first.id}   # the charge, composed`);
    say(`  npx fedrouter audit verify --data-dir .data/${first.id}   # the privacy audit trail, verified (also while it runs)`);
  }
  if (cluster.http !== undefined) {
    const base = `http://${cluster.http.listen}`;
    say("");
    say(`The HTTP API (hospital ${cluster.http.hospital}) on ${base}:`);
    say(`  TOKEN=$(curl -s ${base}/v1/auth/token -H 'content-type: application/json' -d '{"username":"dr-lee","password":"lee-demo-pass"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')`);
    say(`  curl -s ${base}/v1/inference -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"prompt":"The patient was","max_tokens":4,"require_consensus":true,"department":"radiology"}'`);
    say(`  curl -s ${base}/v1/privacy/budget/dr-lee -H "authorization: Bearer $TOKEN"     # the budget, gone down by the answer's ε`);
    say(`  curl -s ${base}/v1/chat/completions -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"model":"fedrouter","messages":[{"role":"user","content":"Hello"}],"max_tokens":8}'`);
    say(`  curl -s ${base}/metrics | head     # Prometheus; and ${base}/health/ready`);
    say(`  demo users: ${DEMO_USERS.map((u) => `${u.id}/${u.password}`).join(", ")} (development only)`);
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

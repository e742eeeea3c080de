/**
 * `npm run demo:client`: a scripted session against the federation's HTTP API, narrated — a
 * fresh demo user, consensus queries with the budget going down by each answer's ε, a 429 at
 * exhaustion with nothing charged, a free single-model answer, and the audit trail verified.
 * Uses the running federation (`npm start`) if its API answers; otherwise starts one from the
 * cluster config for the session and stops it after.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { addUser } from "../../actors/router/http/index.ts";
import { ConfigError, configPath, hospitalFiles, loadCluster, type ClusterConfig } from "../../cluster/index.ts";
import { startFederation, type RunningFederation } from "./federation.ts";

const CLI = fileURLToPath(new URL("../fedrouter.ts", import.meta.url));
const say = (line = "") => process.stdout.write(`${line}\n`);
/** Lines of the federation's own output kept to explain a start that fails. */
const RECENT_LINES = 20;

export async function runDemoClient(opts: { config: string }): Promise<number> {
  let cluster: ClusterConfig;
  try {
    cluster = await loadCluster(opts.config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`fedrouter demo-client: invalid cluster config ${error.message}\n`);
    return 2;
  }
  if (cluster.http === undefined) {
    process.stderr.write(`fedrouter demo-client: ${cluster.file} has no http block: no HTTP API to talk to\n`);
    return 2;
  }
  const base = `http://${cluster.http.listen}`;
  let federation: RunningFederation | undefined;
  if (!(await answers(base))) {
    say(`no API on ${base}: starting the federation of ${cluster.file} for this session…`);
    // The federation's own lines stay quiet, but the last few are kept: should it stop before it is
    // up, they say why (a busy port, a bad certificate), where the reason alone says only who gave up.
    const recent: string[] = [];
    federation = await startFederation({
      config: opts.config,
      print: (line) => {
        recent.push(line);
        if (recent.length > RECENT_LINES) recent.shift();
      },
    });
    const stopped = await Promise.race([federation.ready.then(() => undefined), federation.done]);
    if (stopped !== undefined) {
      process.stderr.write(`fedrouter demo-client: the federation stopped before it was up: ${stopped.reason}; its last lines:\n${recent.map((line) => `  ${line}`).join("\n")}\n`);
      return 1;
    }
    for (let i = 0; i < 120 && !(await answers(base)); i++) await new Promise((r) => setTimeout(r, 500));
  }
  try {
    return await session(base, configPath(cluster, cluster.http.users), hospitalFiles(cluster, cluster.hospitals.find((h) => h.id === cluster.http!.hospital)!).dataDir);
  } finally {
    await federation?.stop();
  }
}

async function answers(base: string): Promise<boolean> {
  return fetch(`${base}/health/live`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
}

async function session(base: string, usersFile: string, dataDir: string): Promise<number> {
  const user = `dr-demo-${randomBytes(3).toString("hex")}`;
  const password = randomBytes(12).toString("base64url");
  mkdirSync(dirname(usersFile), { recursive: true });
  await addUser(usersFile, { id: user, role: "doctor", department: "radiology", password });
  say(`1. a new user for this session: ${user} (doctor, radiology), added to ${usersFile}`);
  const { token } = (await (await fetch(`${base}/v1/auth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: user, password }) })).json()) as { token: string };
  const call = async (path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const budget = async () => {
    const b = (await call(`/v1/privacy/budget/${user}?department=radiology`)).body;
    return `user ε ${b.consumed.toFixed(3)} spent of ${b.total_budget} (${b.remaining.toFixed(3)} left)` +
      (b.department ? `, radiology ε ${b.department.consumed.toFixed(3)} of ${b.department.total_budget}` : "");
  };
  say(`   budget: ${await budget()}`);
  say();
  say("2. consensus questions (DP ensemble decoding across the hospitals, 2 tokens each). Each answer's ε is its");
  say("   own cost; the budget composes them all (tight accounting: the total grows by less than the sum):");
  say("   (what is left is the budget endpoint's tight PLD figure; an answer's own remaining_budget is the Accountant's fast RDP bound, never above it but looser, so it may differ)");
  let refused = false;
  for (let q = 1; q <= 8 && !refused; q++) {
    const { status, body } = await call("/v1/inference", { prompt: `Question ${q}: the patient`, max_tokens: 2, require_consensus: true, department: "radiology" });
    if (status === 200) {
      say(`   q${q}: ${JSON.stringify(body.response)} — ε ${body.privacy_cost.toFixed(3)}, confidence ${body.confidence_score.toFixed(2)}`);
      say(`       budget: ${await budget()}`);
    } else if (status === 429) {
      refused = true;
      say(`   q${q}: 429 ${body.error.type}: ${body.error.message}`);
      say(`       budget: ${await budget()}   (unchanged: a refusal charges nothing and generates nothing)`);
    } else {
      say(`   q${q}: ${status} ${JSON.stringify(body.error ?? body)}`);
      return 1;
    }
  }
  say();
  const single = await call("/v1/inference", { prompt: "A single model's answer", max_tokens: 6, department: "radiology" });
  say(`3. a single model's answer (hospital ${single.body.node_id}): ${JSON.stringify(single.body.response)} — ε ${single.body.privacy_cost} (post-processing of a released model)`);
  say();
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", CLI, "audit", "verify", "--data-dir", dataDir], { timeout: 60_000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? String(e) }));
  say(`4. the audit trail, verified: ${stdout.trim()}`);
  return refused ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--config");
  process.exitCode = await runDemoClient({ config: at > 0 ? process.argv[at + 1]! : join(process.cwd(), "cluster.config.ts") });
}

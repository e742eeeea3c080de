/**
 * `fedrouter demo --reset` (`npm run demo:reset`): the demo's state wiped, so that the next
 * `npm start` begins as a fresh clone does, with every budget full. The demo's state is what its
 * runs accumulate: each hospital's LMDB directory (budgets, ledger, audit trail, kept answers,
 * actor state), the HTTP user store (the users `npm run demo:client` adds each run; the four demo
 * users are written again at the next start) and the single-node demo's directory
 * (`demo --local`). Kept: keys/ (certificates, the token secret) and models/, which cost time to
 * make and hold nothing of the demo's runs.
 *
 * Never removes state under a running federation (its ports answer: refused, nothing removed),
 * and never a path outside the config's folder (a config whose dataDir points elsewhere is
 * refused for that path, with the path named).
 */
import { existsSync, rmSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { ConfigError, configPath, hospitalFiles, loadCluster } from "../../cluster/index.ts";
import { listening } from "./federation-demo.ts";

export interface ResetOptions {
  readonly config: string;
  /** The single-node demo's directory (`demo --local --data-dir`, default .data/demo). */
  readonly dataDir: string;
}

/** Exit code: 0 wiped (or nothing to wipe), 1 refused (a federation runs, a path outside), 2 a bad config. */
export async function resetDemo(opts: ResetOptions, io: { out: (line: string) => void; err: (line: string) => void }): Promise<number> {
  let cluster;
  try {
    cluster = await loadCluster(opts.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`fedrouter demo --reset: invalid cluster config ${error.message}`);
      return 2;
    }
    throw error;
  }
  const busy = await listening([...cluster.hospitals.flatMap((h) => [h.address, h.admin]), ...(cluster.http ? [cluster.http.listen] : [])]);
  if (busy.length > 0) {
    io.err(`fedrouter demo --reset: ${busy.join(", ")} ${busy.length === 1 ? "is" : "are"} in use: the federation is probably running; stop it first (Ctrl-C in its terminal), nothing was removed`);
    return 1;
  }
  // The config's paths are resolved against its folder, the single-node demo's against the current one.
  const home = dirname(cluster.file);
  const state: { path: string; what: string; within: string }[] = [
    ...cluster.hospitals.map((h) => ({ path: hospitalFiles(cluster, h).dataDir, what: `${h.id}'s budgets, ledger, audit trail and kept answers`, within: home })),
    ...(cluster.http ? [{ path: configPath(cluster, cluster.http.users), what: "the HTTP users (the demo users come back at the next start)", within: home }] : []),
    { path: resolve(opts.dataDir), what: "the single-node demo's state", within: process.cwd() },
  ];
  const outside = state.filter((s) => !inside(s.within, s.path));
  if (outside.length > 0) {
    io.err(`fedrouter demo --reset: ${outside.map((s) => `${s.path} is outside ${s.within}`).join("; ")} (${outside[0]!.within === home ? "the config's folder" : "the current folder"}); ` +
      "remove what is demo state there by hand. Nothing was removed");
    return 1;
  }
  const removed = state.filter((s) => existsSync(s.path));
  for (const s of removed) rmSync(s.path, { recursive: true, force: true });
  const shown = (path: string) => relative(process.cwd(), path) || path;
  io.out(removed.length === 0
    ? "fedrouter demo --reset: nothing to remove: the demo has no state yet"
    : `fedrouter demo --reset: removed ${removed.map((s) => `${shown(s.path)} (${s.what})`).join(", ")}`);
  io.out("kept keys/ and models/; the next `npm start` begins with every budget full");
  return 0;
}

/** `path` is strictly inside `folder`. */
function inside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel !== "" && !isAbsolute(rel) && rel.split(sep)[0] !== "..";
}

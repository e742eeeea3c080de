/**
 * `fedrouter keys ckks`: the CKKS key ceremony for `train --live --protection ckks`. A trusted
 * dealer on this machine deals a t-of-n key and writes the public bundle, one key share per
 * hospital and its Ed25519 signing key (0600) and federation.json; then, in a deployment, each
 * hospital's files are moved to its machine and deleted here. The trainers' config entries name
 * the files: `ckks: { bundle, share, signing }`.
 */
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { configPath, ConfigError, loadCluster } from "../../cluster/index.ts";
import { FedrouterError } from "../../errors/index.ts";
import { ckks } from "../../secagg/index.ts";
import type { Io } from "./train-command.ts";

/** Exit code: 0 written, 2 a bad config or argument. */
export async function runKeysCkks(opts: { config: string; out: string; hospitals?: string; threshold?: string; force?: boolean }, io: Io): Promise<number> {
  let cluster;
  try {
    cluster = await loadCluster(opts.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`fedrouter keys ckks: invalid cluster config ${error.message}`);
      return 2;
    }
    throw error;
  }
  const known = new Set(cluster.hospitals.map((h) => h.id));
  const hospitals = opts.hospitals !== undefined
    ? opts.hospitals.split(",").map((h) => h.trim()).filter((h) => h !== "")
    : cluster.hospitals.filter((h) => h.actors.some((a) => a.name === "trainer")).map((h) => h.id);
  const unknown = hospitals.filter((h) => !known.has(h));
  if (unknown.length > 0) {
    io.err(`fedrouter keys ckks: --hospitals names ${unknown.join(", ")}, not in ${opts.config} (${[...known].join(", ")})`);
    return 2;
  }
  if (hospitals.length < 2) {
    io.err(`fedrouter keys ckks: ${hospitals.length} hospital(s) to share the key among; a CKKS federation needs at least 2 (name them with --hospitals, or give them a trainer)`);
    return 2;
  }
  const threshold = opts.threshold === undefined ? Math.floor(hospitals.length / 2) + 1 : Number(opts.threshold);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > hospitals.length) {
    io.err(`fedrouter keys ckks: --threshold ${opts.threshold} must be a whole number from 1 to ${hospitals.length} (the hospitals sharing the key)`);
    return 2;
  }
  const dir = configPath(cluster, opts.out);
  // Before dealing: a new ceremony over an old one would leave every hospital holding a share of a
  // key that no longer exists, so it is never replaced without --force.
  if (existsSync(join(dir, "federation.bundle")) && opts.force !== true) {
    io.err(`fedrouter keys ckks: ${dir} already holds a key ceremony (federation.bundle); --force deals a new key there, and every hospital must then get its new share`);
    return 2;
  }
  try {
    io.out(`[keys] dealing a ${threshold}-of-${hospitals.length} CKKS key for ${hospitals.join(", ")}…`);
    const written = await ckks.writeKeyCeremony(dir, hospitals, threshold);
    const show = (path: string) => relative(process.cwd(), path) || path;
    io.out(`[keys] public bundle ${show(written.bundle)} (key ${written.keyId.slice(0, 16)}…): the coordinator and every trainer read it`);
    for (const [hospital, s] of Object.entries(written.shares)) io.out(`[keys]   ${hospital}: key share ${s.index} in ${show(s.file)}, signing key in ${show(s.signing)} (both 0600)`);
    io.out(`[keys] a trusted dealer made these on this machine and held the secret key while it dealt. In a deployment, move each hospital's two files to its machine and delete them here. Each trainer's config entry: ckks: { bundle, share, signing }.`);
    return 0;
  } catch (error) {
    if (error instanceof FedrouterError) {
      io.err(`fedrouter keys ckks: ${error.code}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

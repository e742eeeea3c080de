/**
 * Putting a finished training job's model in service on one hospital: the trained values of the
 * trainable part are written over the hospital's model directory, the weights they replace kept
 * in `previous/` (an operator's way back: move its files over the directory's).
 *
 * The swap is ordered so that a crash at any point leaves a model that loads:
 *   1. the new directory is written whole to `.install-<job>/` beside the files it replaces
 *      (applyUpdateAndSave: refused before anything is written when the values do not fit), and
 *      its model file synced;
 *   2. the files in service are hard-linked into `previous/` (built as `.previous-next/`, then
 *      renamed over the old `previous/`);
 *   3. `model.safetensors` is renamed over the one in service: one rename, so a reader sees the
 *      old file or the new one, never a mix;
 *   4. then its `fedrouter_training.json`, and the staging directory is removed.
 * A crash between 3 and 4 leaves new weights beside the old metadata: `recoverInstall` (the
 * trainer runs it before loading) finishes the move when the staging directory no longer holds a
 * model file, and otherwise (the crash came before 3) removes the staging directory.
 */
import { link, copyFile, mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { FedrouterError, registerErrors } from "../../../errors/index.ts";
import { applyUpdateAndSave, type TrainingMetadata } from "../training/checkpoint.ts";
import type { TrainableSpec } from "../training/trainable.ts";

/** An install this hospital will not do: not accepted from a coordinator, a model that does not fit, chunks out of order. */
export class InstallRefused extends FedrouterError {
  readonly code = "INSTALL_REFUSED";
  constructor(readonly job: string, readonly reason: string) {
    super(`install of job ${job}'s model refused: ${reason}`);
  }
}

registerErrors({
  INSTALL_REFUSED: (f) => new InstallRefused(f.string("job"), f.string("reason")),
});

const STAGING_PREFIX = ".install-";
const PREVIOUS = "previous";
const PREVIOUS_NEXT = ".previous-next";
/** The files an install replaces (the rest — config, tokenizer — are the same shape's, left as they are). */
const REPLACED = ["model.safetensors", "fedrouter_training.json"] as const;

/**
 * Writes `trained` (the trainable part's values, spec order) over the model in `modelDir`, whose
 * trainable part is `baseFlat` now; `metadata` becomes its fedrouter_training.json.
 * @returns the directory holding the replaced files.
 */
export async function installTrained(modelDir: string, spec: TrainableSpec, baseFlat: Float32Array, trained: Float32Array, job: string, metadata: TrainingMetadata): Promise<{ previous: string }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(job)) throw new InstallRefused(String(job), "a job id is [A-Za-z0-9._-], at most 128 characters");
  if (trained.length !== spec.size || baseFlat.length !== spec.size) throw new InstallRefused(job, `a model of ${trained.length} values: this hospital's trainable part has ${spec.size}`);
  const delta = new Float32Array(spec.size);
  for (let i = 0; i < delta.length; i++) delta[i] = trained[i]! - baseFlat[i]!;
  await recoverInstall(modelDir);
  const staging = join(modelDir, `${STAGING_PREFIX}${job}`);
  await rm(staging, { recursive: true, force: true });
  try {
    await applyUpdateAndSave(modelDir, spec, delta, staging, metadata, { force: true });
    for (const name of REPLACED) await syncFile(join(staging, name));
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }

  const previousNext = join(modelDir, PREVIOUS_NEXT);
  await rm(previousNext, { recursive: true, force: true });
  await mkdir(previousNext);
  for (const name of await readdir(modelDir)) {
    if (name.startsWith(".") || name === PREVIOUS || !(await stat(join(modelDir, name))).isFile()) continue;
    // A hard link keeps the old bytes without copying half a gigabyte; a copy where links are not allowed.
    await link(join(modelDir, name), join(previousNext, name)).catch(() => copyFile(join(modelDir, name), join(previousNext, name)));
  }
  await rm(join(modelDir, PREVIOUS), { recursive: true, force: true });
  await rename(previousNext, join(modelDir, PREVIOUS));

  await rename(join(staging, "model.safetensors"), join(modelDir, "model.safetensors"));
  await finish(modelDir, staging);
  return { previous: join(modelDir, PREVIOUS) };
}

/**
 * Finishes or undoes an install a crash interrupted (see the module comment); none left: nothing.
 * @returns what it found: "none", "finished" (the new weights were in service already) or "undone".
 */
export async function recoverInstall(modelDir: string): Promise<"none" | "finished" | "undone"> {
  let outcome: "none" | "finished" | "undone" = "none";
  for (const name of await readdir(modelDir)) {
    if (name === PREVIOUS_NEXT) await rm(join(modelDir, name), { recursive: true, force: true });
    if (!name.startsWith(STAGING_PREFIX)) continue;
    const staging = join(modelDir, name);
    if ((await readdir(staging)).includes("model.safetensors")) {
      await rm(staging, { recursive: true, force: true });
      outcome = "undone";
    } else {
      await finish(modelDir, staging);
      outcome = "finished";
    }
  }
  return outcome;
}

/** Step 4: the metadata beside the weights now in service, then the staging directory gone, synced. */
async function finish(modelDir: string, staging: string): Promise<void> {
  const metadata = join(staging, "fedrouter_training.json");
  if (await stat(metadata).then(() => true, () => false)) await rename(metadata, join(modelDir, "fedrouter_training.json"));
  await rm(staging, { recursive: true, force: true });
  await syncFile(modelDir);
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The local user store for the built-in token issuer: a JSON file of users, each with a role, a
 * department and an scrypt hash of their password under a per-user salt. Never stores or logs a
 * password, and compares hashes in constant time (an unknown user costs the same scrypt).
 *
 *   await addUser("users.json", { id: "dr-smith", role: "doctor", department: "cardiology", password });
 *   const user = await new UserStore("users.json").verify("dr-smith", password); // null when wrong
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { lock } from "proper-lockfile";
import { dirname } from "node:path";
import { z } from "zod";
import { MAX_ID_CHARS } from "../../accountant/protocol.ts";
import { FedrouterError, registerErrors } from "../../../errors/index.ts";
import { ROLES, type Role } from "./service.ts";

/** scrypt cost (RFC 7914 §2: N = 2^14, r = 8, p = 1 is the interactive-login figure); 16 MiB, ~50 ms. */
export const DEFAULT_SCRYPT = Object.freeze({ N: 16_384, r: 8, p: 1, keyLength: 32, saltBytes: 16 });
export const MIN_PASSWORD_CHARS = 8;
const MAX_PASSWORD_CHARS = 1_024;

/**
 * The longest user id: a token's subject, a local user, the `:user_id` of /v1/privacy/budget (and
 * so fastify's path parameter limit). The Accountant's id bound, so every user it may be asked
 * to charge fits its ledger and trail.
 */
export const MAX_USER_ID_CHARS = MAX_ID_CHARS;
export const userId = z.string().regex(new RegExp(`^[A-Za-z0-9._@-]{1,${MAX_USER_ID_CHARS}}$`), `must be 1..${MAX_USER_ID_CHARS} characters of letters, digits and . _ @ -`);
export const department = z.string().regex(/^[a-z0-9_-]{1,64}$/, "must be 1..64 characters of lowercase letters, digits, _ and -");

const storedUser = z.strictObject({
  role: z.enum(ROLES),
  department,
  salt: z.base64(),
  hash: z.base64(),
  scrypt: z.strictObject({ N: z.number().int().min(2), r: z.number().int().min(1), p: z.number().int().min(1), keyLength: z.number().int().min(16).max(128) }),
});
const storeFile = z.strictObject({ version: z.literal(1), users: z.record(userId, storedUser) });
type StoreFile = z.infer<typeof storeFile>;

export interface User {
  readonly id: string;
  readonly role: Role;
  readonly department: string;
}

/** A user file that cannot be read or a user that cannot be added; `field` names what is wrong. */
export class UserStoreError extends FedrouterError {
  readonly code = "USER_STORE";
  constructor(readonly file: string, readonly field: string, readonly reason: string) {
    super(`${file}: ${field === "" ? "" : `${field}: `}${reason}`);
  }
}

registerErrors({ USER_STORE: (f) => new UserStoreError(f.string("file"), f.string("field"), f.string("reason")) });

function scrypt(password: string, salt: Buffer, params: { N: number; r: number; p: number; keyLength: number }): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => scryptCallback(password.normalize("NFC"), salt, params.keyLength, options, (error, key) => (error ? reject(error) : resolve(key))));
}

async function readStore(file: string, missingIsEmpty: boolean): Promise<StoreFile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT" && missingIsEmpty) return { version: 1, users: {} };
    throw new UserStoreError(file, "", `cannot read the user file (${(error as { code?: string }).code ?? String(error)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserStoreError(file, "", "is not JSON; it should be a file written by `fedrouter users add`");
  }
  const parsed = storeFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserStoreError(file, issue.path.map(String).join("."), issue.message);
  }
  return parsed.data;
}

/**
 * Adds a user to `file` (created, mode 0600, when absent) or, with `replace`, changes one.
 * Read, changed and written under a lock (`<file>.lock`, proper-lockfile: a directory made
 * atomically, stale after 10 s when its holder died), so adds that run at the same time — in one
 * process or several — each see the others' users instead of writing over them. Written to a
 * temporary file, synced, renamed, and the directory synced, so a crash or a power cut leaves the
 * old file or the new one, and an add that returned is on disk.
 */
export async function addUser(file: string, user: User & { readonly password: string }, options: { readonly replace?: boolean } = {}): Promise<void> {
  const id = userId.safeParse(user.id);
  if (!id.success) throw new UserStoreError(file, "user", `"${user.id.slice(0, 40)}" ${id.error.issues[0]!.message}`);
  if (!(ROLES as readonly string[]).includes(user.role)) throw new UserStoreError(file, "role", `"${String(user.role).slice(0, 40)}" is not a role; expected one of ${ROLES.join(", ")}`);
  const dept = department.safeParse(user.department);
  if (!dept.success) throw new UserStoreError(file, "department", `"${user.department.slice(0, 40)}" ${dept.error.issues[0]!.message}`);
  if (user.password.length < MIN_PASSWORD_CHARS || user.password.length > MAX_PASSWORD_CHARS) {
    throw new UserStoreError(file, "password", `must be ${MIN_PASSWORD_CHARS}..${MAX_PASSWORD_CHARS} characters (got ${user.password.length})`);
  }
  // Hashed before the lock is taken: scrypt is the slow part, and it needs nothing from the file.
  const salt = randomBytes(DEFAULT_SCRYPT.saltBytes);
  const params = { N: DEFAULT_SCRYPT.N, r: DEFAULT_SCRYPT.r, p: DEFAULT_SCRYPT.p, keyLength: DEFAULT_SCRYPT.keyLength };
  const hash = await scrypt(user.password, salt, params);
  const release = await lockUserFile(file).catch((error: unknown) => {
    throw new UserStoreError(file, "", `cannot write the user file (${writeFailure(file, error)}${(error as { code?: string }).code === "ELOCKED" ? `: another add holds ${file}.lock; try again` : ""})`);
  });
  try {
    const store = await readStore(file, true);
    if (Object.hasOwn(store.users, user.id) && options.replace !== true) {
      throw new UserStoreError(file, "user", `"${user.id}" exists already; pass --replace to change it`);
    }
    const users = { ...store.users, [user.id]: { role: user.role, department: user.department, salt: salt.toString("base64"), hash: hash.toString("base64"), scrypt: params } };
    await writeDurably(file, `${JSON.stringify({ version: 1, users }, null, 2)}\n`);
  } finally {
    await release().catch(() => undefined); // a lock already gone (removed as stale) is nobody's to release
  }
}

/**
 * Takes `<file>.lock`, waiting while another add holds it (up to ~30 s, past its 10 s staleness).
 * Only ELOCKED is waited on: proper-lockfile's own retries would retry a missing directory too.
 */
async function lockUserFile(file: string): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await lock(file, { realpath: false, stale: 10_000 });
    } catch (error) {
      if ((error as { code?: string }).code !== "ELOCKED" || attempt >= 200) throw error;
      await delay(Math.min(200, 5 * 1.1 ** attempt));
    }
  }
}

/** Writes `text` to a temporary file (0600), syncs it, renames it over `file` and syncs the directory. */
async function writeDurably(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    const handle = await open(temporary, "w", 0o600);
    try {
      await handle.writeFile(text);
      await handle.chmod(0o600);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    // A half-written copy holds password hashes: not left behind. unlink takes no directory, so one in the way stays.
    await unlink(temporary).catch(() => undefined);
    throw new UserStoreError(file, "", `cannot write the user file (${writeFailure(file, error)})`);
  }
  // The rename is durable once the directory is: without this a power cut could bring back the old file.
  const directory = await open(dirname(file), "r").catch(() => undefined);
  await directory?.sync().catch(() => undefined);
  await directory?.close();
}

function writeFailure(file: string, error: unknown): string {
  const code = (error as { code?: string }).code ?? String(error);
  return code === "ENOENT" ? `ENOENT: its directory ${dirname(file)} does not exist; create it first` : code;
}

/** Reads the file at each login, so a user added while the server runs can log in at once. */
export class UserStore {
  // A hash of nothing, to spend the same scrypt on an unknown user as on a known one.
  private readonly decoy = { salt: randomBytes(DEFAULT_SCRYPT.saltBytes), params: { N: DEFAULT_SCRYPT.N, r: DEFAULT_SCRYPT.r, p: DEFAULT_SCRYPT.p, keyLength: DEFAULT_SCRYPT.keyLength } };

  constructor(readonly file: string) {}

  /** The user when `password` is theirs; null for an unknown user or a wrong password (indistinguishably). */
  async verify(id: string, password: string): Promise<User | null> {
    const store = await readStore(this.file, false);
    const entry = Object.hasOwn(store.users, id) ? store.users[id] : undefined;
    if (entry === undefined || password.length > MAX_PASSWORD_CHARS) {
      await scrypt(password.slice(0, MAX_PASSWORD_CHARS), this.decoy.salt, this.decoy.params);
      return null;
    }
    const expected = Buffer.from(entry.hash, "base64");
    const actual = await scrypt(password, Buffer.from(entry.salt, "base64"), entry.scrypt);
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return null;
    return { id, role: entry.role, department: entry.department };
  }
}

/**
 * `fedrouter users add`: puts a user (role, department, scrypt-hashed password) into the local
 * user store behind `POST /v1/auth/token`. The department must be one of the cluster config's
 * (privacy.departments): a user of any other would have no budget to be charged to. The password
 * comes from standard input (`--password-stdin`) or a prompt that does not echo it; it is never
 * printed, logged or passed on a command line.
 */
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { addUser, UserStoreError } from "../../actors/router/http/users.ts";
import type { Role } from "../../actors/router/http/service.ts";
import { ConfigError, loadCluster } from "../../cluster/index.ts";

export interface UsersAddOptions {
  /** The cluster config whose privacy.departments the department must be one of. */
  readonly config: string;
  readonly file: string;
  readonly user: string;
  readonly role: string;
  readonly department: string;
  readonly passwordStdin: boolean;
  readonly replace: boolean;
}

/** Exit code: 0 added, 2 refused (the message on stderr names the option). */
export async function runUsersAdd(options: UsersAddOptions, io: { stdin: NodeJS.ReadStream; stderr: NodeJS.WriteStream; stdout: NodeJS.WriteStream } = process): Promise<number> {
  // Before the password is asked for: a department without a budget is refused at once.
  let departments: string[];
  try {
    departments = Object.keys((await loadCluster(options.config)).privacy.departments);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr.write(`fedrouter users add: --config: cannot check --department against the cluster config: ${error.message.trimEnd()}\n`);
    return 2;
  }
  if (!departments.includes(options.department)) {
    io.stderr.write(`fedrouter users add: --department: "${options.department}" has no privacy budget in ${options.config} (privacy.departments: ${departments.join(", ")}); ` +
      "use one of them, or add it to the config first\n");
    return 2;
  }
  let password: string;
  if (options.passwordStdin) {
    password = (await readAll(io.stdin)).replace(/\r?\n$/, "");
  } else if (io.stdin.isTTY === true) {
    password = await promptHidden(io, "password: ");
    const again = await promptHidden(io, "again: ");
    if (again !== password) {
      io.stderr.write("fedrouter users add: the two passwords differ; nothing was written\n");
      return 2;
    }
  } else {
    io.stderr.write("fedrouter users add: no password: pipe it in with --password-stdin, or run in a terminal to be asked\n");
    return 2;
  }
  try {
    await addUser(options.file, { id: options.user, role: options.role as Role, department: options.department, password }, { replace: options.replace });
  } catch (error) {
    if (!(error instanceof UserStoreError)) throw error;
    const option = { user: "--user", role: "--role", department: "--department", password: "the password" }[error.field] ?? error.field;
    io.stderr.write(`fedrouter users add: ${option === "" ? "" : `${option}: `}${error.reason} (${error.file})\n`);
    return 2;
  }
  io.stdout.write(`${options.replace ? "set" : "added"} user ${options.user} (${options.role}, ${options.department}) in ${options.file}\n`);
  return 0;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/** Asks on stderr with echo off: readline writes the typed characters to a sink that drops them. */
function promptHidden(io: { stdin: NodeJS.ReadStream; stderr: NodeJS.WriteStream }, question: string): Promise<string> {
  io.stderr.write(question);
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: io.stdin, output: silent, terminal: true });
  return new Promise((resolve) => {
    rl.question("", (answer) => {
      rl.close();
      io.stderr.write("\n");
      resolve(answer);
    });
  });
}

/**
 * The operator's REPL (node:repl) over a live node's Admin service. Commands run one after
 * another, in the order typed or piped, so `.events` is following before the next line runs;
 * event lines print whenever they arrive. A failure prints `error: CODE: message` and the
 * REPL goes on: nothing an operator types, and nothing the node answers, ends it.
 */
import repl, { type REPLServer } from "node:repl";
import type { RemoteSecurity } from "../../runtime/index.ts";
import { AdminClient, describeFailure, type Following } from "./admin-client.ts";
import { formatActor, formatActors, formatBreakers, formatDeadLetter, formatEvent, formatReply, formatTable, formatTree } from "./format.ts";
import { completePath, flattenTree, nodeOf, resolvePath } from "./paths.ts";

export interface ReplOptions {
  /** host:port of the node's Admin service. */
  address: string;
  security: RemoteSecurity;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** The node id: checked against the server certificate, and the base of short paths (default: learnt from the tree). */
  node?: string;
}

export const DEFAULT_REPL = {
  /** `.events` and `.deadletters` first replay this many recent items. */
  recentItems: 10,
  /** Completion refreshes the known paths when they are older than this. */
  pathsMaxAgeMs: 2_000,
  /** After the input ends and the last command finished: time for its events to arrive. */
  drainMs: 200,
} as const;

interface Command {
  usage: string;
  help: string;
  run(args: string): Promise<void>;
}

/**
 * @example
 * await runRepl({ address: "127.0.0.1:7443", security: readTlsFiles("keys/ca.crt", "keys/operator.crt", "keys/operator.key"),
 *   input: process.stdin, output: process.stdout });
 */
export async function runRepl(opts: ReplOptions): Promise<void> {
  const client = new AdminClient(opts.address, opts.security, opts.node !== undefined ? { node: opts.node } : {});
  const print = (text: string) => void opts.output.write(`${text}\n`);
  const fail = (error: unknown) => print(`error: ${describeFailure(error)}`);
  let node = opts.node;
  let paths: string[] = [];
  let pathsAtMs = 0;
  const streams = new Map<"events" | "dead letters", Following>();

  const refreshPaths = async () => {
    const root = await client.tree();
    node ??= nodeOf(root.path);
    paths = flattenTree(root).map(({ info }) => info.path);
    pathsAtMs = Date.now();
    return root;
  };
  const pathOf = (args: string) => resolvePath(args, node);
  const splitPathAndBody = (args: string) => {
    const match = /^(\S+)\s+([\s\S]+)$/.exec(args.trim());
    if (match === null) throw Object.assign(new Error(`expected <path> <json>, e.g. counter {"type":"get"}; got "${args.trim()}"`), { code: "INVALID_ARGUMENT" });
    return { path: pathOf(match[1]!), json: match[2]!.trim() };
  };
  const recentOf = (args: string) => {
    const recent = args.trim() === "" ? DEFAULT_REPL.recentItems : Number(args.trim());
    if (!Number.isInteger(recent) || recent < 0) throw Object.assign(new Error(`"${args.trim()}" is not a count of recent items`), { code: "INVALID_ARGUMENT" });
    return recent;
  };
  const follow = async (kind: "events" | "dead letters", open: () => Promise<Following>) => {
    if (streams.has(kind)) return print(`already following ${kind} (.stop ends it)`);
    print(`following ${kind} of ${node ?? opts.address} (.stop ends it)`);
    streams.set(kind, await open());
  };
  const ended = (kind: "events" | "dead letters") => (error?: unknown) => {
    streams.delete(kind);
    if (error !== undefined) fail(error);
    else print(`${kind} stream ended by the node`);
  };

  const commands: Record<string, Command> = {
    actors: { usage: ".actors", help: "every actor and supervisor, with status, restarts, mailbox depth", run: async () => print(formatActors(await refreshPaths(), node)) },
    tree: { usage: ".tree", help: "the supervision tree", run: async () => print(formatTree(await refreshPaths(), node)) },
    state: { usage: ".state <path>", help: "one actor: placement, status, restarts, mailbox depth, processed", run: async (args) => print(formatActor(await client.inspect(pathOf(args)), node)) },
    send: {
      usage: ".send <path> <json>", help: "tell: fire and forget (refs as {\"$ref\":\"fed://…\"})",
      run: async (args) => {
        const { path, json } = splitPathAndBody(args);
        await client.tell(path, json);
        print(`sent to ${path}`);
      },
    },
    ask: {
      usage: ".ask <path> <json>", help: "ask: the node adds replyTo and prints the reply",
      run: async (args) => {
        const { path, json } = splitPathAndBody(args);
        print(`reply: ${formatReply(await client.ask(path, json))}`);
      },
    },
    restart: {
      usage: ".restart <path>", help: "restart one actor (or subtree) under its supervisor",
      run: async (args) => {
        const path = pathOf(args);
        print(`restarted ${path} (restarts: ${await client.restart(path)})`);
      },
    },
    events: {
      usage: ".events [recent]", help: `follow lifecycle events, after the last few (default ${DEFAULT_REPL.recentItems})`,
      run: (args) => follow("events", () => client.events(recentOf(args), (e) => print(formatEvent(e, node)), ended("events"))),
    },
    deadletters: {
      usage: ".deadletters [recent]", help: "follow dead letters (reason and message type, never the body)",
      run: (args) => follow("dead letters", () => client.deadLetters(recentOf(args), (d) => print(formatDeadLetter(d, node)), ended("dead letters"))),
    },
    stop: {
      usage: ".stop", help: "stop following events and dead letters",
      run: async () => {
        if (streams.size === 0) return print("not following anything");
        for (const [kind, stream] of streams) {
          stream.cancel();
          print(`stopped following ${kind}`);
        }
        streams.clear();
      },
    },
    breakers: { usage: ".breakers", help: "circuit breakers: state, failure and slow-call rates", run: async () => print(formatBreakers(await client.breakers())) },
    breaker: {
      usage: ".breaker <target> open|closed|reset", help: "force a breaker open or closed, or reset it",
      run: async (args) => {
        const [target = "", state = ""] = args.trim().split(/\s+/);
        const b = await client.forceBreaker(target, state as "open");
        print(`breaker ${b.target} is ${b.state}`);
      },
    },
    help: {
      usage: ".help", help: "this list",
      run: async () => {
        print(formatTable(["command", "what it does"], [...Object.values(commands).map((c) => [c.usage, c.help]), [".exit", "leave (end of input does too)"]]));
        print(`paths: "counter" and "core/counter" are under the user guardian (fed://${node ?? "<node>"}/user/…); ` +
          `"user/…" is relative to the node; "fed://<node>/user/…" is a full path, any node. Tab completes paths.`);
      },
    },
  };

  // Commands run one at a time in order; each prints its own failure and never stops the queue.
  // The first task learns the node's name and paths, so short paths work from the first line.
  const terminal = (opts.input as { isTTY?: boolean }).isTTY === true;
  let server: REPLServer | undefined;
  let closed = false;
  let queue = refreshPaths().then(() => {
    if (terminal) print(`connected to ${node} at ${opts.address}; .help lists the commands`);
  }, fail);
  const unknownCommand = (word: string): Command => ({ usage: "", help: "", run: async () => print(`error: UNKNOWN_COMMAND: "${word.slice(0, 40)}" is not a command; .help lists them`) });
  const enqueue = (command: Command, args: string) => {
    // Lines that were already buffered behind `.exit` are not run.
    if (closed) return;
    queue = queue.then(() => command.run(args)).catch(fail).then(() => {
      if (!closed) server?.displayPrompt(true);
    });
  };

  server = repl.start({
    input: opts.input,
    output: opts.output,
    terminal,
    prompt: terminal ? "fed> " : "",
    ignoreUndefined: true,
    completer: (line: string, done: (error: Error | null, result: [string[], string]) => void) => {
      complete(line).then((result) => done(null, result), () => done(null, [[], line]));
    },
    eval: (line, _context, _file, done) => {
      // Commands may be typed without their dot too: `tree`, `ask counter {"type":"get"}`.
      const match = /^\s*(\S+)\s*([\s\S]*?)\s*$/.exec(line);
      const command = match === null ? undefined : commands[match[1]!];
      if (match === null) return done(null, undefined);
      if (match[1] === "exit") {
        closed = true;
        server?.close();
        return done(null, undefined);
      }
      enqueue(command ?? unknownCommand(match[1]!), match[2]!);
      done(null, undefined);
    },
  });
  // node:repl looks a dotted word up in `commands` and answers an unknown one with its own
  // "Invalid REPL keyword"; here it gets the same answer as an unknown word without the dot.
  const defined = server.commands as Record<string, unknown>;
  (server as { commands: unknown }).commands = new Proxy(defined, {
    get: (target, key) => target[key as string] ?? (typeof key === "string" ? { help: "", action: (args: string) => enqueue(unknownCommand(`.${key}`), args) } : undefined),
  });
  // The JavaScript-editing commands mean nothing here: every line is a command.
  for (const builtin of ["clear", "editor", "load", "save", "help"]) delete (server.commands as Record<string, unknown>)[builtin];
  for (const [name, command] of Object.entries(commands)) {
    server.defineCommand(name, { help: command.help, action: (args: string) => enqueue(command, args) });
  }
  // node:repl runs the lines already read behind `.exit` before it says "exit": skip them.
  server.defineCommand("exit", {
    help: "leave",
    action() {
      closed = true;
      this.close();
    },
  });

  async function complete(line: string): Promise<[string[], string]> {
    const word = /^\.?(\w*)$/.exec(line);
    if (word !== null) {
      const names = Object.keys(commands).map((name) => `.${name}`).concat(".exit");
      return [names.filter((name) => name.startsWith(line.startsWith(".") ? line : `.${line}`)), line];
    }
    const typing = /^\.?(?:state|send|ask|restart)\s+(\S*)$/.exec(line);
    if (typing === null) return [[], line];
    if (Date.now() - pathsAtMs > DEFAULT_REPL.pathsMaxAgeMs) await refreshPaths();
    const fragment = typing[1]!;
    return [completePath(fragment, paths, node), fragment];
  }

  await new Promise<void>((resolve) =>
    server.once("exit", () => {
      closed = true;
      resolve();
    }),
  );
  await queue;
  // Events caused by the last commands may still be on their way.
  if (streams.size > 0) await new Promise((resolve) => setTimeout(resolve, DEFAULT_REPL.drainMs));
  for (const stream of streams.values()) stream.cancel();
  streams.clear();
  client.close();
}

/**
 * The worker side of a dedicated actor thread: hosts cells, speaks frames with the main
 * thread over parentPort and exposes its control plane through comlink. It reports failures
 * and never decides about restarts: the supervisor in the main thread does.
 */
/// <reference path="../internal/comlink-node-adapter.d.ts" />
import { accessOf } from "../actor/access.ts";
import { codeOf } from "../actor/local-child.ts";
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import * as Comlink from "comlink";
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs";
import { ActorCell, describeError } from "../actor/cell.ts";
import type { DeadLetter } from "../events.ts";
import { Fabric } from "../internal/fabric.ts";
import { createLogger } from "../log.ts";
import { loadDefinition } from "./load-definition.ts";
import type { CellReport, SpawnRequest, WorkerControl, WorkerNotification } from "./notifications.ts";
import { PortChannel } from "./port-channel.ts";

export interface WorkerBootData {
  entry: string;
  node: string;
  tag: string;
  control: MessagePort;
  maxFrameBytes?: number;
  storePath?: string;
  statsIntervalMs: number;
}

const boot = workerData as WorkerBootData;
const port = parentPort!;
const log = createLogger({ node: boot.node, thread: boot.tag });
const store = boot.storePath !== undefined
  ? (await import("../persistence/index.ts")).openNodeStore({ path: boot.storePath })
  : undefined;
const fabric = new Fabric(boot.node, boot.tag, store);
const cells = new Map<string, ActorCell<unknown>>();
const notify = (n: WorkerNotification) => port.postMessage(n);

const channel = new PortChannel(port, {
  envelope: (env) => fabric.deliver(env),
  malformed: (error) => fabric.deadLetter({ to: `fed://${boot.node}/${boot.tag}`, msg: null }, "decode-error", error.message),
  unsendable: (env, error) => fabric.reject(env, "encode-error", error),
}, { resolveRef: (path) => fabric.ref(path), ...(boot.maxFrameBytes ? { maxFrameBytes: boot.maxFrameBytes } : {}) });
fabric.uplink = (env, transfer) => channel.post(env, transfer);

// Dead letters are batched to the main thread, where the node-wide stream lives.
let letters: DeadLetter[] = [];
fabric.deadLetters$.subscribe((letter) => {
  if (letters.length === 0) setTimeout(() => notify({ n: "dead-letters", letters: letters.splice(0) }), 20);
  if (letters.length < 1_000) letters.push(letter);
});

function report(): CellReport[] {
  return [...cells.values()].map((cell) => ({
    path: cell.path,
    status: cell.status,
    mailboxDepth: cell.mailbox.size,
    restarts: cell.restarts,
    ...cell.stats,
  }));
}

setInterval(() => notify({ n: "stats", cells: report() }), boot.statsIntervalMs).unref();

const control: WorkerControl = {
  async spawn(req: SpawnRequest) {
    const definition = await loadDefinition(req.moduleUrl, req.definitionId);
    const cell: ActorCell<unknown> = new ActorCell(fabric, req.path, req.mailbox, () => definition.create(req.args), {
      onFailure: (error) => notify({ n: "failed", path: req.path, reason: describeError(error), ...codeOf(error) }),
      onStopSelf: () => notify({ n: "stop-self", path: req.path }),
    }, log.child({ actor: req.path }), accessOf(definition), definition.throughput);
    cells.set(req.path, cell);
    await cell.start();
  },
  async restart(path, shutdownMs) {
    await cellAt(path).restart(shutdownMs);
  },
  async stop(path, timeoutMs) {
    await cellAt(path).stop(timeoutMs);
    cells.delete(path);
    channel.flush();
  },
  inspect: report,
};

function cellAt(path: string): ActorCell<unknown> {
  const cell = cells.get(path);
  if (cell === undefined) throw new Error(`no actor ${path} in worker ${boot.tag}`);
  return cell;
}

Comlink.expose(control, nodeEndpoint(boot.control));

/**
 * The main-thread side of one worker thread: starts it, links a frame channel and the
 * comlink control plane, and turns an unexpected exit into one `exited` reason. A control
 * call never hangs on a dead worker: it races the worker's exit.
 */
/// <reference path="../internal/comlink-node-adapter.d.ts" />
import { MessageChannel, Worker } from "node:worker_threads";
import * as Comlink from "comlink";
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs";
import type { Envelope } from "../internal/envelope.ts";
import type { Fabric } from "../internal/fabric.ts";
import type { WorkerControl, WorkerNotification } from "./notifications.ts";
import { PortChannel, type PortLike } from "./port-channel.ts";
import type { WorkerBootData } from "./worker-entry.ts";

const here = import.meta.url;
const ENTRY = new URL(`./worker-entry${here.endsWith(".ts") ? ".ts" : ".js"}`, here).href;
const BOOT = new URL("./worker-boot.mjs", here);

export interface WorkerHostOptions {
  node: string;
  id: number;
  fabric: Fabric;
  /** Envelopes arriving from the worker (the router delivers them). */
  inbound(env: Envelope): void;
  notification(n: WorkerNotification): void;
  malformed(reason: string): void;
  unsendable(env: Envelope, error: Error): void;
  maxFrameBytes?: number;
  storePath?: string;
  statsIntervalMs?: number;
}

export class WorkerHost {
  readonly tag: string;
  readonly channel: PortChannel;
  readonly control: Comlink.Remote<WorkerControl>;
  /** Resolves with the reason when the thread ends, expectedly or not. */
  readonly exited: Promise<string>;
  private terminating = false;
  private alive = true;
  private readonly worker: Worker;

  constructor(readonly opts: WorkerHostOptions) {
    this.tag = `w${opts.id}`;
    const { port1, port2 } = new MessageChannel();
    const data: WorkerBootData = {
      entry: ENTRY,
      node: opts.node,
      tag: this.tag,
      control: port2,
      statsIntervalMs: opts.statsIntervalMs ?? 1_000,
      ...(opts.maxFrameBytes ? { maxFrameBytes: opts.maxFrameBytes } : {}),
      ...(opts.storePath ? { storePath: opts.storePath } : {}),
    };
    this.worker = new Worker(BOOT, { workerData: data, transferList: [port2], name: `fedrouter-${this.tag}` });
    this.channel = new PortChannel(this.worker as unknown as PortLike, {
      envelope: (env) => opts.inbound(env),
      malformed: (error) => opts.malformed(error.message),
      unsendable: (env, error) => opts.unsendable(env, error),
      other: (value) => opts.notification(value as WorkerNotification),
    }, { resolveRef: (path) => opts.fabric.ref(path), ...(opts.maxFrameBytes ? { maxFrameBytes: opts.maxFrameBytes } : {}) });
    this.control = Comlink.wrap<WorkerControl>(nodeEndpoint(port1));
    this.exited = new Promise((resolve) => {
      let reason = "exited";
      this.worker.on("error", (error) => {
        reason = `worker error: ${error.message}`.slice(0, 500);
      });
      this.worker.on("exit", (code) => {
        this.alive = false;
        port1.close();
        resolve(this.terminating ? "terminated" : `${reason} (exit code ${code})`);
      });
    });
  }

  get isAlive(): boolean {
    return this.alive;
  }

  get threadId(): number {
    return this.worker.threadId;
  }

  /** Runs a control call, failing (not hanging) if the worker dies first. */
  async call<T>(run: (control: Comlink.Remote<WorkerControl>) => Promise<T>): Promise<T> {
    if (!this.alive) throw new Error(`worker ${this.tag} is not running`);
    return Promise.race([
      run(this.control),
      this.exited.then((reason) => Promise.reject(new Error(`worker ${this.tag} ended: ${reason}`))),
    ]);
  }

  async terminate(): Promise<void> {
    if (!this.alive) return;
    this.terminating = true;
    this.channel.close();
    await this.worker.terminate();
    await this.exited;
  }
}

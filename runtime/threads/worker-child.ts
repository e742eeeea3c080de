/**
 * A supervised actor in a dedicated worker thread. A throw in the actor restarts it in
 * place (same thread, mailbox kept); a dead thread is a crashed child: its unanswered asks
 * fail with WorkerCrashed, messages sent meanwhile are buffered, and the restart starts a
 * fresh thread at the same path.
 */
import { settlesWithin, waitAtMost } from "../actor/cell.ts";
import { ActorStopped, WorkerCrashed } from "../errors.ts";
import type { Envelope } from "../internal/envelope.ts";
import type { Fabric } from "../internal/fabric.ts";
import type { Router } from "../internal/router.ts";
import type { ActorChildSpec } from "../supervision/child-spec.ts";
import type { ChildExit, ChildHandle, ChildInfo } from "../supervision/child-handle.ts";
import type { CellReport, WorkerNotification } from "./notifications.ts";
import { WorkerHost } from "./worker-host.ts";

/** Time for a control call to cross to the worker thread and back, on top of the spec's shutdownMs. */
const CONTROL_GRACE_MS = 100;

export interface WorkerChildContext {
  node: string;
  fabric: Fabric;
  router: Router;
  nextWorkerId(): number;
  /** Dead letters, stats: what the system does with worker notifications besides failures. */
  notification(n: WorkerNotification, host: WorkerHost): void;
  maxFrameBytes?: number;
  storePath?: string;
}

export class WorkerChild implements ChildHandle {
  readonly placement = "worker" as const;
  private host: WorkerHost | undefined;
  private restarts = 0;
  private lastReport: CellReport | undefined;
  /** Set by the final stop, never by a halt before a restart. */
  stopped = false;

  constructor(
    readonly path: string,
    private readonly spec: ActorChildSpec,
    private readonly ctx: WorkerChildContext,
    private readonly onExit: (exit: ChildExit) => void,
  ) {
    ctx.router.reserve(path, spec.mailbox.capacity);
  }

  async start(): Promise<void> {
    this.stopped = false;
    const host = new WorkerHost({
      node: this.ctx.node,
      id: this.ctx.nextWorkerId(),
      fabric: this.ctx.fabric,
      inbound: (env) => this.ctx.router.inbound(env),
      notification: (n) => this.notified(n, host),
      malformed: (reason) => this.ctx.fabric.deadLetter({ to: this.path, msg: null }, "decode-error", reason),
      unsendable: (env, error) => this.ctx.fabric.reject(env, "encode-error", error as never),
      ...(this.ctx.maxFrameBytes ? { maxFrameBytes: this.ctx.maxFrameBytes } : {}),
      ...(this.ctx.storePath ? { storePath: this.ctx.storePath } : {}),
    });
    this.host = host;
    void host.exited.then((reason) => this.lost(host, reason));
    try {
      await host.call((c) =>
        c.spawn({
          path: this.path,
          moduleUrl: this.spec.definition.moduleUrl,
          definitionId: this.spec.definition.id,
          args: this.spec.args,
          mailbox: this.spec.mailbox,
        }),
      );
    } catch (error) {
      this.host = undefined;
      await host.terminate();
      throw error;
    }
    this.ctx.router.up(this.path, { tag: host.tag, post: (env: Envelope, transfer) => host.channel.post(env, transfer) });
  }

  /**
   * Restarts the actor in its thread (the cell halts the old behaviour within the spec's
   * shutdownMs). A thread that does not answer in that time (a receive that blocks it) is ended
   * and the actor starts in a fresh one.
   */
  async restart(): Promise<void> {
    this.restarts++;
    const host = this.host;
    if (host?.isAlive) {
      const restarted = host.call((c) => c.restart(this.path, this.spec.shutdownMs));
      if (await settlesWithin(restarted, this.spec.shutdownMs + CONTROL_GRACE_MS)) return restarted;
      restarted.catch(() => undefined); // the thread is ended below; its answer no longer matters
      await this.halt(0);
    }
    await this.start();
  }

  /** Stops the actor and its thread; messages sent meanwhile wait in the router's buffer. */
  async halt(timeoutMs: number): Promise<void> {
    this.ctx.router.down(this.path);
    await this.shutdownThread(timeoutMs);
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.ctx.router.down(this.path);
    await this.shutdownThread(timeoutMs);
    this.ctx.router.remove(this.path, new ActorStopped(this.path));
  }

  describe(): ChildInfo {
    return {
      path: this.path,
      placement: "worker",
      status: this.host?.isAlive ? (this.lastReport?.status ?? "running") : "down",
      restarts: this.restarts,
      ...(this.host ? { workerId: this.host.threadId } : {}),
      ...(this.lastReport ? { mailboxDepth: this.lastReport.mailboxDepth, processed: this.lastReport.processed } : {}),
    };
  }

  /** The latest stats the worker reported (refreshed by inspect()). */
  async report(): Promise<CellReport | undefined> {
    const host = this.host;
    if (host?.isAlive) {
      try {
        const cells = await host.call((c) => c.inspect());
        this.lastReport = cells.find((c) => c.path === this.path) ?? this.lastReport;
      } catch {
        // The worker is going away; the last report stands.
      }
    }
    return this.lastReport;
  }

  get workerHost(): WorkerHost | undefined {
    return this.host;
  }

  private async shutdownThread(timeoutMs: number): Promise<void> {
    const host = this.host;
    this.host = undefined;
    if (host === undefined) return;
    if (host.isAlive) {
      await waitAtMost(host.call((c) => c.stop(this.path, timeoutMs)), timeoutMs + CONTROL_GRACE_MS);
    }
    await host.terminate();
    this.ctx.router.failPending(host.tag, () => new ActorStopped(this.path));
    this.ctx.router.forgetTarget(host.tag);
  }

  private notified(n: WorkerNotification, host: WorkerHost): void {
    if (n.n === "failed" && n.path === this.path) this.onExit({ kind: "crash", reason: n.reason, ...(n.code ? { code: n.code } : {}) });
    else if (n.n === "stop-self" && n.path === this.path) this.onExit({ kind: "normal" });
    else {
      if (n.n === "stats") this.lastReport = n.cells.find((c) => c.path === this.path) ?? this.lastReport;
      this.ctx.notification(n, host);
    }
  }

  /** The thread ended. If we did not end it, that is a crash of this child. */
  private lost(host: WorkerHost, reason: string): void {
    if (this.host !== host) return;
    this.host = undefined;
    this.ctx.router.down(this.path);
    const workerId = host.opts.id;
    this.ctx.router.failPending(host.tag, () => new WorkerCrashed(this.path, workerId, reason));
    this.ctx.router.forgetTarget(host.tag);
    this.onExit({ kind: "crash", reason: `worker thread ended: ${reason}`, code: "WORKER_CRASHED" });
  }
}

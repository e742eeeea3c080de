/** A supervised actor in the calling thread: a cell whose failures go to its supervisor. */
import type { ActorChildSpec } from "../supervision/child-spec.ts";
import type { ChildExit, ChildHandle, ChildInfo } from "../supervision/child-handle.ts";
import type { Fabric } from "../internal/fabric.ts";
import type { Logger } from "../log.ts";
import { ActorCell, describeError } from "./cell.ts";
import { accessOf } from "./access.ts";

/** The stable code of a thrown error, when it has one (a supervisor's decider reads it). */
export function codeOf(error: unknown): { code?: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.length <= 64 ? { code } : {};
}

export class LocalChild implements ChildHandle {
  readonly placement = "local" as const;
  readonly cell: ActorCell<unknown>;
  private readonly shutdownMs: number;

  constructor(readonly path: string, spec: ActorChildSpec, fabric: Fabric, onExit: (exit: ChildExit) => void, log: Logger) {
    this.shutdownMs = spec.shutdownMs;
    this.cell = new ActorCell(fabric, path, spec.mailbox, () => spec.definition.create(spec.args), {
      onFailure: (error) => onExit({ kind: "crash", reason: describeError(error), ...codeOf(error) }),
      onStopSelf: () => onExit({ kind: "normal" }),
    }, log.child({ actor: path }), accessOf(spec.definition), spec.definition.throughput);
  }

  start(): Promise<void> {
    return this.cell.start();
  }

  restart(): Promise<void> {
    return this.cell.restart(this.shutdownMs);
  }

  halt(timeoutMs: number): Promise<void> {
    return this.cell.halt(timeoutMs);
  }

  stop(timeoutMs: number): Promise<void> {
    return this.cell.stop(timeoutMs);
  }

  get stopped(): boolean {
    return this.cell.status === "stopped";
  }

  describe(): ChildInfo {
    return {
      path: this.path,
      placement: "local",
      status: this.cell.status,
      restarts: this.cell.restarts,
      mailboxDepth: this.cell.mailbox.size,
      processed: this.cell.stats.processed,
    };
  }
}

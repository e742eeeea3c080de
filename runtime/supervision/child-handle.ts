/** What a supervisor needs from a running child, whatever it runs on (cell, worker, pool, supervisor). */
import type { Placement } from "../events.ts";
import type { ChildSpec } from "./child-spec.ts";

export type ChildExit = { kind: "normal" } | { kind: "crash"; reason: string; code?: string };

export interface ChildInfo {
  path: string;
  placement: Placement;
  status: string;
  restarts: number;
  mailboxDepth?: number;
  processed?: number;
  workerId?: number;
  children?: ChildInfo[];
}

export interface ChildHandle {
  readonly path: string;
  readonly placement: Placement;
  /** First start, or start again after halt(). Rejects when the child cannot start. */
  start(): Promise<void>;
  /** Start again after the child's own failure. */
  restart(): Promise<void>;
  /** Stop for a restart: the address stays, messages keep queueing. */
  halt(timeoutMs: number): Promise<void>;
  /** Final stop. */
  stop(timeoutMs: number): Promise<void>;
  describe(): ChildInfo | Promise<ChildInfo>;
}

/** Builds the handle for a spec; the system provides it, so supervision stays thread-agnostic. */
export type ChildFactory = (spec: ChildSpec, parentPath: string, onExit: (exit: ChildExit) => void) => ChildHandle;

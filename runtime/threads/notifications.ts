/** Worker → main notifications, sent on the worker's port beside frames (they carry no `f`). */
import type { DeadLetter } from "../events.ts";

export interface CellReport {
  path: string;
  status: string;
  mailboxDepth: number;
  received: number;
  processed: number;
  failures: number;
  processingMsTotal: number;
  restarts: number;
}

export type WorkerNotification =
  | { n: "failed"; path: string; reason: string; code?: string }
  | { n: "stop-self"; path: string }
  | { n: "dead-letters"; letters: DeadLetter[] }
  | { n: "stats"; cells: CellReport[] };

export interface SpawnRequest {
  path: string;
  moduleUrl: string;
  definitionId: string;
  args: unknown;
  mailbox: { capacity: number; overflow: "drop-newest" | "backpressure" };
}

/** The control plane a worker exposes to the main thread (through comlink). */
export interface WorkerControl {
  spawn(req: SpawnRequest): Promise<void>;
  /** Restarts the actor in place, halting the old behaviour within `shutdownMs`. */
  restart(path: string, shutdownMs: number): Promise<void>;
  stop(path: string, timeoutMs: number): Promise<void>;
  inspect(): CellReport[];
}

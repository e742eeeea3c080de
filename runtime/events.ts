/** Lifecycle events and dead letters: the observable record of what the runtime did. */

export type LifecycleEvent =
  | { type: "started"; path: string; atMs: number; placement: Placement; restarts: number }
  | { type: "stopped"; path: string; atMs: number; reason: "normal" | "shutdown" | "supervisor" }
  | { type: "failed"; path: string; atMs: number; reason: string; code?: string }
  | { type: "restarted"; path: string; atMs: number; restarts: number; delayMs: number }
  | { type: "escalated"; path: string; atMs: number; reason: string };

export type Placement = "local" | "worker" | "pool" | "supervisor";

export type DeadLetterReason =
  | "mailbox-full"
  | "no-such-actor"
  | "actor-stopped"
  | "decode-error"
  | "malformed-envelope"
  | "encode-error"
  | "unhandled"
  /** The sender may not send this message type (the actor's access policy), or a peer answered an ask it was never sent. */
  | "forbidden";

export interface DeadLetter {
  readonly to: string;
  readonly reason: DeadLetterReason;
  readonly detail: string;
  readonly atMs: number;
  /** The message type tag when it had one; never the payload (it may hold patient text). */
  readonly messageType?: string;
  /** Who sent it, when not this node's own code ("peer:node-b", "operator:ops-1"). */
  readonly sender?: string;
}

export function messageTypeOf(msg: unknown): string | undefined {
  if (msg !== null && typeof msg === "object" && typeof (msg as { type?: unknown }).type === "string") {
    return (msg as { type: string }).type.slice(0, 64);
  }
  return undefined;
}

/** The unit the fabric routes: a message plus the little routing metadata it needs. */
import { senderProblem, type Sender } from "../actor/sender.ts";

export interface Envelope {
  /** Full target path, fed://node/… */
  to: string;
  msg: unknown;
  /** Temp path of the asker when this message is an ask: told the failure if the target crashes. */
  ask?: string;
  /** Temp path told once the target mailbox accepted the message (send with backpressure). */
  ackTo?: string;
  /** True when msg is a failure (error fields) for a temp ref. */
  fail?: boolean;
  /** Absolute deadline of an ask (epoch ms), for bookkeeping of pending asks across threads. */
  deadlineMs?: number;
  /**
   * Who sent it, set by the runtime (absent: code of this node). Travels in the frame header
   * between threads; between nodes the receiving transport overwrites it with the peer's identity.
   */
  sender?: Sender;
}

/** Checks an envelope that came from another thread or the network; returns a reason when it is not one. */
export function envelopeProblem(value: unknown, checkSender = true): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "envelope is not an object";
  const env = value as Record<string, unknown>;
  if (typeof env.to !== "string" || env.to.length === 0 || env.to.length > 1024) return "envelope.to is not a path";
  if (!("msg" in env)) return "envelope has no msg";
  if (env.ask !== undefined && typeof env.ask !== "string") return "envelope.ask is not a path";
  if (env.ackTo !== undefined && typeof env.ackTo !== "string") return "envelope.ackTo is not a path";
  if (env.fail !== undefined && typeof env.fail !== "boolean") return "envelope.fail is not a boolean";
  if (env.deadlineMs !== undefined && typeof env.deadlineMs !== "number") return "envelope.deadlineMs is not a number";
  if (checkSender && env.sender !== undefined) return senderProblem(env.sender);
  return undefined;
}

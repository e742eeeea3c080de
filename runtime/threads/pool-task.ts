/**
 * Runs one message of a stateless pool actor inside a piscina worker. The behaviour's tells
 * are collected, not sent: they return to the main thread as one frame and are routed there.
 * A pool actor keeps no state between messages and cannot ask (it replies through replyTo).
 */
import type { ActorContext, ActorRef, Behavior } from "../actor/behavior.ts";
import { WireRef, createFrameCodec } from "../codec/index.ts";
import { FedrouterError, InvalidArgument, type WireError } from "../errors.ts";
import { codeOf } from "../actor/local-child.ts";
import { describeError } from "../actor/cell.ts";
import type { Envelope } from "../internal/envelope.ts";
import { createLogger } from "../log.ts";
import { loadDefinition } from "./load-definition.ts";

export interface PoolTask {
  entry: string;
  node: string;
  path: string;
  moduleUrl: string;
  definitionId: string;
  args: unknown;
  /** One-envelope frame holding the message. */
  frame: Uint8Array;
  maxFrameBytes?: number;
}

export interface PoolTaskResult {
  /** Frame of the envelopes the behaviour told while handling the message (empty when it threw). */
  frame: Uint8Array;
  /**
   * The behaviour threw: what it threw, said here because a thrown error crosses piscina's
   * structured clone as a bare Error, without its class, code or fields.
   */
  failure?: PoolTaskFailure;
}

export interface PoolTaskFailure {
  reason: string;
  /** A thrown FedrouterError as its wire form (errorFromWire rebuilds it). */
  error?: WireError;
  /** The code of anything else thrown that had one. */
  code?: string;
}

const behaviors = new Map<string, Behavior<unknown>>();
const log = createLogger({ thread: "pool" });

class CollectingRef extends WireRef implements ActorRef<unknown> {
  constructor(readonly path: string, private readonly outbox: Envelope[]) {
    super();
  }
  tell(msg: unknown): void {
    this.outbox.push({ to: this.path, msg });
  }
  send(msg: unknown): Promise<void> {
    this.tell(msg);
    return Promise.resolve();
  }
  ask<R>(): Promise<R> {
    return Promise.reject(new InvalidArgument("ask", "pool actors cannot ask; reply through the message's replyTo"));
  }
}

export async function runPoolTask(task: PoolTask): Promise<PoolTaskResult> {
  const key = `${task.moduleUrl}#${task.definitionId}#${task.path}`;
  let behavior = behaviors.get(key);
  if (behavior === undefined) {
    const definition = await loadDefinition(task.moduleUrl, task.definitionId);
    behavior = definition.create(task.args);
    behaviors.set(key, behavior);
  }
  const outbox: Envelope[] = [];
  const codec = createFrameCodec({
    resolveRef: (path) => new CollectingRef(path, outbox),
    ...(task.maxFrameBytes ? { maxFrameBytes: task.maxFrameBytes } : {}),
  });
  const decoded = codec.decode(task.frame);
  if (!decoded.ok) throw decoded.error;
  const env = decoded.values[0] as Envelope;
  const ctx: ActorContext<unknown> = {
    self: new CollectingRef(task.path, outbox),
    path: task.path,
    node: task.node,
    sender: env.sender ?? { kind: "local", node: task.node },
    refused: (detail: string) => log.warn("refused", { path: task.path, detail }),
    log,
    store: undefined,
    nowMs: Date.now,
    lookup: <T>(path: string) => new CollectingRef(path, outbox) as unknown as ActorRef<T>,
    stopSelf: () => undefined,
  };
  try {
    await behavior.receive(env.msg, ctx);
  } catch (error) {
    return { frame: new Uint8Array(0), failure: { reason: describeError(error), ...(error instanceof FedrouterError ? { error: error.toJSON() } : codeOf(error)) } };
  }
  const out = codec.encode(outbox);
  return { frame: out.bytes.slice() };
}

/**
 * What an actor is, as types: a behaviour handles exactly its protocol (a discriminated
 * union), one message at a time. A behaviour never touches threads, ports or frames.
 */

import type { AccessPolicy, Sender } from "./sender.ts";
import { InvalidArgument } from "../errors.ts";

export interface AskOptions {
  /** Deadline for the reply; past it the ask fails with AskTimeout. */
  timeoutMs?: number;
  /** ArrayBuffers to move with the request to another thread (see TellOptions). */
  transfer?: readonly ArrayBuffer[];
  /**
   * Speak for someone this node has authenticated (an edge such as the HTTP API passes its
   * verified caller). Only code of this node can set it: a frame from another node never
   * carries its own sender (the receiving transport stamps the peer's certificate identity).
   */
  as?: Sender;
}

export interface TellOptions {
  /**
   * ArrayBuffers to move (not copy) to another thread. The sender's views become detached,
   * exactly as with postMessage's transfer list. Ignored when the target is in this thread.
   */
  transfer?: readonly ArrayBuffer[];
  /** See AskOptions.as. */
  as?: Sender;
}

/** A stable, location-transparent address of an actor; valid across restarts. */
export interface ActorRef<M> {
  readonly path: string;
  /** Fire and forget. A full mailbox turns the message into a dead letter (both policies). */
  // Function-typed properties, not methods: TypeScript checks their parameters strictly, so
  // an ActorRef<string> is not accepted where an ActorRef<number> is expected.
  readonly tell: (msg: M, opts?: TellOptions) => void;
  /**
   * Tell with backpressure: resolves once the target's mailbox has accepted the message.
   * Under the "backpressure" policy it waits for room; under "drop-newest" it rejects with
   * MailboxFull when the mailbox is full.
   */
  readonly send: (msg: M, opts?: TellOptions) => Promise<void>;
  /** Request–reply: `make` builds the message around a one-shot reply ref. */
  readonly ask: <R>(make: (replyTo: ActorRef<R>) => M, opts?: AskOptions) => Promise<R>;
}

export interface ActorLogger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

export interface ActorContext<M> {
  readonly self: ActorRef<M>;
  /** fed://<node>/<path> */
  readonly path: string;
  readonly node: string;
  /**
   * Who sent the message being handled, as the runtime established it (never a field of the
   * message): this node's code, a peer node by its certificate, an operator, an authenticated
   * user. Valid during `receive`; read it before the first await if the behaviour keeps it.
   */
  readonly sender: Sender;
  /**
   * Records that the message being handled was refused for its sender by the behaviour's own
   * rule (another node's reservation, another user's budget): a dead letter with reason
   * "forbidden", counted and logged like the runtime's own refusals. The behaviour still
   * answers with its typed refusal.
   */
  refused(detail: string): void;
  readonly log: ActorLogger;
  /** Wall clock in ms; behaviours read time only through this (tests replace it). */
  nowMs(): number;
  /** A ref to any actor by its path (local, another thread). */
  lookup<T>(path: string): ActorRef<T>;
  /** The node's durable store, when the system was started with persistence. */
  readonly store: unknown;
  /** Stops this actor normally (a transient child that stops normally is not restarted). */
  stopSelf(): void;
}

export interface Behavior<M> {
  /** Runs before the first message, and again after every restart. */
  start?(ctx: ActorContext<M>): void | Promise<void>;
  /**
   * Handles one message. If it returns a promise, the next message waits for it, so an
   * actor sees one message at a time. A throw (or rejection) is a crash: the supervisor
   * decides what happens next.
   */
  receive(msg: M, ctx: ActorContext<M>): void | Promise<void>;
  /** Runs when the actor stops or before a restart. */
  stop?(ctx: ActorContext<M>): void | Promise<void>;
}

/**
 * A behaviour factory that can be started in any thread: the worker imports `moduleUrl`
 * and finds the exported definition whose `id` matches, so closures never cross threads.
 */
export interface ActorDefinition<M, A = void> {
  readonly kind: "actor-definition";
  readonly id: string;
  readonly moduleUrl: string;
  create(args: A): Behavior<M>;
  /** Which sender kinds may send which message types; absent: this node's code and its operators only. */
  readonly access?: Readonly<Record<string, readonly Sender["kind"][]>>;
  /**
   * Messages the actor handles in one go before its cell yields the thread to I/O (Akka's
   * dispatcher `throughput`); absent: DEFAULT_THROUGHPUT. An actor whose replies wait for a
   * group-committed write sets it low, so that its next block is built while LMDB syncs the
   * last one instead of the whole burst going to disk as one block after all of it was handled.
   */
  readonly throughput?: number;
  /** Phantom field carrying the protocol type; never set. */
  readonly __protocol?: M;
}

/**
 * @example
 * type CounterMsg = { type: "add"; n: number } | { type: "get"; replyTo: ActorRef<number> };
 * export const counter = defineActor(import.meta.url, "counter", (start: number) => {
 *   let total = start;
 *   return { receive(msg) { if (msg.type === "add") total += msg.n; else msg.replyTo.tell(total); } };
 * });
 */
export function defineActor<M, A = void>(
  moduleUrl: string,
  id: string,
  create: (args: A) => Behavior<M>,
  options: { access?: AccessPolicy<M & { readonly type: string }>; throughput?: number } = {},
): ActorDefinition<M, A> {
  const { throughput } = options;
  if (throughput !== undefined && !(Number.isSafeInteger(throughput) && throughput >= 1)) {
    throw new InvalidArgument("throughput", `${throughput} is not a whole number of messages ≥ 1 (actor ${id})`);
  }
  return {
    kind: "actor-definition", id, moduleUrl, create,
    ...(options.access ? { access: options.access as Readonly<Record<string, readonly Sender["kind"][]>> } : {}),
    ...(throughput === undefined ? {} : { throughput }),
  };
}

export function assertNever(value: never): never {
  throw new Error(`unhandled message: ${JSON.stringify((value as { type?: unknown })?.type ?? value)}`);
}

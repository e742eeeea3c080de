/**
 * A behaviour for actors whose state must survive a crash: a pure `handle` decides, and this
 * wrapper applies, persists and acknowledges. Never runs a `reply` before the transaction
 * holding its change has committed (and, for "sync", reached the disk).
 *
 * Pipelining, and why it is safe. `receive` does not wait for LMDB: it applies the new state
 * in memory, queues the write and returns, so the next message is handled at once and many
 * writes share one transaction and one fsync. The reply waits for its own write. So:
 * - A later message may see state that is not durable yet. But anything it acknowledges
 *   waits for its own write, which the store orders after the earlier one; LMDB commits in
 *   call order, so its ack can only go out once everything it observed is on disk. Replies
 *   that write nothing wait the same way (an empty persist is a barrier).
 * - A crash (or kill -9) loses only changes nobody was told about: on restart the actor
 *   reloads the last committed state, which includes every acknowledged change.
 * - A failed write fails every write queued after it (the store chains them), so no ack
 *   after a failure goes out; the actor crashes on its next message and its supervisor
 *   restarts it from what LMDB holds.
 */
import type { ActorContext, Behavior } from "../actor/behavior.ts";
import { parsePath } from "../actor/path.ts";
import { InvalidArgument, PersistenceError } from "../errors.ts";
import type { ActorStore, Durability, NodeStore } from "./node-store.ts";

/** What `handle` decided: everything optional; nothing returned means "no change, no reply". */
export interface PersistentDecision<S> {
  /** The new state, visible to the next message at once. */
  state?: S;
  /** What happened, appended to the actor's journal with the state, atomically. */
  events?: readonly unknown[];
  /** Sends the acknowledgement; runs only once the change is durable. */
  reply?: () => void;
}

export interface PersistentSpec<M, S> {
  /** Store id; defaults to the actor's path without scheme and node ("user/accountant"). */
  id?: string;
  /** "sync": acks wait for the disk. "async" (caches only): may lose the last writes on a crash. */
  durability: Durability;
  /** The state of an actor that has never persisted anything. */
  initial: S;
  /** Pure decision: state and message in; new state, journal events and the ack out. */
  handle(state: S, msg: M, ctx: ActorContext<M>): PersistentDecision<S> | void;
}

/**
 * @example
 * type CounterMsg = { type: "add"; n: number; replyTo: ActorRef<number> };
 * export const counter = defineActor(import.meta.url, "counter", () =>
 *   persistent<CounterMsg, number>({
 *     durability: "sync",
 *     initial: 0,
 *     handle: (total, msg) => ({ state: total + msg.n, events: [msg.n], reply: () => msg.replyTo.tell(total + msg.n) }),
 *   }));
 */
export function persistent<M, S>(spec: PersistentSpec<M, S>): Behavior<M> {
  let store: ActorStore<S> | undefined;
  let state = spec.initial;
  let failure: Error | undefined;
  // Bumped at every start, so a write of an earlier incarnation cannot fail a newer one.
  let incarnation = 0;
  // Made once per incarnation, not per message: a message costs one closure, for its reply.
  let acknowledge: (decision: PersistentDecision<S>) => void = () => undefined;
  let persistFailed: (error: unknown) => void = () => undefined;

  return {
    async start(ctx) {
      const mine = ++incarnation;
      failure = undefined;
      const crash = (event: string, error: unknown) => {
        if (mine !== incarnation) return;
        failure ??= error instanceof Error ? error : new PersistenceError(ctx.path, String(error));
        ctx.log.error(event, { path: ctx.path, code: (failure as { code?: unknown }).code ?? null });
      };
      acknowledge = (decision) => {
        try {
          decision.reply?.();
        } catch (error) {
          crash("reply-failed", error); // a defect in user code: crash like any other
        }
      };
      persistFailed = (error) => crash("persist-failed", error);
      store = nodeStoreOf(ctx).actor<S>(spec.id ?? storeIdOf(ctx.path), { durability: spec.durability });
      // Writes of a previous incarnation may still be in flight: wait for them, so that the
      // state read below is the last one committed and the write chain starts from it.
      await store.recover();
      state = store.state() ?? spec.initial;
    },

    receive(msg, ctx) {
      if (failure) throw failure;
      if (!store) throw new PersistenceError(ctx.path, "message received before start() loaded the state");
      const decision = spec.handle(state, msg, ctx);
      if (!decision) return;
      if (decision.state === undefined && !decision.events?.length && !decision.reply) return;
      // The decision is a PersistUpdate as it is: the store reads `state` and `events` now.
      const written = store.persist(decision);
      if (decision.state !== undefined) state = decision.state;
      const ack = acknowledge;
      written.then(decision.reply ? () => ack(decision) : undefined, persistFailed);
    },
  };
}

/** The NodeStore the runtime placed in `ctx.store`; a clear error when there is none. */
function nodeStoreOf<M>(ctx: ActorContext<M>): NodeStore {
  const store = ctx.store as Partial<NodeStore> | undefined | null;
  if (!store || typeof store.actor !== "function") {
    throw new InvalidArgument("ctx.store", `${ctx.path} is a persistent actor but its system has no NodeStore (start the system with a store path)`);
  }
  return store as NodeStore;
}

/** `fed://node-a/user/accountant` → `user/accountant`: one environment per node already names the node. */
function storeIdOf(path: string): string {
  return parsePath(path).segments.join("/");
}

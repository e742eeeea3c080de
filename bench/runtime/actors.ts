/**
 * The benchmark's actors. Exported from a module of their own, so that a worker thread can
 * import them by URL; they import nothing but the runtime and the shared message.
 */
import { defineActor, persistent, SENDER_KINDS, type AccessPolicy, type ActorRef } from "../../runtime/index.ts";
import { count, type AddMsg, type Tally } from "./message.ts";

export type SinkMsg = AddMsg | { type: "get"; replyTo: ActorRef<Tally> };

function counting() {
  const tally: Tally = { count: 0, sum: 0 };
  return {
    receive(msg: SinkMsg) {
      if (msg.type === "add") count(tally, msg);
      else msg.replyTo.tell({ ...tally });
    },
  };
}

/**
 * Counts `add` messages; `get` answers the tally so far. No access policy: this node's code
 * (and its operators) only, and a tell from local code takes the runtime's fast path (no
 * sender, no policy look-up). The "without" side of the identity rows.
 */
export const sink = defineActor(import.meta.url, "sink", counting);

/** Every type to every sender kind: the cheapest policy a peer's tells can meet (a look-up still runs). */
export const OPEN_SINK_ACCESS = { add: SENDER_KINDS, get: SENDER_KINDS } as const satisfies AccessPolicy<SinkMsg>;

/** The same counter, open to everyone: what the remote suite's hospital serves its peers' tells with. */
export const openSink = defineActor(import.meta.url, "open-sink", counting, { access: OPEN_SINK_ACCESS });

/** `add` only from a peer node or an authenticated user (not local code), `get` from those and this node. */
export const GUARDED_SINK_ACCESS = { add: ["peer", "user"], get: ["local", "peer", "user"] } as const satisfies AccessPolicy<SinkMsg>;

/**
 * The same counter behind GUARDED_SINK_ACCESS, and it reads `ctx.sender` for every `add`
 * (a finer rule of its own: it counts only what a named, non-local sender sent). The "with
 * identity + authorization" side of the identity rows: every tell pays the sender on the
 * envelope (the frame row's seventh column across threads, the transport's stamp between
 * nodes), the policy look-up before the mailbox, and ctx.sender; a sender lost on the way
 * leaves the tally short, which the benchmark checks.
 */
export const guardedSink = defineActor(import.meta.url, "guarded-sink", () => {
  const tally: Tally = { count: 0, sum: 0 };
  return {
    receive(msg: SinkMsg, ctx) {
      if (msg.type === "get") msg.replyTo.tell({ ...tally });
      else if (ctx.sender.kind !== "local") count(tally, msg);
    },
  };
}, { access: GUARDED_SINK_ACCESS });

export type EchoMsg = { type: "echo"; n: number; label: string; replyTo: ActorRef<EchoReply> };
export type EchoReply = { type: "echo"; n: number; label: string };

/**
 * Answers every message with the same object, less its reply ref (the raw floor posts it back).
 * Peers may ask it (the remote suite); local code still takes the fast path (no look-up).
 */
export const echo = defineActor(import.meta.url, "echo", () => ({
  receive(msg: EchoMsg) {
    msg.replyTo.tell({ type: msg.type, n: msg.n, label: msg.label });
  },
}), { access: { echo: ["local", "peer"] } satisfies AccessPolicy<EchoMsg> });

export type DurableMsg = { type: "put"; n: number; label: string; replyTo: ActorRef<number> };

/** A synced counter that journals each payload (`{ n, label }`, the raw floor's value) and acks once it is on disk. */
export const durable = defineActor(import.meta.url, "durable", () =>
  persistent<DurableMsg, number>({
    durability: "sync",
    initial: 0,
    handle: (total, msg) => ({
      state: total + 1,
      events: [{ n: msg.n, label: msg.label }],
      reply: () => msg.replyTo.tell(total + 1),
    }),
  }),
);

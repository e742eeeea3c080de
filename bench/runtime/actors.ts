/**
 * The benchmark's actors. Exported from a module of their own, so that a worker thread can
 * import them by URL; they import nothing but the runtime and the shared message.
 */
import { defineActor, persistent, type ActorRef } from "../../runtime/index.ts";
import { count, type AddMsg, type Tally } from "./message.ts";

export type SinkMsg = AddMsg | { type: "get"; replyTo: ActorRef<Tally> };

/** Counts `add` messages; `get` answers the tally so far. */
export const sink = defineActor(import.meta.url, "sink", () => {
  const tally: Tally = { count: 0, sum: 0 };
  return {
    receive(msg: SinkMsg) {
      if (msg.type === "add") count(tally, msg);
      else msg.replyTo.tell({ ...tally });
    },
  };
});

export type EchoMsg = { type: "echo"; n: number; label: string; replyTo: ActorRef<EchoReply> };
export type EchoReply = { type: "echo"; n: number; label: string };

/** Answers every message with the same object, less its reply ref (the raw floor posts it back). */
export const echo = defineActor(import.meta.url, "echo", () => ({
  receive(msg: EchoMsg) {
    msg.replyTo.tell({ type: msg.type, n: msg.n, label: msg.label });
  },
}));

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

/**
 * The actors the remote suite's hospital runs, named in its cluster config as
 * `{ name, module: "<this file>" }`. They import nothing but the runtime and the shared message.
 */
import { defineActor, type ActorRef } from "../../runtime/index.ts";
import { count, type AddMsg, type Tally } from "../runtime/message.ts";

export type SinkMsg = AddMsg | { type: "get"; replyTo: ActorRef<Tally> };

/** Counts `add` messages; `get` answers the tally so far (the raw server counts the same way). */
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

/** Answers every message with its fields, less the reply ref (the raw server's Echo does the same). */
export const echo = defineActor(import.meta.url, "echo", () => ({
  receive(msg: EchoMsg) {
    msg.replyTo.tell({ type: msg.type, n: msg.n, label: msg.label });
  },
}));

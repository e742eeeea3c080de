/**
 * The runtime's own share of a durable answer, for the accountant suite's ceiling row: an actor
 * that, per message, persists one journal entry the size of an Accountant audit entry (380 bytes)
 * and a small state in the same "sync" store, and replies once it is on disk — ask, mailbox,
 * group commit, fsync, reply, and nothing of the Accountant's own (no validation, ledger, hash).
 */
import { defineActor, type ActorRef } from "../../runtime/index.ts";
import type { ActorStore, NodeStore } from "../../runtime/persistence/index.ts";
import { accountant } from "../../actors/accountant/index.ts";

export type BareDurableMsg = { type: "op"; replyTo: ActorRef<{ type: "ok" }> };

/** An Accountant reserve entry is ~380 bytes of canonical msgpack. */
const ENTRY = new Uint8Array(380).fill(0x2a);

export const bareDurable = defineActor(import.meta.url, "bare-durable", () => {
  let store: ActorStore<{ n: number }>;
  let n = 0;
  return {
    async start(ctx) {
      store = (ctx.store as NodeStore).actor<{ n: number }>("bench/bare-durable", { durability: "sync" });
      await store.recover();
    },
    receive(msg: BareDurableMsg) {
      store.persist({ state: { n: ++n }, events: [ENTRY] }).then(() => msg.replyTo.tell({ type: "ok" }), () => undefined);
    },
  };
}, { throughput: accountant.throughput }); // the Accountant's turn: the two rows differ by its work only

/**
 * The runtime's own share of a durable answer, for the accountant suite's ceiling row: an actor
 * that, per message, persists one journal entry the size of an Accountant audit entry (380 bytes)
 * and a small state in the same "sync" store, and replies once it is on disk — ask, mailbox,
 * group commit, fsync, reply, and nothing of the Accountant's own (no validation, ledger, hash).
 * Twice: with the Accountant's turn of 16 messages, and with the runtime's default turn.
 */
import { defineActor, type ActorRef, type Behavior } from "../../runtime/index.ts";
import type { ActorStore, NodeStore } from "../../runtime/persistence/index.ts";
import { accountant } from "../../actors/accountant/index.ts";

export type BareDurableMsg = { type: "op"; replyTo: ActorRef<{ type: "ok" }> };

/** An Accountant reserve entry is ~380 bytes of canonical msgpack. */
export const ENTRY = new Uint8Array(380).fill(0x2a);

function bareBehaviour(storeId: string): () => Behavior<BareDurableMsg> {
  return () => {
    let store: ActorStore<{ n: number }>;
    let n = 0;
    return {
      async start(ctx) {
        store = (ctx.store as NodeStore).actor<{ n: number }>(storeId, { durability: "sync" });
        await store.recover();
      },
      receive(msg: BareDurableMsg) {
        store.persist({ state: { n: ++n }, events: [ENTRY] }).then(() => msg.replyTo.tell({ type: "ok" }), () => undefined);
      },
    };
  };
}

/** With the Accountant's turn: the two rows differ by the Accountant's work only. */
export const bareDurable = defineActor(import.meta.url, "bare-durable", bareBehaviour("bench/bare-durable"), { throughput: accountant.throughput });

/** With the runtime's default turn (1,024 messages): what the durable ask path gives an actor with little work per message. */
export const bareDurableDefaultTurn = defineActor(import.meta.url, "bare-durable-default-turn", bareBehaviour("bench/bare-durable-default-turn"));

/** The demonstration actors of the catalogue (visits, tally, hasher): plain runtime examples, nothing hospital-specific. */
import { isMainThread } from "node:worker_threads";
import { defineActor, persistent, type AccessPolicy, type ActorRef } from "../runtime/index.ts";

export type TallyMsg =
  | { type: "add"; n: number }
  | { type: "get"; replyTo: ActorRef<number> }
  | { type: "crash" }
  | { type: "exit-thread" };

/** Any node of the federation may count and read; only this node and its operators may crash it. */
export const TALLY_ACCESS = { add: ["local", "peer", "operator"], get: ["local", "peer", "operator"], crash: ["local", "operator"], "exit-thread": ["local", "operator"] } as const satisfies AccessPolicy<TallyMsg>;

/** A counter kept in memory; lives in a dedicated worker in the demo. */
export const tally = defineActor(import.meta.url, "tally", () => {
  let total = 0;
  return {
    receive(msg: TallyMsg) {
      switch (msg.type) {
        case "add":
          total += msg.n;
          return;
        case "get":
          msg.replyTo.tell(total);
          return;
        case "crash":
          throw new Error("asked to crash");
        case "exit-thread":
          // In a worker, process.exit ends that thread only: the fault the demo shows. On the main
          // thread it would end the whole process, the service embedding this node included.
          if (isMainThread) throw new Error("exit-thread: this tally runs on the main thread, where exiting would end the whole process");
          process.exit(3);
      }
    },
  };
}, { access: TALLY_ACCESS });

export type HashMsg = { type: "hash"; rounds: number; seed: string; replyTo: ActorRef<string> };

/** Stateless CPU work (iterated SHA-256) for the piscina pool. */
export const hasher = defineActor(import.meta.url, "hasher", () => ({
  async receive(msg: HashMsg) {
    const { createHash } = await import("node:crypto");
    let digest = msg.seed;
    for (let i = 0; i < msg.rounds; i++) digest = createHash("sha256").update(digest).digest("hex");
    msg.replyTo.tell(digest.slice(0, 16));
  },
}), { access: { hash: ["local", "peer", "operator"] } satisfies AccessPolicy<HashMsg> });

export type VisitsMsg = { type: "visit"; replyTo: ActorRef<number> };

/** A durable counter: every acknowledged visit survives a crash of the process. */
export const visits = defineActor(import.meta.url, "visits", () =>
  persistent<VisitsMsg, number>({
    durability: "sync",
    initial: 0,
    handle: (count, msg) => ({ state: count + 1, events: [{ at: Date.now() }], reply: () => msg.replyTo.tell(count + 1) }),
  }),
  { access: { visit: ["local", "peer", "operator"] } satisfies AccessPolicy<VisitsMsg> },
);

/**
 * Compile-time checks of the typed-actor contracts. Not run: `npm test` runs `tsc --noEmit`
 * first, and an `@ts-expect-error` line that compiles cleanly is itself an error, so each
 * marked line proves the compiler rejects what it shows.
 */
import { actor, assertNever, defineActor, type ActorRef, type ActorSystem } from "../../runtime/index.ts";
import { counter, type CounterMsg } from "../fixtures/actors.ts";

export function refsAcceptOnlyTheirProtocol(ref: ActorRef<CounterMsg>): void {
  ref.tell({ type: "add", n: 1 });
  // @ts-expect-error a message type outside the protocol
  ref.tell({ type: "subtract", n: 1 });
  // @ts-expect-error a field of the wrong type
  ref.tell({ type: "add", n: "1" });
  // @ts-expect-error a missing field
  ref.tell({ type: "add" });
}

export async function asksAreTypedByTheirReply(ref: ActorRef<CounterMsg>): Promise<void> {
  const total: number = await ref.ask<number>((replyTo) => ({ type: "get", replyTo }));
  void total;
  // @ts-expect-error the reply ref of "get" carries numbers, not strings
  await ref.ask<string>((replyTo) => ({ type: "get", replyTo }));
}

type Ping = { type: "ping"; replyTo: ActorRef<"pong"> } | { type: "stop" };

export const exhaustive = defineActor(import.meta.url, "exhaustive", () => ({
  receive(msg: Ping) {
    switch (msg.type) {
      case "ping":
        msg.replyTo.tell("pong");
        return;
      case "stop":
        return;
      default:
        assertNever(msg); // adding a message to Ping without a case is a compile error here
    }
  },
}));

export function specsCarryTheirProtocolToRefs(system: ActorSystem): void {
  const spec = actor("c", counter, 0);
  const ref = system.refOf(spec);
  ref.tell({ type: "add", n: 2 });
  // @ts-expect-error the ref of a counter spec takes CounterMsg only
  ref.tell({ type: "ping" });
  // @ts-expect-error the counter's start argument is a number
  actor("c", counter, "zero");
}

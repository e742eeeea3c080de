/**
 * Remote tell over mutual TLS with and without the receiver's identity checks (issue 11),
 * as far as they can be told apart over the network: N tells from this node to the
 * hospital's `guarded-sink` (policy: `add` from peers and users only; its receive reads
 * ctx.sender for every message and counts only non-local senders, so the tally check also
 * proves that every envelope arrived stamped) against the same tells to its `sink`, whose
 * policy allows every type to every kind: the cheapest check there is.
 *
 * Both still pay the stamp. The receiving transport sets the peer's frozen sender on every
 * envelope from a peer, unconditionally — there is no switch to turn it off — and a stamped
 * envelope always takes the policy look-up; the foreign-reference and answer-address checks
 * run on every frame too. So this ratio prices the policy's content and ctx.sender, not the
 * stamp; receive.ts measures the receive path with and without all of it, in this process.
 * Interleaved one iteration at a time (measure.ts, interleavedRates); ratio = with / without.
 */
import type { ActorRef, ActorSystem } from "../../runtime/index.ts";
import { compared, type BenchResult } from "../report.ts";
import type { SinkMsg } from "../runtime/actors.ts";
import { interleavedRates, type Contender } from "../runtime/measure.ts";
import { addMessage, type Tally } from "../runtime/message.ts";
import { HOSPITAL } from "./processes.ts";

/** Tells per iteration (the link's outbound queue holds 4 × tell.ts's N, so these fit). */
const N = 100_000;
const ITERATIONS = 16;

async function tells(what: string, ref: ActorRef<SinkMsg>): Promise<Contender> {
  const askTally = () => ref.ask<Tally>((replyTo) => ({ type: "get", replyTo }), { timeoutMs: 60_000 });
  let sent = (await askTally()).count;
  return {
    name: what,
    perIteration: N,
    fn: async () => {
      for (let i = 0; i < N; i++) ref.tell(addMessage());
      sent += N;
      const tally = await askTally();
      if (tally.count !== sent) throw new Error(`${what}: the receiver counted ${tally.count} messages, ${sent} were sent (dropped, lost or refused)`);
    },
  };
}

export async function remoteTellIdentity(system: ActorSystem): Promise<BenchResult> {
  const open = system.ref<SinkMsg>(`fed://${HOSPITAL}/user/node/sink`);
  const guarded = system.ref<SinkMsg>(`fed://${HOSPITAL}/user/node/guarded-sink`);
  const [without, withChecks] = await interleavedRates([
    await tells("remote tell (mTLS), allow-all policy", open),
    await tells("remote tell (mTLS), peer policy + ctx.sender", guarded),
  ], ITERATIONS);
  return compared("remote tell (mTLS), peer policy + ctx.sender", "msg/s", withChecks!, {
    name: "the same tells, allow-all policy (both stamped: the stamp cannot be switched off)",
    value: without!,
  }, "≥ 0.95");
}

/**
 * What identity and authorization cost a tell (issue 11: under 5 %, ratio ≥ 0.95), with and
 * without, in this process and this run.
 * - without: N tells from local code to `sink`, then one ask for its tally: no sender on the
 *   envelope, no policy (a local sender to an actor without one takes the fast path: no
 *   look-up). The same iteration as tell.ts's fedrouter figures.
 * - with: the same N tells, each with `{ as: sender }` (what an edge passes for the caller it
 *   authenticated), to `guardedSink`: an access policy that lets `add` in from peers and users
 *   only, and a receive that reads ctx.sender for every message and counts only non-local
 *   senders (a sender lost on the way leaves the tally short, and the iteration fails). That
 *   pays the sender on every envelope (across threads: the frame row's seventh column,
 *   encoded in this thread, decoded and validated in the worker), the policy look-up before
 *   the mailbox, and ctx.sender. Senders: an authenticated user (`{ kind: "user", user, role,
 *   department }`), and across threads also a peer (`{ kind: "peer", node }`: what a peer's
 *   tell to an actor in a worker carries once the transport has stamped it).
 * Each actor has its own worker (cross-thread) or lives in this thread (same-thread). A cost
 * of a few per cent is smaller than this shared 2-core machine's swings from one second to
 * the next, so the contenders are interleaved one iteration at a time (measure.ts,
 * interleavedRates) and each figure is its median iteration. Ratio = with / without.
 */
import type { ActorRef, ActorSystem, PeerSender, Sender, UserSender } from "../../runtime/index.ts";
import { compared, type BenchResult } from "../report.ts";
import { guardedSink, sink, type SinkMsg } from "./actors.ts";
import { interleavedRates, type Contender } from "./measure.ts";
import { addMessage, type Tally } from "./message.ts";

/** Tells per iteration: half the tell rows' batch, so that more iterations fit. */
const N = 100_000;
const CROSS_THREAD_ITERATIONS = 20;
const SAME_THREAD_ITERATIONS = 30;
const MAILBOX = { capacity: 1_000_000, overflow: "drop-newest" } as const;
const TARGET = "≥ 0.95";

export const USER: UserSender = Object.freeze({ kind: "user", user: "u-1", role: "doctor", department: "radiology" });
export const PEER: PeerSender = Object.freeze({ kind: "peer", node: "remote-hospital" });
const WITHOUT = "the same tells, no sender, no policy";

/** N tells (each with `as` when given), then one ask; checks that all of them were counted. */
function tells(what: string, ref: ActorRef<SinkMsg>, as?: Sender): Contender {
  let sent = 0;
  return {
    name: what,
    perIteration: N,
    fn: async () => {
      if (as === undefined) for (let i = 0; i < N; i++) ref.tell(addMessage());
      else for (let i = 0; i < N; i++) ref.tell(addMessage(), { as });
      sent += N;
      const tally = await ref.ask<Tally>((replyTo) => ({ type: "get", replyTo }) satisfies SinkMsg, { timeoutMs: 60_000 });
      if (tally.count !== sent) throw new Error(`${what}: the receiver counted ${tally.count} messages, ${sent} were sent (dropped, lost or refused)`);
    },
  };
}

export async function crossThreadIdentity(system: ActorSystem): Promise<BenchResult[]> {
  const names = ["identity-sink-worker", "identity-user-worker", "identity-peer-worker"];
  const plain = await system.spawn(sink, undefined, { placement: "worker", name: names[0]!, mailbox: MAILBOX });
  const forUser = await system.spawn(guardedSink, undefined, { placement: "worker", name: names[1]!, mailbox: MAILBOX });
  const forPeer = await system.spawn(guardedSink, undefined, { placement: "worker", name: names[2]!, mailbox: MAILBOX });
  try {
    const [without, withUser, withPeer] = await interleavedRates([
      tells("cross-thread tell, no sender, no policy", plain),
      tells("cross-thread tell, user sender + policy + ctx.sender", forUser, USER),
      tells("cross-thread tell, peer sender + policy + ctx.sender", forPeer, PEER),
    ], CROSS_THREAD_ITERATIONS);
    return [
      compared("cross-thread tell, user sender + policy + ctx.sender", "msg/s", withUser!, { name: WITHOUT, value: without! }, TARGET),
      compared("cross-thread tell, peer sender + policy + ctx.sender", "msg/s", withPeer!, { name: WITHOUT, value: without! }, TARGET),
    ];
  } finally {
    for (const name of names) await system.stopChild(name);
  }
}

export async function sameThreadIdentity(system: ActorSystem): Promise<BenchResult[]> {
  const names = ["identity-sink-local", "identity-user-local"];
  const plain = await system.spawn(sink, undefined, { placement: "local", name: names[0]!, mailbox: MAILBOX });
  const forUser = await system.spawn(guardedSink, undefined, { placement: "local", name: names[1]!, mailbox: MAILBOX });
  try {
    const [without, withUser] = await interleavedRates([
      tells("same-thread tell, no sender, no policy", plain),
      tells("same-thread tell, user sender + policy + ctx.sender", forUser, USER),
    ], SAME_THREAD_ITERATIONS);
    return [compared("same-thread tell, user sender + policy + ctx.sender", "msg/s", withUser!, { name: WITHOUT, value: without! }, TARGET)];
  } finally {
    for (const name of names) await system.stopChild(name);
  }
}

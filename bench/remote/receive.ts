/**
 * The receive path of a peer's frames, with and without the identity and authorization
 * checks, in one process (issue 11). Over the network the stamp cannot be switched off (the
 * transport sets the peer's sender on every envelope from a peer, always), so the remote
 * tell rows cannot show what it costs; this measures it where it runs, on prepared frames.
 *
 * Frames: 256 `add` envelopes each (the link's batch size), encoded as a PeerLink encodes
 * them (`toRows(batch, false)`: no sender on the wire), one frame per target, made once.
 * Per iteration both sides take 391 of them (100,096 messages), one frame per microtask turn,
 * into a local counter of this node, then ask it for its tally and check that every message
 * was counted.
 * - with: the transport's own `receive` (private; reached through a cast) as the hospital's
 *   link delivers a frame from it: decode with the foreign-reference check, the
 *   addressed-to-this-node and answer-address checks, the stamp (the peer's frozen sender),
 *   the router, then the cell's admit() (the policy look-up) before the mailbox, into
 *   `guardedSink`, whose receive reads ctx.sender for every message (and counts only
 *   non-local senders: a missing stamp fails the tally check).
 * - without: the receive loop as it was before commit 0417bc3, written out here: decode
 *   (no reference check), readRows, the addressed-to-this-node check, the router; into
 *   `sink` (no policy: an envelope without a sender takes the fast path, no look-up).
 * Interleaved one iteration at a time (measure.ts, interleavedRates); ratio = with / without.
 * This is the receive path alone (no sockets, no TLS, no second process), so the checks are
 * a larger share of it than of a remote tell; the suite also estimates their share of the
 * remote tell from it (see suite.ts).
 */
import type { ActorRef, ActorSystem } from "../../runtime/index.ts";
import { createFrameCodec } from "../../runtime/index.ts";
import type { Envelope } from "../../runtime/internal/envelope.ts";
import { readRows, toRows } from "../../runtime/internal/frame-rows.ts";
import { DEFAULT_LINK } from "../../runtime/remote/peer-link.ts";
import { compared, type BenchResult } from "../report.ts";
import { guardedSink, sink, type SinkMsg } from "../runtime/actors.ts";
import { interleavedRates } from "../runtime/measure.ts";
import { addMessage, type Tally } from "../runtime/message.ts";
import { HOSPITAL } from "./processes.ts";

const BATCH = DEFAULT_LINK.maxBatch;
const FRAMES = Math.ceil(100_000 / BATCH);
const RECEIVED_PER_ITERATION = FRAMES * BATCH;
const ITERATIONS = 24;
const MAILBOX = { capacity: 1_000_000, overflow: "drop-newest" } as const;

/** What this benchmark reaches inside RemoteTransport: its private receive and links. */
interface TransportInternals {
  receive(peer: string, link: unknown, batch: Uint8Array, refuse: (reason: string) => void): void;
  readonly links: ReadonlyMap<string, unknown>;
}

export interface ReceivePath {
  /** msg/s with the stamp and checks, and without */
  withChecks: number;
  without: number;
  result: BenchResult;
}

export async function receivePath(system: ActorSystem): Promise<ReceivePath> {
  const transport = system.transport as unknown as TransportInternals | undefined;
  const link = transport?.links.get(HOSPITAL);
  if (transport === undefined || link === undefined || typeof transport.receive !== "function") {
    throw new Error("the receive benchmark needs a transport with a link to the hospital (RemoteTransport.receive and .links)");
  }
  const plain = await system.spawn(sink, undefined, { placement: "local", name: "receive-sink", mailbox: MAILBOX });
  const guarded = await system.spawn(guardedSink, undefined, { placement: "local", name: "receive-guarded-sink", mailbox: MAILBOX });
  try {
    const encoder = createFrameCodec({ maxFrameBytes: DEFAULT_LINK.maxFrameBytes });
    const frameTo = (ref: ActorRef<SinkMsg>) =>
      encoder.encode(toRows(Array.from({ length: BATCH }, (): Envelope => ({ to: ref.path, msg: addMessage() })), false)).bytes;
    const guardedFrame = frameTo(guarded);
    const plainFrame = frameTo(plain);

    const router = system.routing;
    const local = `fed://${system.node}/`;
    const before = createFrameCodec({ maxFrameBytes: DEFAULT_LINK.maxFrameBytes, resolveRef: (path) => router.fabric.ref(path) });
    const receiveBefore = (batch: Uint8Array) => {
      const decoded = before.decode(batch);
      if (!decoded.ok) throw decoded.error;
      let problem: string | undefined;
      readRows(decoded.values, (env) => {
        if (problem !== undefined) return;
        if (!env.to.startsWith(local)) {
          problem = `envelope for ${env.to.slice(0, 80)} is not addressed to this node`;
          return;
        }
        // (Answers to temp paths went to link.answered(); these frames hold none.)
        router.inbound(env);
      }, (reason) => {
        problem ??= reason;
      });
      if (problem !== undefined) throw new Error(`malformed batch: ${problem}`);
    };
    const refuse = (reason: string) => {
      throw new Error(`the transport refused the benchmark's frame: ${reason}`);
    };

    const batchOf = (what: string, ref: ActorRef<SinkMsg>, receiveOne: () => void) => {
      let sent = 0;
      return async () => {
        for (let i = 0; i < FRAMES; i++) {
          receiveOne();
          // As between two 'data' events of the stream: the cell's drain (queued as a
          // microtask by the first envelope) runs before the next frame comes in, so the
          // messages do not pile up in the mailbox (200,000 live envelopes would make this a
          // benchmark of the garbage collector).
          await null;
        }
        sent += RECEIVED_PER_ITERATION;
        const tally = await ref.ask<Tally>((replyTo) => ({ type: "get", replyTo }), { timeoutMs: 60_000 });
        if (tally.count !== sent) throw new Error(`${what}: the receiver counted ${tally.count} messages, ${sent} were received`);
      };
    };
    const [withChecks, without] = await interleavedRates([
      {
        name: "transport.receive, stamp + checks + policy + ctx.sender",
        perIteration: RECEIVED_PER_ITERATION,
        fn: batchOf("transport.receive", guarded, () => transport.receive(HOSPITAL, link, guardedFrame, refuse)),
      },
      {
        name: "receive loop before 0417bc3, no policy",
        perIteration: RECEIVED_PER_ITERATION,
        fn: batchOf("receive loop before 0417bc3", plain, () => receiveBefore(plainFrame)),
      },
    ], ITERATIONS);
    return {
      withChecks: withChecks!,
      without: without!,
      result: compared("peer frames received, stamp + checks + policy + ctx.sender", "msg/s", withChecks!, {
        name: "the same frames, receive loop before 0417bc3 (no stamp, no checks), no policy",
        value: without!,
      }),
    };
  } finally {
    await system.stopChild("receive-sink");
    await system.stopChild("receive-guarded-sink");
  }
}

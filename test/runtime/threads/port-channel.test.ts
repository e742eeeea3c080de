import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageChannel } from "node:worker_threads";
import fc from "fast-check";
import { PortChannel, type PortLike } from "../../../runtime/threads/port-channel.ts";
import { createFrameCodec } from "../../../runtime/codec/index.ts";
import type { Envelope } from "../../../runtime/internal/envelope.ts";
import type { FedrouterError } from "../../../runtime/errors.ts";

/** The path of the envelope each test posts last: the port keeps order, so once it arrived, all did. */
const LAST = "fed://n/user/last";

function receiver() {
  const { port1, port2 } = new MessageChannel();
  const got: Envelope[] = [];
  const bad: FedrouterError[] = [];
  let lastArrived: () => void;
  const arrived = new Promise<void>((resolve) => (lastArrived = resolve));
  new PortChannel(port2 as unknown as PortLike, {
    envelope: (env) => (env.to === LAST ? lastArrived() : got.push(env)),
    malformed: (error) => bad.push(error),
    unsendable: () => undefined,
  }, { resolveRef: (path) => ({ path }) });
  /** Posts a last frame and resolves once it arrived: everything posted before it was handled. */
  const settle = () => {
    port1.postMessage({ f: createFrameCodec().encode([[LAST], [0, "last"]]).bytes });
    return arrived;
  };
  return { port1, port2, got, bad, settle, close: () => { port1.close(); port2.close(); } };
}

test("random bytes, truncated frames and non-frames on the port never throw out of the receive loop", async () => {
  const r = receiver();
  const valid = createFrameCodec().encode([["fed://n/user/a"], [0, { type: "ping", n: 1 }]]).bytes;
  const junk = fc.sample(fc.uint8Array({ maxLength: 200 }), { numRuns: 200, seed: 42 });
  for (const bytes of junk) r.port1.postMessage({ f: bytes });
  for (let cut = 0; cut < valid.length; cut++) r.port1.postMessage({ f: valid.slice(0, cut) });
  r.port1.postMessage("not a frame");
  r.port1.postMessage({ f: "not bytes" });
  r.port1.postMessage({ f: valid });
  await r.settle();
  assert.deepEqual(r.got.at(-1), { to: "fed://n/user/a", msg: { type: "ping", n: 1 } }, "a valid frame after the garbage still arrives");
  assert.ok(r.bad.length >= valid.length + 2, "each bad input was reported");
  assert.ok(r.bad.every((e) => e.code === "DECODE_ERROR" || e.code === "FRAME_TOO_LARGE"));
  r.close();
});

test("rows that are not envelopes are reported row by row; a frame without its path table is refused", async () => {
  const r = receiver();
  const codec = createFrameCodec();
  const frame = codec.encode([["fed://n/user/a", "fed://n/user/b"], 42, [0], [1, 1], [7, 1], [0, 2, 5, null, null, null]]).bytes;
  r.port1.postMessage({ f: frame });
  r.port1.postMessage({ f: codec.encode([{ to: "fed://n/user/a", msg: 1 }]).bytes });
  await r.settle();
  assert.deepEqual(r.got, [{ to: "fed://n/user/b", msg: 1 }]);
  assert.equal(r.bad.length, 5, "42, [0], an unknown path index, a non-string ask, and the table-less frame");
  r.close();
});

test("envelopes posted in one turn travel as one frame, in order", async () => {
  const { port1, port2 } = new MessageChannel();
  const frames: unknown[] = [];
  let lastArrived: () => void;
  const arrived = new Promise<void>((resolve) => (lastArrived = resolve));
  port2.on("message", (m) => (m === "last" ? lastArrived() : frames.push(m)));
  const sender = new PortChannel(port1 as unknown as PortLike, { envelope: () => undefined, malformed: () => undefined, unsendable: () => undefined }, { resolveRef: (p) => p });
  for (let i = 0; i < 100; i++) sender.post({ to: "fed://n/user/a", msg: i });
  // The batch is flushed in a microtask; a message posted one event-loop turn later follows every
  // frame of that flush on the port, so when it arrives there is no other frame still to come.
  await new Promise((resolve) => setImmediate(resolve));
  port1.postMessage("last");
  await arrived;
  assert.equal(frames.length, 1);
  const decoded = createFrameCodec().decode((frames[0] as { f: Uint8Array }).f);
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.values[0], ["fed://n/user/a"], "the path is written once per frame");
  assert.deepEqual(decoded.values.slice(1), Array.from({ length: 100 }, (_, i) => [0, i]));
  port1.close();
  port2.close();
});

test("an envelope that cannot be encoded is refused alone; the rest of its batch goes out", async () => {
  const { port1, port2 } = new MessageChannel();
  const got: Envelope[] = [];
  let thirdArrived: () => void;
  const arrived = new Promise<void>((resolve) => (thirdArrived = resolve));
  new PortChannel(port2 as unknown as PortLike, { envelope: (e) => (got.push(e), e.msg === 3 && thirdArrived()), malformed: () => undefined, unsendable: () => undefined }, { resolveRef: (p) => p });
  const refused: Envelope[] = [];
  const sender = new PortChannel(port1 as unknown as PortLike, { envelope: () => undefined, malformed: () => undefined, unsendable: (env) => refused.push(env) }, { resolveRef: (p) => p });
  sender.post({ to: "fed://n/user/a", msg: 1 });
  sender.post({ to: "fed://n/user/a", msg: { type: "bad", f: () => 1 } });
  sender.post({ to: "fed://n/user/a", msg: 3 });
  await arrived; // the last one posted: the port keeps order
  assert.deepEqual(got.map((e) => e.msg), [1, 3]);
  assert.equal(refused.length, 1);
  port1.close();
  port2.close();
});

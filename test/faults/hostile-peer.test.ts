/**
 * A peer that misbehaves after (or during) the handshake loses its stream with a reason,
 * and the node keeps serving its other peers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { ActorSystem, createFrameCodec } from "../../runtime/index.ts";
import { transportService, type WireFrame } from "../../runtime/remote/proto.ts";
import { counter, type CounterMsg } from "../fixtures/actors.ts";
import { freePorts } from "../fixtures/free-port.ts";

/** node-b's and node-c's addresses, on free ports the test asks for. */
let B = "";
let C = "";
const MAX_FRAME = 64 * 1024;

interface Outcome {
  close?: string;
  error?: string;
}

/** Opens a raw stream to the node, sends `frames` one by one, and reports how it ended. */
function hostile(frames: WireFrame[]): Promise<Outcome> {
  const Transport = transportService();
  const client = new Transport(B, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": 16 * 1024 * 1024 });
  const call = (client as unknown as { Connect(): grpc.ClientDuplexStream<WireFrame, WireFrame> }).Connect();
  const outcome: Outcome = {};
  return new Promise((resolve) => {
    const done = () => {
      client.close();
      resolve(outcome);
    };
    call.on("data", (frame: WireFrame) => {
      if (frame.close) outcome.close = frame.close.reason;
    });
    call.on("error", (error: Error) => {
      outcome.error = error.message;
      done();
    });
    call.on("end", done);
    for (const frame of frames) call.write(frame);
    setTimeout(() => {
      outcome.error ??= "still open after 3 s";
      call.cancel();
    }, 3_000).unref();
  });
}

const hello = (node_id: string, protocol_version = 1): WireFrame => ({ handshake: { protocol_version, node_id, max_frame_bytes: MAX_FRAME } });

test("unknown protocol versions, unknown nodes, garbage and oversized frames close the stream with a reason; other peers are served", async () => {
  const [portB, portC] = await freePorts(2);
  B = `127.0.0.1:${portB}`;
  C = `127.0.0.1:${portC}`;
  // node-a sorts first: it would dial, nobody dials it, so its address is never used.
  const peers = [{ id: "node-a", address: "127.0.0.1:1" }, { id: "node-b", address: B }, { id: "node-c", address: C }];
  const c = await ActorSystem.start({ node: "node-c", logLevel: "silent", remote: { listen: C, peers, security: { kind: "insecure" } } });
  const b = await ActorSystem.start({ node: "node-b", logLevel: "silent", remote: { listen: B, peers, security: { kind: "insecure" }, link: { maxFrameBytes: MAX_FRAME } } });
  try {
    await b.spawn(counter, 0, { name: "counter" });
    const fromC = c.ref<CounterMsg>("fed://node-b/user/counter");
    const refusals: string[] = [];
    b.transport!.refusals$.subscribe((r) => refusals.push(r.reason));

    assert.match((await hostile([hello("node-a", 99)])).close ?? "", /protocol version 99 is not supported/);
    assert.match((await hostile([hello("node-z")])).close ?? "", /unknown node "node-z"/);
    assert.match((await hostile([{ batch: Buffer.from("not a frame") }])).close ?? "", /first frame is not a handshake/);
    assert.match((await hostile([hello("node-a"), { batch: randomBytes(200) }])).close ?? "", /version|msgpack|frame/i);
    const wrongNode = await hostile([hello("node-a"), { batch: Buffer.from(createFrameCodec().encode([["fed://node-c/user/x"], [0, 1]]).bytes) }]);
    assert.match(wrongNode.close ?? "", /not addressed to this node/);
    const oversized = await hostile([hello("node-a"), { batch: Buffer.alloc(MAX_FRAME * 4, 1) }]);
    // Refused by gRPC itself, before a byte of it is decoded: the server's limit is maxFrameBytes.
    assert.match(oversized.error ?? "", /RESOURCE_EXHAUSTED|larger than max/i, `the oversized frame ended the stream: ${JSON.stringify(oversized)}`);
    assert.ok(refusals.length >= 5, `refusals were reported: ${refusals.join(" | ")}`);

    fromC.tell({ type: "add", n: 41 });
    fromC.tell({ type: "add", n: 1 });
    assert.equal(await fromC.ask<number>((replyTo) => ({ type: "get", replyTo }), { timeoutMs: 5_000 }), 42, "node-c is still served");
  } finally {
    await b.stop();
    await c.stop();
  }
});

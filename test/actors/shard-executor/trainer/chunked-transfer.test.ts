/**
 * Issue 13: "Updates travel chunked over the existing transport (no whole-model gRPC message; a
 * 124M update must pass)". A GPT-2-small-sized update (124,439,808 float32 values, 498 MB) goes
 * from one node to another over mTLS gRPC in the trainer protocol's chunks (TRAINER_CHUNK_WORDS,
 * 1 MiB each: 475 asks, each answered before the next, as TrainerClient sends a global model) and
 * arrives whole: every value in place, checked by a hash. The same vector as one message is
 * refused by the codec (FRAME_TOO_LARGE), never sent. No model is trained here: the trainer's own
 * chunk handling is tested with real trainers in transport.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { defineActor, type ActorRef } from "../../../../runtime/index.ts";
import { TRAINER_CHUNK_WORDS } from "../../../../actors/shard-executor/index.ts";
import { twoMtlsNodes } from "../../../fixtures/two-nodes.ts";

const GPT2_SMALL_PARAMETERS = 124_439_808;

type SinkMsg =
  | { readonly type: "chunk"; readonly index: number; readonly data: Float32Array; readonly replyTo: ActorRef<number> }
  | { readonly type: "digest"; readonly replyTo: ActorRef<string> };

const sink = defineActor<SinkMsg, number>(import.meta.url, "chunk-sink", (total) => {
  const received = new Float32Array(total);
  let next = 0;
  return {
    receive(msg) {
      if (msg.type === "chunk") {
        if (msg.index !== next) throw new Error(`chunk ${msg.index} out of order (expected ${next})`);
        received.set(msg.data, msg.index * TRAINER_CHUNK_WORDS);
        next++;
        msg.replyTo.tell(next);
        return;
      }
      msg.replyTo.tell(createHash("sha256").update(new Uint8Array(received.buffer)).digest("hex"));
    },
  };
}, { access: { chunk: ["local", "peer"], digest: ["local", "peer"] } });

test("a 124M-value update crosses mTLS gRPC in 475 chunks of 1 MiB and arrives whole; as one message it is refused before sending", { timeout: 180_000 }, async () => {
  const { a, b, stop } = await twoMtlsNodes("fedrouter-chunks-");
  try {
    await b.spawn(sink, GPT2_SMALL_PARAMETERS, { name: "sink" });
    const update = new Float32Array(GPT2_SMALL_PARAMETERS);
    for (let i = 0; i < update.length; i++) update[i] = Math.sin(i) * 1e-3;
    const expected = createHash("sha256").update(new Uint8Array(update.buffer)).digest("hex");
    const remote = a.ref<SinkMsg>("fed://node-b/user/sink");

    await assert.rejects(remote.ask<number>((replyTo) => ({ type: "chunk", index: 0, data: update, replyTo }), { timeoutMs: 30_000 }),
      (e: unknown) => (e as { code?: string }).code === "FRAME_TOO_LARGE", "the whole vector is one frame of 498 MB: refused by the codec");

    const chunks = Math.ceil(update.length / TRAINER_CHUNK_WORDS);
    assert.equal(chunks, 475);
    for (let index = 0; index < chunks; index++) {
      const data = update.subarray(index * TRAINER_CHUNK_WORDS, (index + 1) * TRAINER_CHUNK_WORDS);
      assert.equal(await remote.ask<number>((replyTo) => ({ type: "chunk", index, data, replyTo }), { timeoutMs: 30_000 }), index + 1);
    }
    assert.equal(await remote.ask<string>((replyTo) => ({ type: "digest", replyTo }), { timeoutMs: 60_000 }), expected, "every value arrived in place");
  } finally {
    await stop();
  }
});

/**
 * A CKKS round in a running federation: three hospitals launched in this process (each its own
 * actor system, LMDB, mTLS gRPC on loopback), their trainers configured with the key ceremony's
 * files (`ckks: { bundle, share }`, as `fedrouter keys ckks` writes them). h-a's Aggregator asks
 * each trainer which key it holds, has each encrypt under its own bundle, adds the ciphertexts,
 * and sends the aggregate with every contribution to t = 2 decryptors, ciphertext by ciphertext;
 * their decryption shares come back part by part. The coordinator's node never reads a key share.
 * Each contribution is signed by its hospital (Ed25519, the ceremony's keys) and checked by every
 * decryptor. A trainer refuses to encrypt under another key, or without its signing key, and a
 * decryptor refuses ciphertexts out of order or too big, and a contribution nobody signed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDevPki, type ActorRef } from "../../../../runtime/index.ts";
import { AccountantClient, type AccountantMsg } from "../../../../actors/accountant/index.ts";
import { initModel, loadGpt2Stage, trainableSpec, trainer, TrainerClient, TrainerFailed, type TrainerMsg, type TrainerReply } from "../../../../actors/shard-executor/index.ts";
import type { AggregatorMsg, TrainingConfig } from "../../../../actors/aggregator/index.ts";
import { ckks } from "../../../../secagg/index.ts";
import { defineCluster, launchHospital, type RunningHospital } from "../../../../cluster/index.ts";
import { freePorts } from "../../../fixtures/free-port.ts";
import { linksReady } from "../../../fixtures/federation-links.ts";
import { jobFinished, ONE_ROUND } from "../../../fixtures/training-job.ts";

const IDS = ["h-a", "h-b", "h-c"] as const;
const CONFIG: TrainingConfig = { ...ONE_ROUND, protection: "ckks" };

test("a CKKS round over mTLS gRPC: each trainer encrypts under its own key file, 2 of 3 decrypt the aggregate sent to them in chunks; each ledger charged once; other keys and bad chunks refused", { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-ckks-live-"));
  const running: RunningHospital[] = [];
  try {
    createDevPki(join(dir, "keys"), [...IDS]);
    const ceremony = await ckks.writeKeyCeremony(join(dir, "keys", "ckks"), [...IDS], 2);
    await initModel({ out: join(dir, "models", "base"), layers: 2, dModel: 32, heads: 2, positions: 32, vocab: "gpt2", seed: 7 });
    const ports = await freePorts(6);
    const config = defineCluster({
      name: "ckks-live",
      hospitals: IDS.map((id, i) => ({
        id, region: "eu", address: `127.0.0.1:${ports[2 * i]}`, admin: `127.0.0.1:${ports[2 * i + 1]}`,
        actors: [
          { name: "accountant" }, ...(id === "h-a" ? [{ name: "aggregator" }] : []),
          // h-c encrypts but holds no share: the two others decrypt.
          { name: "trainer", model: "models/base", coordinator: "h-a", ckks: { bundle: "keys/ckks/federation.bundle", signing: `keys/ckks/${id}.signing`, ...(id === "h-c" ? {} : { share: `keys/ckks/${id}.share` }) } },
        ],
      })),
      privacy: { departments: { training: 50, general: 5 } },
    });
    for (const id of IDS) running.push(await launchHospital({ config, hospital: id, baseDir: dir, logLevel: "error" }));
    const [a] = running as [RunningHospital];
    await linksReady(running);
    const client = (id: string) => new TrainerClient(id, a.system.ref<TrainerMsg>(`fed://${id}/user/node/trainer`), 30_000);
    const held = await Promise.all(IDS.map((id) => client(id).ckksKey()));
    assert.deepEqual(held.map((k) => [k?.keyId, k?.index]), [[ceremony.keyId, 1], [ceremony.keyId, 2], [ceremony.keyId, null]], "each trainer read its own files");

    // A trainer encrypts only under the key it read from its own disk, whatever a coordinator sends.
    const other = await ckks.dealThresholdKeys({ parties: 3, threshold: 2 });
    await assert.rejects(client("h-b").encrypt("round-x", other.bundle), (e: unknown) => e instanceof TrainerFailed && /encrypts only under its federation key/.test(e.message));
    // Ciphertexts for a decryptor: in order, of this hospital's length, no bigger than a ciphertext.
    const ask = <T>(id: string, make: (replyTo: ActorRef<TrainerReply<T>>) => TrainerMsg) => a.system.ref<TrainerMsg>(`fed://${id}/user/node/trainer`).ask<TrainerReply<T>>(make as never, { timeoutMs: 30_000 });
    const { slots, ciphertextBytes } = ckks.checkParameters(ckks.DEFAULT_CKKS_PARAMETERS);
    const bad = [
      { of: 1, index: 0, note: "a contribution before the aggregate" },
      { of: 0, index: 1, note: "the second ciphertext first" },
      { of: 0, index: 0, length: 5, note: "an update of the wrong length" },
      { of: 0, index: 0, data: new Uint8Array(ciphertextBytes + 1), note: "more bytes than a ciphertext" },
    ];
    const size = trainableSpec((await loadGpt2Stage(join(dir, "models", "base"))).config, { kind: "last", blocks: 1, head: false }).size;
    assert.ok(Math.ceil(size / slots) >= 2, "the update spans several ciphertexts");
    for (const b of bad) {
      const length = b.length ?? size;
      const reply = await ask<number>("h-b", (replyTo) => ({
        type: "decrypt-chunk", roundId: "round-x", of: b.of, index: b.index, count: Math.ceil(length / slots), length, data: b.data ?? new Uint8Array(16), replyTo,
      }));
      assert.equal(reply.type, "failed", b.note);
      if (reply.type === "failed") assert.equal(reply.code, "ROUND_STATE", `${b.note}: ${reply.message}`);
    }
    // In order, every ciphertext is taken (its bytes are SEAL's to judge when the aggregate is
    // verified); a contribution without its hospital's signature is refused before any key is used.
    const count = Math.ceil(size / slots);
    for (const of of [0, 1]) {
      for (let index = 0; index < count; index++) {
        const taken = await ask<number>("h-b", (replyTo) => ({ type: "decrypt-chunk", roundId: "round-x", of, index, count, length: size, data: Uint8Array.of(of, index, 7), replyTo }));
        assert.deepEqual(taken, { type: "ok", value: index + 1 });
      }
    }
    const unsigned = await ask<unknown>("h-b", (replyTo) => ({ type: "decryption-share", roundId: "round-x", decryptors: [1, 2], contributions: 1, replyTo }));
    assert.equal((unsigned as { code?: string }).code, "CKKS_AGGREGATE_UNVERIFIED", JSON.stringify(unsigned));
    assert.match((unsigned as { message: string }).message, /contributions\[0\] carries no hospital's signature/);
    // A trainer of this federation without its signing key refuses to encrypt (nothing is spent).
    await running[1]!.system.spawn(trainer, { modelDir: join(dir, "models", "base"), coordinator: "h-a", ckks: { bundle: ceremony.bundle, share: ceremony.shares["h-b"]!.file } }, { name: "trainer-unsigned" });
    const unsignedTrainer = new TrainerClient("h-b", a.system.ref<TrainerMsg>("fed://h-b/user/trainer-unsigned"), 30_000);
    await assert.rejects(unsignedTrainer.encrypt("round-x", ckks.readBundleFile(ceremony.bundle)),
      (e: unknown) => e instanceof TrainerFailed && /has no signing key/.test(e.message));

    const aggregator = a.system.ref<AggregatorMsg>("fed://h-a/user/node/aggregator");
    const askAggregator = <T>(make: (replyTo: ActorRef<T>) => AggregatorMsg) => aggregator.ask<T>(make as never, { timeoutMs: 30_000 });
    const request = { hospitals: [...IDS], modelDir: join(dir, "models", "base"), outDir: join(dir, "models", "trained"), ckksBundle: ceremony.bundle, config: CONFIG };
    // Without the bundle the job is refused before anyone trains.
    const { ckksBundle: _, ...unkeyed } = request;
    assert.equal((await askAggregator<{ type: string }>((replyTo) => ({ type: "train", request: unkeyed, replyTo }))).type, "started");
    const refused = await jobFinished(askAggregator);
    assert.deepEqual([refused.state, refused.error?.code], ["failed", "TRAINING_REFUSED"], JSON.stringify(refused.error));

    assert.equal((await askAggregator<{ type: string }>((replyTo) => ({ type: "train", request, replyTo }))).type, "started");
    const status = await jobFinished(askAggregator);
    assert.equal(status.state, "done", JSON.stringify(status.error ?? status.events.slice(-3)));
    assert.equal(status.outcome?.applied, 1);
    const applied = status.events.find((e) => e.type === "round-applied");
    assert.ok(applied !== undefined && applied.type === "round-applied" && applied.contributors === 3, JSON.stringify(status.events));
    const meta = JSON.parse(readFileSync(join(dir, "models", "trained", "fedrouter_training.json"), "utf8")) as { algorithm: string };
    assert.match(meta.algorithm, /CKKS/);

    for (const [i, id] of IDS.entries()) {
      const history = await new AccountantClient(running[i]!.system.ref<AccountantMsg>(`fed://${id}/user/node/accountant`), 15_000).history("federated-training");
      assert.equal(history.type, "history");
      if (history.type === "history") assert.deepEqual(history.charges.map((c) => c.state), ["committed"], `${id}: one committed charge`);
    }
  } finally {
    for (const node of running.reverse()) await node.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

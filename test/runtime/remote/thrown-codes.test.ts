import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActorCrashed, ActorSystem, RemoteError } from "../../../runtime/index.ts";
import { createDevPki, readTlsFiles } from "../../../runtime/remote/dev-certs.ts";
import { ShelfEmpty, thrower, type ThrowerMsg } from "../../fixtures/coded-errors.ts";
import { until } from "../../fixtures/cluster-processes.ts";
import { freePorts } from "../../fixtures/free-port.ts";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "fedrouter-thrown-"));
  createDevPki(join(dir, "pki"), ["node-a", "node-b"]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const mtls = (id: string) => readTlsFiles(join(dir, "pki", "ca.crt"), join(dir, "pki", `${id}.crt`), join(dir, "pki", `${id}.key`));

test("an error thrown by an actor on another node reaches the asker over mutual TLS with its code: its class when registered, a RemoteError when not", async () => {
  const [portA, portB] = await freePorts(2);
  const peers = [{ id: "node-a", address: `127.0.0.1:${portA}` }, { id: "node-b", address: `127.0.0.1:${portB}` }];
  const b = await ActorSystem.start({ node: "node-b", logLevel: "silent", remote: { listen: `127.0.0.1:${portB}`, peers, security: mtls("node-b") } });
  const a = await ActorSystem.start({ node: "node-a", logLevel: "silent", remote: { listen: `127.0.0.1:${portA}`, peers, security: mtls("node-a") } });
  try {
    await b.spawn(thrower, undefined, { name: "thrower", placement: "worker" });
    await until(() => a.transport!.peers()[0]!.up && b.transport!.peers()[0]!.up, "both links up");
    const remote = a.ref<ThrowerMsg>("fed://node-b/user/thrower");
    const ask = (what: "registered" | "unregistered" | "unsendable") => remote.ask<never>((replyTo) => ({ type: "throw", what, replyTo }), { timeoutMs: 10_000 });

    await assert.rejects(ask("registered"), (error: unknown) => {
      assert.ok(error instanceof ActorCrashed && error.target === "fed://node-b/user/thrower");
      assert.equal(error.causeCode, "TEST_SHELF_EMPTY");
      assert.ok(error.cause instanceof ShelfEmpty, "rebuilt into its class on node-a");
      assert.deepStrictEqual(error.cause.toJSON(), new ShelfEmpty("7", 250).toJSON());
      return true;
    });
    await assert.rejects(ask("unregistered"), (error: unknown) => {
      assert.ok(error instanceof ActorCrashed && error.cause instanceof RemoteError);
      assert.equal(error.cause.code, "TEST_UNLISTED");
      assert.equal(error.cause.message, "unlisted after 3 tries");
      assert.deepStrictEqual(error.cause.fields.detail, { why: "never registered" });
      return true;
    });
    await assert.rejects(ask("unsendable"), (error: unknown) => error instanceof ActorCrashed && error.causeCode === "TEST_SHELF_EMPTY" && error.cause === undefined);
  } finally {
    await a.stop();
    await b.stop();
  }
});

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { firstValueFrom } from "rxjs";
import { ActorSystem, PeerUnavailable, type RemoteSecurity } from "../../../runtime/index.ts";
import { createDevPki, readTlsFiles } from "../../../runtime/remote/dev-certs.ts";
import { counter, type CounterMsg } from "../../fixtures/actors.ts";
import { until } from "../../fixtures/cluster-processes.ts";
import { freePorts } from "../../fixtures/free-port.ts";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "fedrouter-remote-"));
  createDevPki(join(dir, "pki"), ["node-a", "node-b", "node-c"]);
  createDevPki(join(dir, "rogue"), ["node-b"], { caName: "rogue CA" });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function mtls(id: string, pki = "pki") {
  return readTlsFiles(join(dir, pki, "ca.crt"), join(dir, pki, `${id}.crt`), join(dir, pki, `${id}.key`));
}

async function pair(securityA: RemoteSecurity, securityB: RemoteSecurity) {
  const [portA, portB] = await freePorts(2);
  const peers = [{ id: "node-a", address: `127.0.0.1:${portA}` }, { id: "node-b", address: `127.0.0.1:${portB}` }];
  const b = await ActorSystem.start({ node: "node-b", logLevel: "silent", remote: { listen: `127.0.0.1:${portB}`, peers, security: securityB } });
  const a = await ActorSystem.start({ node: "node-a", logLevel: "silent", remote: { listen: `127.0.0.1:${portA}`, peers, security: securityA } });
  return { a, b };
}

/**
 * Resolves once node-a's dials to node-b have failed `count` times (each failed dial is a failure
 * on node-a's breaker for node-b). A refused stream is a dial that ended: when it has happened
 * twice, node-b had its chance to accept one twice, so "node-b is not up" is then a fact, not a
 * guess after a sleep.
 */
function failedDials(a: ActorSystem, count: number): Promise<void> {
  return until(() => {
    const breaker = a.breakers.get("fed://node-b").snapshot();
    return breaker.callsInWindow >= count && breaker.failureRate === 1;
  }, `${count} failed dials from node-a to node-b`);
}


test("tell and ask cross nodes over mutual TLS, in order, both directions", async () => {
  const { a, b } = await pair(mtls("node-a"), mtls("node-b"));
  try {
    const onB = await b.spawn(counter, 0, { name: "counter" });
    const onA = await a.spawn(counter, 100, { name: "counter" });
    await until(() => a.transport!.peers()[0]!.up && b.transport!.peers()[0]!.up, "both links up");
    const remoteOnB = a.ref<CounterMsg>("fed://node-b/user/counter");
    for (let i = 1; i <= 500; i++) remoteOnB.tell({ type: "add", n: i });
    assert.equal(await remoteOnB.ask<number>((replyTo) => ({ type: "get", replyTo })), 125_250);
    assert.equal(await onB.ask<number>((replyTo) => ({ type: "get", replyTo })), 125_250);
    assert.equal(await b.ref<CounterMsg>("fed://node-b/user/counter").ask<number>((replyTo) => ({ type: "get", replyTo })), 125_250);
    const remoteOnA = b.ref<CounterMsg>("fed://node-a/user/counter");
    assert.equal(await remoteOnA.ask<number>((replyTo) => ({ type: "get", replyTo })), 100);
    void onA;
  } finally {
    await a.stop();
    await b.stop();
  }
});

test("a certificate from another CA is refused; a valid certificate claiming another node's id is refused and logged", async () => {
  // node-a presents a certificate signed by a rogue CA.
  const rogue = { ...mtls("node-b", "rogue"), caPem: mtls("node-a").caPem };
  const { a, b } = await pair(rogue, mtls("node-b"));
  try {
    await failedDials(a, 2);
    assert.equal(b.transport!.peers()[0]!.up, false, "no stream from a foreign CA");
  } finally {
    await a.stop();
    await b.stop();
  }
  // node-c's genuine certificate used by a process claiming to be node-a.
  const { a: a2, b: b2 } = await pair(mtls("node-c"), mtls("node-b"));
  try {
    const refusal = await firstValueFrom(b2.transport!.refusals$);
    assert.match(refusal.reason, /certificate identity "node-c" does not match the claimed node "node-a"/);
    assert.equal(b2.transport!.peers()[0]!.up, false);
  } finally {
    await a2.stop();
    await b2.stop();
  }
});

test("a plaintext client is refused by a TLS node", async () => {
  const { a, b } = await pair({ kind: "insecure" }, mtls("node-b"));
  try {
    await failedDials(a, 2);
    assert.equal(b.transport!.peers()[0]!.up, false);
    await assert.rejects(a.ref<CounterMsg>("fed://node-b/user/counter").ask<number>((replyTo) => ({ type: "get", replyTo })), PeerUnavailable);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test("dials that failed while the cluster was forming are not held against a peer once it answers: its first stream starts a fresh breaker window", { timeout: 60_000 }, async () => {
  // Found by a three-hospital training round (test/actors/shard-executor/trainer/transport.test.ts):
  // the last hospital to start had several failed dials in its breaker's window, the first healthy asks
  // brought the window to its 10 calls, and the breaker opened on a peer that answered them all.
  const [portA, portB] = await freePorts(2);
  const peers = [{ id: "node-a", address: `127.0.0.1:${portA}` }, { id: "node-b", address: `127.0.0.1:${portB}` }];
  // A dial a second: node-b is up (within the ~5 s before a 10th failed dial, even on a loaded
  // machine) before the window holds 10 calls (at 10, all failed, the breaker would rightly open
  // on a peer that stays down). 5 failures then make half of the first 10 calls once it answers.
  const reconnect = { minMs: 1_000, maxMs: 1_000, jitter: 0 };
  const a = await ActorSystem.start({ node: "node-a", logLevel: "silent", remote: { listen: `127.0.0.1:${portA}`, peers, security: mtls("node-a"), reconnect } });
  let b: ActorSystem | undefined;
  try {
    await failedDials(a, 5);
    b = await ActorSystem.start({ node: "node-b", logLevel: "silent", remote: { listen: `127.0.0.1:${portB}`, peers, security: mtls("node-b"), reconnect } });
    await b.spawn(counter, 0, { name: "counter" });
    await until(() => a.transport!.peers()[0]!.up, "node-a's link to node-b up", 20_000);
    const remote = a.ref<CounterMsg>("fed://node-b/user/counter");
    for (let i = 0; i < 15; i++) assert.equal(await remote.ask<number>((replyTo) => ({ type: "get", replyTo })), 0, `ask ${i + 1} answered`);
    assert.equal(a.breakers.get("fed://node-b").state, "closed");
  } finally {
    await a.stop();
    await b?.stop();
  }
});

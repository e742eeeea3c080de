/**
 * Issue 15, finding 3: an accepted stream for a peer used to replace that peer's live stream; when
 * the newcomer closed (garbage, or a polite Close), the acceptor had no stream to the peer while
 * the peer's own stream stayed open, so it never redialed and every answer to it was lost. Now one
 * stream per pair: the node whose id sorts first dials, the other refuses streams from a node it
 * should be dialing, an acceptor that takes a newer stream closes the older one (so its dialer
 * redials), and a link with no usable stream says so in `peers()`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ActorSystem, type Refusal } from "../../runtime/index.ts";
import { createDevPki, readTlsFiles } from "../../runtime/remote/dev-certs.ts";
import { PROTOCOL_VERSION, transportService, type WireFrame } from "../../runtime/remote/proto.ts";
import { counter, type CounterMsg } from "../fixtures/actors.ts";
import { until } from "../fixtures/cluster-processes.ts";
import { freePorts } from "../fixtures/free-port.ts";

function connectAs(dir: string, id: string, port: number, serverId: string): grpc.ClientDuplexStream<WireFrame, WireFrame> {
  const { caPem, keyPem, certPem } = readTlsFiles(join(dir, "ca.crt"), join(dir, `${id}.crt`), join(dir, `${id}.key`));
  const Transport = transportService();
  const client = new Transport(`127.0.0.1:${port}`, grpc.credentials.createSsl(caPem, keyPem, certPem), { "grpc.ssl_target_name_override": serverId });
  const call = (client as unknown as { Connect(): grpc.ClientDuplexStream<WireFrame, WireFrame> }).Connect();
  call.on("error", () => undefined);
  call.on("data", () => undefined);
  call.on("end", () => client.close());
  return call;
}

test("a second stream claiming a linked peer (then sending garbage) does not leave the link dead: the pair recovers and asks flow both ways", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-hijack-"));
  createDevPki(dir, ["node-a", "node-b"]);
  const tls = (id: string) => readTlsFiles(join(dir, "ca.crt"), join(dir, `${id}.crt`), join(dir, `${id}.key`));
  const [PORT_A, PORT_B] = (await freePorts(2)) as [number, number];
  const peers = [{ id: "node-a", address: `127.0.0.1:${PORT_A}` }, { id: "node-b", address: `127.0.0.1:${PORT_B}` }];
  const b = await ActorSystem.start({ node: "node-b", logLevel: "silent", remote: { listen: `127.0.0.1:${PORT_B}`, peers, security: tls("node-b") } });
  const a = await ActorSystem.start({ node: "node-a", logLevel: "silent", remote: { listen: `127.0.0.1:${PORT_A}`, peers, security: tls("node-a") } });
  try {
    await a.spawn(counter, 7, { name: "counter" });
    await b.spawn(counter, 9, { name: "counter" });
    const linkUp = () => a.transport!.peers()[0]!.up && b.transport!.peers()[0]!.up;
    await until(linkUp, "link up");
    const fromB = b.ref<CounterMsg>("fed://node-a/user/counter");
    assert.equal(await fromB.ask<number>((replyTo) => ({ type: "get", replyTo })), 7);

    // node-a dials node-b (it sorts first); a second stream to node-b claiming node-a (the
    // certificate is node-a's: a restart of node-a, or a stolen key) handshakes, then misbehaves.
    const hijack = connectAs(dir, "node-a", PORT_B, "node-b");
    const accepted = new Promise<WireFrame>((resolve) => hijack.once("data", resolve));
    hijack.write({ handshake: { protocol_version: PROTOCOL_VERSION, node_id: "node-a", max_frame_bytes: 1 << 20 } });
    // node-b answers a handshake it accepts with its own: from then on the newcomer is its stream to node-a.
    assert.equal((await accepted).handshake?.node_id, "node-b");
    hijack.write({ batch: Buffer.from([0xc1, 0xc1, 0xc1]) }); // not msgpack: node-b closes that stream
    hijack.end();

    // Whatever the newcomer did, node-b gets a usable stream to node-a back, and answers reach it.
    await until(linkUp, "link up again after the hijack", 20_000);
    let answered: number | Error = new Error("not asked");
    for (let i = 0; i < 40; i++) {
      answered = await fromB.ask<number>((replyTo) => ({ type: "get", replyTo }), { timeoutMs: 2_000 }).catch((e: Error) => e);
      if (typeof answered === "number") break;
      // The ask met a stream on its way down (the pair settles on one stream): ask again once the link is up.
      await until(linkUp, "link up before asking again", 20_000);
    }
    assert.equal(answered, 7, `node-b → node-a after the hijack: ${answered instanceof Error ? answered.message : answered}`);
    assert.equal(await a.ref<CounterMsg>("fed://node-b/user/counter").ask<number>((replyTo) => ({ type: "get", replyTo })), 9);
  } finally {
    await a.stop();
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a node refuses a stream from a peer it should be dialing (ids sort: the first one dials), with the reason", { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-tiebreak-"));
  createDevPki(dir, ["node-a", "node-b"]);
  const tls = (id: string) => readTlsFiles(join(dir, "ca.crt"), join(dir, `${id}.crt`), join(dir, `${id}.key`));
  const [PORT_A] = (await freePorts(1)) as [number];
  // node-a dials node-b; no node-b runs here: an address where nothing listens, so each dial fails.
  const peers = [{ id: "node-a", address: `127.0.0.1:${PORT_A}` }, { id: "node-b", address: "127.0.0.1:1" }];
  const a = await ActorSystem.start({ node: "node-a", logLevel: "silent", remote: { listen: `127.0.0.1:${PORT_A}`, peers, security: tls("node-a") } });
  const refusals: Refusal[] = [];
  a.transport!.refusals$.subscribe((r) => refusals.push(r));
  try {
    const call = connectAs(dir, "node-b", PORT_A, "node-a");
    call.write({ handshake: { protocol_version: PROTOCOL_VERSION, node_id: "node-b", max_frame_bytes: 1 << 20 } });
    await until(() => refusals.length > 0, "refusal");
    assert.equal(refusals[0]!.peer, "node-b");
    assert.match(refusals[0]!.reason, /node-a dials node-b/);
    assert.equal(a.transport!.peers()[0]!.up, false);
    call.end();
  } finally {
    await a.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

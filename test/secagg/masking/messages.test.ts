import { test } from "node:test";
import assert from "node:assert/strict";
import { errorFromWire } from "../../../errors/index.ts";
import {
  BelowThreshold, DuplicateMaskingMessage, InvalidMaskingMessage, InvalidMaskingParameter, InvalidUpdate, MaskingClient, MaskingOutOfOrder, MaskingSenderMismatch, MaskingServer,
  OverflowRisk, ReconstructionFailed, ShareDecryptionFailed, UnknownMaskingSender,
  type ClientMessage, type KeyDirectory, type MaskingParams, type ShareInbox, type UnmaskRequest,
} from "../../../secagg/index.ts";
import { agree, generateX25519, open, seal, shareChannel } from "../../../secagg/masking/keys.ts";
import { clientIds } from "./round.ts";

const D = 16;
const params: MaskingParams = { roundId: "msg-round", maxClients: 5, threshold: 3, dimension: D, clipNorm: 1 };
const update = () => new Float32Array(D).fill(0.1);

interface Started { server: MaskingServer; clients: MaskingClient[] }
interface Reached {
  advertised: Started;
  directory: Started & { directory: KeyDirectory };
  inboxes: Started & { directory: KeyDirectory; inboxes: ShareInbox[] };
  request: Started & { directory: KeyDirectory; inboxes: ShareInbox[]; request: UnmaskRequest };
}

/** A round driven up to the stage asked for, with its parts exposed for tampering. */
async function roundAt<S extends keyof Reached>(stage: S, n = 5): Promise<Reached[S]> {
  const server = new MaskingServer(params);
  const clients = clientIds(n).map((id) => new MaskingClient(params, id));
  for (const c of clients) server.receive(c.advertise(), c.clientId);
  if (stage === "advertised") return { server, clients } as Reached[S];
  const directory = server.keyDirectory();
  if (stage === "directory") return { server, clients, directory } as Reached[S];
  for (const c of clients) server.receive(await c.shareKeys(directory), c.clientId);
  const inboxes = server.shareInboxes();
  if (stage === "inboxes") return { server, clients, directory, inboxes } as Reached[S];
  for (const c of clients) server.receive(c.maskInput(inboxes.find((i) => i.clientId === c.clientId)!, update()), c.clientId);
  return { server, clients, directory, inboxes, request: server.unmaskRequest() } as Reached[S];
}

test("the server refuses malformed advertisements with SECAGG_INVALID_MESSAGE naming the field, and keeps nothing of them", () => {
  const server = new MaskingServer(params);
  const good = new MaskingClient(params, "h-01").advertise();
  const cases: [string, unknown][] = [
    ["roundId", { ...good, roundId: "another-round" }],
    ["encryptionKey", { ...good, encryptionKey: good.encryptionKey.subarray(0, 31) }],
    ["maskingKey", { ...good, maskingKey: "not bytes" }],
    ["clientId", { ...good, clientId: "has space" }],
    ["type", { ...good, type: "secagg.somethingElse" }],
    ["maskingKey", { ...good, maskingKey: good.encryptionKey }],
  ];
  for (const [field, message] of cases) {
    assert.throws(() => server.receive(message as ClientMessage), (e: unknown) => e instanceof InvalidMaskingMessage && e.field === field && e.code === "SECAGG_INVALID_MESSAGE", field);
  }
  assert.throws(() => server.receive(null as unknown as ClientMessage), InvalidMaskingMessage);
  server.receive(good);
  assert.throws(() => server.receive(good), DuplicateMaskingMessage);
  assert.throws(() => server.receive({ ...new MaskingClient(params, "h-02").advertise(), maskingKey: good.maskingKey }), (e: unknown) => e instanceof InvalidMaskingMessage && /repeat a key h-01/.test(e.message));
});

test("a message whose clientId is not the sender the transport authenticated is SECAGG_SENDER_MISMATCH", () => {
  const server = new MaskingServer(params);
  assert.throws(() => server.receive(new MaskingClient(params, "h-01").advertise(), "h-02"), MaskingSenderMismatch);
});

test("messages of another stage, from clients not in the round, or twice, are refused with their own codes", async () => {
  const { server, clients, directory } = await roundAt("directory");
  const outsider = new MaskingClient(params, "h-99");
  assert.throws(() => server.receive(outsider.advertise()), MaskingOutOfOrder, "round 0 is closed");
  const shared = await clients[0]!.shareKeys(directory);
  server.receive(shared);
  assert.throws(() => server.receive(shared), DuplicateMaskingMessage);
  assert.throws(() => server.receive({ ...shared, clientId: "h-99" }), UnknownMaskingSender);
  assert.throws(() => server.receive({ type: "secagg.maskedInput", roundId: params.roundId, clientId: "h-01", masked: new Uint32Array(D) }), MaskingOutOfOrder);
  // The client's steps are ordered too.
  assert.throws(() => clients[1]!.maskInput({ type: "secagg.shareInbox", roundId: params.roundId, clientId: "h-02", survivors: [], shares: [] }, update()), MaskingOutOfOrder);
});

test("shared keys must carry one sealed share for each neighbour, of the sealed size, and a 32-byte commitment", async () => {
  const { server, clients, directory } = await roundAt("directory");
  const shared = await clients[0]!.shareKeys(directory);
  const cases: [string, unknown][] = [
    ["shares", { ...shared, shares: shared.shares.slice(1) }],
    ["shares", { ...shared, shares: [...shared.shares.slice(1), { ...shared.shares[1]! }] }],
    ["shares", { ...shared, shares: [...shared.shares.slice(1), { to: "h-77", sealed: shared.shares[0]!.sealed }] }],
    ["shares[0].sealed", { ...shared, shares: [{ ...shared.shares[0]!, sealed: shared.shares[0]!.sealed.subarray(1) }, ...shared.shares.slice(1)] }],
    ["selfMaskCommitment", { ...shared, selfMaskCommitment: new Uint8Array(31) }],
  ];
  for (const [field, message] of cases) {
    assert.throws(() => server.receive(message as ClientMessage), (e: unknown) => e instanceof InvalidMaskingMessage && e.field === field, field);
  }
  server.receive(shared); // the refusals kept nothing: the genuine message is still accepted
});

test("masked inputs must be a Uint32Array of length d", async () => {
  const { server } = await roundAt("inboxes");
  const base = { type: "secagg.maskedInput", roundId: params.roundId, clientId: "h-01" } as const;
  assert.throws(() => server.receive({ ...base, masked: new Uint32Array(D - 1) }), (e: unknown) => e instanceof InvalidMaskingMessage && e.field === "masked");
  assert.throws(() => server.receive({ ...base, masked: new Float32Array(D) as unknown as Uint32Array }), (e: unknown) => e instanceof InvalidMaskingMessage && e.field === "masked");
  server.receive({ ...base, masked: new Uint32Array(D) });
});

test("a client refuses a directory that omits it, swaps its keys, repeats a key, or lists fewer than t clients", async () => {
  const { directory } = await roundAt("directory");
  const fresh = async (mutate: (d: KeyDirectory) => KeyDirectory) => {
    const { clients, directory: own } = await roundAt("directory");
    return clients[0]!.shareKeys(mutate(own));
  };
  await assert.rejects(fresh((d) => ({ ...d, clients: d.clients.slice(1) })), (e: unknown) => e instanceof InvalidMaskingMessage && /omits h-01/.test(e.message));
  await assert.rejects(fresh((d) => ({ ...d, clients: [{ ...d.clients[0]!, maskingKey: directory.clients[1]!.maskingKey }, ...d.clients.slice(1)] })), InvalidMaskingMessage);
  await assert.rejects(fresh((d) => ({ ...d, clients: [{ ...d.clients[0]!, maskingKey: generateX25519().publicKey }, ...d.clients.slice(1)] })), (e: unknown) => e instanceof InvalidMaskingMessage && /other keys for h-01/.test(e.message));
  await assert.rejects(fresh((d) => ({ ...d, clients: [d.clients[0]!, { ...d.clients[1]!, maskingKey: d.clients[2]!.maskingKey }, ...d.clients.slice(2)] })), (e: unknown) => e instanceof InvalidMaskingMessage && /repeats a public key/.test(e.message));
  await assert.rejects(fresh((d) => ({ ...d, clients: d.clients.slice(0, 2) })), BelowThreshold);
  await assert.rejects(fresh((d) => ({ ...d, roundId: "other" })), (e: unknown) => e instanceof InvalidMaskingMessage && e.field === "roundId");
  // A low-order point (here 0) as a peer key makes X25519 refuse: a typed error, not a crash.
  await assert.rejects(fresh((d) => ({ ...d, clients: [d.clients[0]!, { ...d.clients[1]!, maskingKey: new Uint8Array(32) }, ...d.clients.slice(2)] })), InvalidMaskingMessage);
});

test("a sealed share altered or sent to the wrong client does not open: SECAGG_DECRYPTION_FAILED, and no masked input is sent", async () => {
  for (const tamper of ["flip", "swap"] as const) {
    const { clients, inboxes } = await roundAt("inboxes");
    const inbox = inboxes.find((i) => i.clientId === "h-01")!;
    let forged: ShareInbox;
    if (tamper === "flip") {
      const sealed = Uint8Array.from(inbox.shares[0]!.sealed);
      sealed[20]! ^= 1;
      forged = { ...inbox, shares: [{ ...inbox.shares[0]!, sealed }, ...inbox.shares.slice(1)] };
    } else {
      // h-02's share for h-03, relabelled as h-02's share for h-01.
      const other = inboxes.find((i) => i.clientId === "h-03")!.shares.find((s) => s.from === "h-02")!;
      forged = { ...inbox, shares: inbox.shares.map((s) => (s.from === "h-02" ? other : s)) };
    }
    assert.throws(() => clients[0]!.maskInput(forged, update()), (e: unknown) => e instanceof ShareDecryptionFailed && e.to === "h-01", tamper);
    assert.throws(() => clients[0]!.maskInput(inbox, update()), MaskingOutOfOrder, "a client that refused takes no further part");
  }
});

test("a share sealed for v opens only with v's key: the server's, or another client's, key fails to decrypt it", async () => {
  const [u, v, w, server] = [generateX25519(), generateX25519(), generateX25519(), generateX25519()];
  const plaintext = new Uint8Array(66).fill(7);
  const channel = shareChannel(agree(u.privateKey, v.publicKey), "r", "u", "v");
  const sealed = seal(channel.key, channel.aad, plaintext);
  const byV = shareChannel(agree(v.privateKey, u.publicKey), "r", "u", "v");
  assert.deepEqual(open(byV.key, byV.aad, sealed), plaintext);
  for (const intruder of [w, server]) {
    const guess = shareChannel(agree(intruder.privateKey, u.publicKey), "r", "u", "v");
    assert.equal(open(guess.key, guess.aad, sealed), null);
  }
  // Right key, other context (another round, or relabelled ids): fails too.
  for (const [round, from, to] of [["r2", "u", "v"], ["r", "w", "v"], ["r", "u", "w"]] as const) {
    assert.equal(open(byV.key, shareChannel(agree(v.privateKey, u.publicKey), round, from, to).aad, sealed), null);
  }
  // And on a real round: the server, holding every public key and its own key pair, cannot open a share it relays.
  const { inboxes, directory } = await roundAt("inboxes");
  const relayed = inboxes.find((i) => i.clientId === "h-01")!.shares[0]!;
  const sender = directory.clients.find((c) => c.clientId === relayed.from)!;
  const attempt = shareChannel(agree(server.privateKey, sender.encryptionKey), params.roundId, relayed.from, "h-01");
  assert.equal(open(attempt.key, attempt.aad, relayed.sealed), null);
});

test("a client reveals one kind of share per owner; a reveal that names a survivor's key share is refused", async () => {
  const { server, clients, request } = await roundAt("request");
  const dropped: UnmaskRequest = { ...request, survivors: request.survivors.filter((id) => id !== "h-05") };
  // The server pretends h-05 dropped for h-01 only: h-01 gives h-05's key share and no b-share of it.
  const reveal = clients[0]!.unmask(dropped);
  assert.deepEqual(reveal.keyShares.map((s) => s.owner), ["h-05"]);
  assert.ok(!reveal.selfMaskShares.some((s) => s.owner === "h-05"));
  assert.throws(() => server.receive(reveal), (e: unknown) => e instanceof InvalidMaskingMessage && e.field === "selfMaskShares");
  assert.throws(() => clients[0]!.unmask(request), MaskingOutOfOrder, "and it never answers a second unmask request");
  // A client refuses a survivor list below t, or one naming a client that never shared keys.
  await assert.rejects((async () => (await roundAt("request")).clients[1]!.unmask({ ...request, survivors: ["h-01", "h-02"] }))(), BelowThreshold);
  await assert.rejects((async () => (await roundAt("request")).clients[1]!.unmask({ ...request, survivors: [...request.survivors, "h-42"] }))(), InvalidMaskingMessage);
});

test("a revealed share that was altered makes the round fail with SECAGG_RECONSTRUCTION_FAILED, never a wrong sum", async () => {
  const { server, clients, request } = await roundAt("request");
  for (const c of clients) {
    const reveal = c.unmask(request);
    if (c.clientId !== "h-01") {
      server.receive(reveal);
      continue;
    }
    const bad = reveal.selfMaskShares.map((s) => ({ owner: s.owner, share: Uint8Array.from(s.share).fill(9, 0, 32) }));
    server.receive({ ...reveal, selfMaskShares: bad });
  }
  await assert.rejects(server.result(), (e: unknown) => e instanceof ReconstructionFailed && e.secret === "selfMask");
  assert.equal(server.stage, "failed");
});

test("every masking error crosses the wire as its own class with its fields", () => {
  const errors = [
    new InvalidMaskingParameter("threshold", "2", "r"), new OverflowRisk(10, 1, 30, 1e10), new InvalidUpdate("h-1", "r"), new InvalidMaskingMessage("shareKeys", "h-1", "shares", "r"),
    new DuplicateMaskingMessage("maskedInput", "h-1"), new UnknownMaskingSender("unmasking", "h-1", "r"), new MaskingSenderMismatch("advertiseKeys", "a", "b"),
    new MaskingOutOfOrder("server", "s", "done"), new BelowThreshold("unmasking", 2, 3), new BelowThreshold("unmasking", 1, 3, "h-2"), new ShareDecryptionFailed("a", "b"),
    new ReconstructionFailed("h-1", "maskingKey", "r"),
  ];
  for (const error of errors) {
    const wire = JSON.parse(JSON.stringify(error));
    const rebuilt = errorFromWire(wire);
    assert.equal(rebuilt.constructor, error.constructor, error.code);
    assert.deepEqual(JSON.parse(JSON.stringify(rebuilt)), wire);
  }
});

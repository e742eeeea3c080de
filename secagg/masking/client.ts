/**
 * One client's side of pairwise-masking secure aggregation (Bonawitz et al., CCS 2017; SecAgg+
 * of Bell et al., CCS 2020 with `neighbours`): a state machine whose every step takes the
 * server's last message and returns the client's next one. Never reveals, for any peer, both
 * its share of the peer's self-mask seed and its share of the peer's masking key; never sends a
 * masked input before every share sealed for it has opened; never answers a step out of order.
 *
 *   const client = new MaskingClient(params, "h-1");
 *   server.receive(client.advertise());
 *   server.receive(await client.shareKeys(directory));
 *   server.receive(client.maskInput(inbox, clippedUpdate));
 *   server.receive(client.unmask(unmaskRequest));
 *
 * A client that refuses a message (any thrown error) takes no further part in the round: to the
 * server it is a dropout, which the protocol survives while t clients remain.
 */
import { type KeyObject } from "node:crypto";
import { BelowThreshold, InvalidMaskingMessage, InvalidMaskingParameter, MaskingOutOfOrder, ShareDecryptionFailed } from "./errors.ts";
import { neighbourhoods } from "./graph.ts";
import {
  agree, generateX25519, open, pairwiseSeed, PUBLIC_KEY_BYTES, randomSeed, rawPrivateKey, sameBytes, seal, selfMaskCommitment, selfMaskSeed, shareChannel,
  type X25519KeyPair,
} from "./keys.ts";
import { addMasks, type MaskSign } from "./mask.ts";
import {
  MessageCheck, SEALED_SHARES_BYTES, sameIds,
  type AdvertiseKeys, type ClientKeys, type KeyDirectory, type MaskedInput, type RevealedShare, type SharedKeys, type ShareInbox, type UnmaskRequest, type UnmaskShares,
} from "./messages.ts";
import { compareIds, isClientId, resolveMaskingParams, type MaskingParams, type ResolvedMaskingParams } from "./params.ts";
import { quantiseInto } from "./quantise.ts";
import { SHARE_BYTES, splitSecret } from "./shares.ts";

type ClientState = "new" | "advertised" | "shared" | "masked" | "done" | "failed";

/** The two shares a holder keeps of one owner's secrets. */
interface HeldShares {
  readonly maskingKey: Uint8Array;
  readonly selfMask: Uint8Array;
}

export class MaskingClient {
  readonly params: ResolvedMaskingParams;
  private state: ClientState = "new";
  private readonly encryption: X25519KeyPair = generateX25519();
  private readonly masking: X25519KeyPair = generateX25519();
  private selfMask: Uint8Array | null = null;
  private directory = new Map<string, ClientKeys>();
  private neighbours: readonly string[] = [];
  /** Seeds of the masks shared with each neighbour, derived as soon as the directory arrives. */
  private pairSeeds = new Map<string, Uint8Array>();
  /** Shares this client holds, by owner (itself included); filled when the inbox opens. */
  private held = new Map<string, HeldShares>();
  private ownShares: HeldShares | null = null;
  private sharedWith: ReadonlySet<string> = new Set();

  constructor(params: MaskingParams | ResolvedMaskingParams, readonly clientId: string) {
    if (!isClientId(clientId)) throw new InvalidMaskingParameter("clientId", JSON.stringify(clientId), "must be 1–64 printable ASCII characters without spaces");
    this.params = "scale" in params ? params : resolveMaskingParams(params);
  }

  /** Round 0: this client's two public keys. */
  advertise(): AdvertiseKeys {
    return this.step("advertise", "new", "advertised", () => ({
      type: "secagg.advertiseKeys", roundId: this.params.roundId, clientId: this.clientId,
      encryptionKey: this.encryption.publicKey, maskingKey: this.masking.publicKey,
    }));
  }

  /** Round 1: splits s_u and b_u among this client and its neighbours, each pair of shares sealed to its holder. */
  async shareKeys(directory: KeyDirectory): Promise<SharedKeys> {
    this.enter("shareKeys", "advertised");
    try {
      this.readDirectory(directory);
      const { roundId, shareThreshold } = this.params;
      const holders = [this.clientId, ...this.neighbours].sort(compareIds);
      if (holders.length < shareThreshold) throw new BelowThreshold("advertiseKeys", holders.length, shareThreshold, this.clientId);
      const selfMask = randomSeed();
      const secretKey = rawPrivateKey(this.masking.privateKey);
      const keyShares = await splitSecret(secretKey, holders.length, shareThreshold);
      const maskShares = await splitSecret(selfMask, holders.length, shareThreshold);
      secretKey.fill(0);
      const shares: { to: string; sealed: Uint8Array }[] = [];
      holders.forEach((holder, i) => {
        const pair = { maskingKey: keyShares[i]!, selfMask: maskShares[i]! };
        if (holder === this.clientId) {
          this.ownShares = pair;
          return;
        }
        const channel = shareChannel(this.agreeWith(holder, "encryptionKey"), roundId, this.clientId, holder);
        const plaintext = new Uint8Array(2 * SHARE_BYTES);
        plaintext.set(pair.maskingKey, 0);
        plaintext.set(pair.selfMask, SHARE_BYTES);
        shares.push({ to: holder, sealed: seal(channel.key, channel.aad, plaintext) });
      });
      this.selfMask = selfMask;
      this.state = "shared";
      return { type: "secagg.sharedKeys", roundId, clientId: this.clientId, selfMaskCommitment: selfMaskCommitment(selfMask, roundId, this.clientId), shares };
    } catch (error) {
      this.state = "failed";
      throw error;
    }
  }

  /**
   * Round 2: opens the shares sealed for this client, then returns its quantised update plus its
   * self mask plus, for each neighbour v that shared keys, +PRG(s_uv) if v sorts after this client
   * and −PRG(s_uv) if before. `update` must be clipped to the round's clip norm.
   */
  maskInput(inbox: ShareInbox, update: Float32Array): MaskedInput {
    return this.step("maskInput", "shared", "masked", () => {
      const survivors = this.readInbox(inbox);
      const masked = new Uint32Array(this.params.dimension);
      quantiseInto(update, masked, this.params.clipNorm, this.params.fractionalBits, this.clientId);
      const masks: { seed: Uint8Array; sign: MaskSign }[] = [{ seed: selfMaskSeed(this.selfMask!, this.params.roundId, this.clientId), sign: 1 }];
      for (const peer of this.neighbours) {
        if (survivors.has(peer)) masks.push({ seed: this.pairSeeds.get(peer)!, sign: compareIds(this.clientId, peer) < 0 ? 1 : -1 });
      }
      addMasks(masked, masks);
      this.selfMask!.fill(0);
      this.selfMask = null;
      this.pairSeeds.clear();
      return { type: "secagg.maskedInput", roundId: this.params.roundId, clientId: this.clientId, masked };
    });
  }

  /**
   * Round 3: for each owner whose shares this client holds, its share of b_v if v sent a masked
   * input, else its share of s_v — one kind per owner, decided here from the server's list, once.
   */
  unmask(request: UnmaskRequest): UnmaskShares {
    return this.step("unmask", "masked", "done", () => {
      const check = new MessageCheck("maskedInput", "server");
      const msg = check.object(request, "secagg.unmaskRequest");
      check.roundId(msg.roundId, this.params.roundId);
      const survivors = new Set(check.idList("survivors", msg.survivors, this.params.maxClients));
      for (const id of survivors) if (!this.sharedWith.has(id)) check.fail("survivors", `names ${id}, which did not share keys`);
      if (!survivors.has(this.clientId)) check.fail("survivors", `omits ${this.clientId} itself`);
      if (survivors.size < this.params.threshold) throw new BelowThreshold("maskedInput", survivors.size, this.params.threshold);
      const selfMaskShares: RevealedShare[] = [];
      const keyShares: RevealedShare[] = [];
      for (const [owner, shares] of [...this.held].sort(([a], [b]) => compareIds(a, b))) {
        if (survivors.has(owner)) selfMaskShares.push({ owner, share: shares.selfMask });
        else keyShares.push({ owner, share: shares.maskingKey });
      }
      this.held.clear();
      return { type: "secagg.unmaskShares", roundId: this.params.roundId, clientId: this.clientId, selfMaskShares, keyShares };
    });
  }

  /** Checks U1 and derives the pairwise seeds: this client with its own keys, ≥ t clients, no id or key twice. */
  private readDirectory(directory: KeyDirectory): void {
    const check = new MessageCheck("advertiseKeys", "server");
    const msg = check.object(directory, "secagg.keyDirectory");
    check.roundId(msg.roundId, this.params.roundId);
    const entries = check.array("clients", msg.clients, this.params.maxClients);
    const keysSeen = new Set<string>();
    for (const [i, entry] of entries.entries()) {
      const record = (entry ?? {}) as Record<string, unknown>;
      const clientId = check.id(`clients[${i}].clientId`, record.clientId);
      const encryptionKey = check.bytes(`clients[${i}].encryptionKey`, record.encryptionKey, PUBLIC_KEY_BYTES);
      const maskingKey = check.bytes(`clients[${i}].maskingKey`, record.maskingKey, PUBLIC_KEY_BYTES);
      if (this.directory.has(clientId)) check.fail(`clients[${i}].clientId`, `repeats ${clientId}`);
      for (const key of [encryptionKey, maskingKey]) {
        const hex = Buffer.from(key).toString("hex");
        if (keysSeen.has(hex)) check.fail(`clients[${i}]`, "repeats a public key (every key of the round must be distinct)");
        keysSeen.add(hex);
      }
      this.directory.set(clientId, { clientId, encryptionKey, maskingKey });
    }
    const own = this.directory.get(this.clientId);
    if (own === undefined) return check.fail("clients", `omits ${this.clientId} itself`);
    if (!sameBytes(own.encryptionKey, this.encryption.publicKey) || !sameBytes(own.maskingKey, this.masking.publicKey)) {
      check.fail("clients", `lists other keys for ${this.clientId} than it advertised`);
    }
    if (this.directory.size < this.params.threshold) throw new BelowThreshold("advertiseKeys", this.directory.size, this.params.threshold);
    this.neighbours = neighbourhoods([...this.directory.keys()], this.params.neighbours, this.params.roundId).get(this.clientId)!;
    for (const peer of this.neighbours) {
      const low = compareIds(this.clientId, peer) < 0 ? this.clientId : peer;
      const high = low === peer ? this.clientId : peer;
      this.pairSeeds.set(peer, pairwiseSeed(this.agreeWith(peer, "maskingKey"), this.params.roundId, low, high));
    }
  }

  /** Checks U2 and the inbox, opens every share sealed for this client; returns U2. */
  private readInbox(inbox: ShareInbox): ReadonlySet<string> {
    const check = new MessageCheck("shareKeys", "server");
    const msg = check.object(inbox, "secagg.shareInbox");
    check.roundId(msg.roundId, this.params.roundId);
    if (msg.clientId !== this.clientId) check.fail("clientId", "names another recipient");
    const survivors = new Set(check.idList("survivors", msg.survivors, this.params.maxClients));
    for (const id of survivors) if (!this.directory.has(id)) check.fail("survivors", `names ${id}, which did not advertise keys`);
    if (!survivors.has(this.clientId)) check.fail("survivors", `omits ${this.clientId} itself`);
    if (survivors.size < this.params.threshold) throw new BelowThreshold("shareKeys", survivors.size, this.params.threshold);
    const entries = check.array("shares", msg.shares, this.neighbours.length);
    const opened = new Map<string, HeldShares>();
    for (const [i, entry] of entries.entries()) {
      const record = (entry ?? {}) as Record<string, unknown>;
      const from = check.id(`shares[${i}].from`, record.from);
      const sealed = check.bytes(`shares[${i}].sealed`, record.sealed, SEALED_SHARES_BYTES);
      if (opened.has(from)) check.fail(`shares[${i}].from`, `repeats ${from}`);
      if (!this.neighbours.includes(from) || !survivors.has(from)) check.fail(`shares[${i}].from`, `names ${from}, not a neighbour that shared keys`);
      const channel = shareChannel(this.agreeWith(from, "encryptionKey"), this.params.roundId, from, this.clientId);
      const plaintext = open(channel.key, channel.aad, sealed);
      if (plaintext === null || plaintext.length !== 2 * SHARE_BYTES) throw new ShareDecryptionFailed(from, this.clientId);
      opened.set(from, { maskingKey: plaintext.slice(0, SHARE_BYTES), selfMask: plaintext.slice(SHARE_BYTES) });
    }
    const missing = sameIds([...opened.keys()], new Set(this.neighbours.filter((peer) => survivors.has(peer))));
    if (missing !== null) check.fail("shares", missing);
    this.held = new Map([[this.clientId, this.ownShares!], ...opened]);
    this.ownShares = null;
    this.sharedWith = survivors;
    return survivors;
  }

  /** X25519 with a peer's advertised key; a key of a small subgroup is the directory's fault. */
  private agreeWith(peer: string, kind: "encryptionKey" | "maskingKey"): Uint8Array {
    const own: KeyObject = kind === "encryptionKey" ? this.encryption.privateKey : this.masking.privateKey;
    try {
      return agree(own, this.directory.get(peer)![kind]);
    } catch {
      throw new InvalidMaskingMessage("advertiseKeys", "server", `clients[${peer}].${kind}`, "is not a usable X25519 public key (small-subgroup point)");
    }
  }

  private enter(step: string, expected: ClientState): void {
    if (this.state !== expected) throw new MaskingOutOfOrder(`client ${this.clientId}`, step, this.state);
  }

  /** Runs a synchronous step: out of order is refused; any failure ends this client's round. */
  private step<T>(name: string, expected: ClientState, next: ClientState, body: () => T): T {
    this.enter(name, expected);
    try {
      const out = body();
      this.state = next;
      return out;
    } catch (error) {
      this.state = "failed";
      throw error;
    }
  }
}

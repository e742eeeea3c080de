/**
 * The coordinator's side of pairwise-masking secure aggregation: it relays keys and sealed
 * shares, sums the masked inputs, and removes the masks with the shares the survivors reveal.
 * It learns the sum of the surviving clients' quantised updates and nothing else about any one
 * of them. Never returns a sum it could not fully unmask: with fewer than t clients at a stage,
 * too few shares of one client's secret, or a share that does not rebuild the committed secret,
 * it throws a typed error instead.
 *
 *   const server = new MaskingServer(params);
 *   for (const m of adverts) server.receive(m, sender);   const directory = server.keyDirectory();
 *   for (const m of sharedKeys) server.receive(m, sender); const inboxes = server.shareInboxes();
 *   for (const m of masked) server.receive(m, sender);     const request = server.unmaskRequest();
 *   for (const m of reveals) server.receive(m, sender);    const { sum } = await server.result();
 *
 * `receive` checks one message and either keeps it or throws (InvalidMaskingMessage,
 * DuplicateMaskingMessage, UnknownMaskingSender, MaskingSenderMismatch, MaskingOutOfOrder)
 * without changing anything: a refused message is as if its client had dropped. The closing
 * steps (keyDirectory … result) move to the next stage; when one throws, the round has failed.
 */
import { BelowThreshold, DuplicateMaskingMessage, MaskingOutOfOrder, MaskingSenderMismatch, ReconstructionFailed, UnknownMaskingSender, type MaskingStage } from "./errors.ts";
import { neighbourhoods, type Neighbourhoods } from "./graph.ts";
import { agree, pairwiseSeed, privateKeyFromRaw, publicKeyOf, PUBLIC_KEY_BYTES, sameBytes, selfMaskCommitment, selfMaskSeed } from "./keys.ts";
import { addInto, addMasks, type MaskSign } from "./mask.ts";
import {
  COMMITMENT_BYTES, MessageCheck, SEALED_SHARES_BYTES, STAGE_OF, sameIds,
  type ClientKeys, type ClientMessage, type KeyDirectory, type RevealedShare, type SharedKeys, type ShareInbox, type UnmaskRequest, type UnmaskShares,
} from "./messages.ts";
import { compareIds, resolveMaskingParams, type MaskingParams, type ResolvedMaskingParams } from "./params.ts";
import { dequantise, quantisationErrorBound } from "./quantise.ts";
import { combineShares, SHARE_BYTES } from "./shares.ts";

/** What the server learns: the ring sum of U3's quantised updates, decoded, and who is in it. */
export interface MaskingResult {
  /** Σ_{u ∈ U3} x_u, decoded from the ring; within `errorBound` of the float sum, coordinate by coordinate. */
  readonly sum: Float64Array;
  /** Σ_{u ∈ U3} round(x_u · 2^f) mod 2^32, exactly. */
  readonly ringSum: Uint32Array;
  /** U3: the clients whose updates are in the sum. */
  readonly contributors: readonly string[];
  /** U2 \ U3: clients that shared keys and then sent no masked input; their masks were removed. */
  readonly droppedAfterSharing: readonly string[];
  /** U1 \ U2: clients that advertised keys but never shared them; nobody masked with them. */
  readonly droppedBeforeSharing: readonly string[];
  /** contributors × 2^−(f+1): the quantisation error bound of `sum`. */
  readonly errorBound: number;
}

type ServerState = MaskingStage | "done" | "failed";

export class MaskingServer {
  readonly params: ResolvedMaskingParams;
  private state: ServerState = "advertiseKeys";
  private readonly advertised = new Map<string, ClientKeys>();
  private graph: Neighbourhoods = new Map();
  private readonly shared = new Map<string, SharedKeys>();
  /** Each U2 client's commitment to its self-mask seed b_u, checked against the rebuilt seed. */
  private readonly commitments = new Map<string, Uint8Array>();
  private readonly maskedFrom = new Set<string>();
  private runningSum: Uint32Array;
  private readonly revealed = new Map<string, UnmaskShares>();
  /** U1, U2, U3 once their stage has closed. */
  private u1: ReadonlySet<string> = new Set();
  private u2: ReadonlySet<string> = new Set();
  private u3: ReadonlySet<string> = new Set();

  constructor(params: MaskingParams | ResolvedMaskingParams) {
    this.params = "scale" in params ? params : resolveMaskingParams(params);
    this.runningSum = new Uint32Array(this.params.dimension);
  }

  /** The stage whose messages `receive` takes now, or "done" / "failed". */
  get stage(): ServerState {
    return this.state;
  }

  /**
   * Checks one client message of the current stage and keeps it. `authenticatedSender`, the
   * client id the transport established (its certificate), must match the message's clientId.
   */
  receive(message: ClientMessage, authenticatedSender?: string): void {
    const raw = (message ?? {}) as unknown as Record<string, unknown>;
    const claimed = typeof raw.clientId === "string" ? raw.clientId.slice(0, 64) : "an unnamed client";
    const stage = STAGE_OF[raw.type as ClientMessage["type"]] as MaskingStage | undefined;
    const check = new MessageCheck(stage ?? (this.state === "done" || this.state === "failed" ? "unmasking" : this.state), claimed);
    if (stage === undefined) check.fail("type", `is ${JSON.stringify(String(raw.type).slice(0, 40))}, not a client message of this protocol`);
    if (stage !== this.state) throw new MaskingOutOfOrder("server", `accept a ${stage} message from ${claimed}`, this.state);
    check.roundId(raw.roundId, this.params.roundId);
    const sender = check.id("clientId", raw.clientId);
    if (authenticatedSender !== undefined && authenticatedSender !== sender) throw new MaskingSenderMismatch(stage, sender, authenticatedSender);
    switch (stage) {
      case "advertiseKeys": return this.receiveAdvert(check, raw, sender);
      case "shareKeys": return this.receiveShares(check, raw, sender);
      case "maskedInput": return this.receiveMasked(check, raw, sender);
      case "unmasking": return this.receiveReveal(check, raw, sender);
    }
  }

  /** Closes round 0: U1, every advertised key, sorted by id. Throws BelowThreshold under t clients. */
  keyDirectory(): KeyDirectory {
    return this.close("advertiseKeys", "shareKeys", () => {
      this.u1 = this.requireThreshold("advertiseKeys", this.advertised.keys());
      this.graph = neighbourhoods([...this.u1], this.params.neighbours, this.params.roundId);
      const clients = [...this.advertised.values()].sort((a, b) => compareIds(a.clientId, b.clientId));
      return { type: "secagg.keyDirectory", roundId: this.params.roundId, clients };
    });
  }

  /** Closes round 1: to each client of U2, U2 and the shares its neighbours in U2 sealed for it. */
  shareInboxes(): ShareInbox[] {
    return this.close("shareKeys", "maskedInput", () => {
      this.u2 = this.requireThreshold("shareKeys", this.shared.keys());
      // Each client's secrets must stay rebuildable: enough of its holders must have shared keys (and so received their shares).
      for (const owner of this.u2) this.requireHolders("shareKeys", owner, this.holdersOf(owner).filter((h) => this.u2.has(h)).length);
      const survivors = [...this.u2].sort(compareIds);
      return survivors.map((to) => ({
        type: "secagg.shareInbox", roundId: this.params.roundId, clientId: to, survivors,
        shares: this.graph.get(to)!.filter((from) => this.u2.has(from)).map((from) => ({ from, sealed: this.shared.get(from)!.shares.find((s) => s.to === to)!.sealed })),
      }) satisfies ShareInbox);
    });
  }

  /** Closes round 2: U3, the clients whose masked input arrived. */
  unmaskRequest(): UnmaskRequest {
    return this.close("maskedInput", "unmasking", () => {
      this.u3 = this.requireThreshold("maskedInput", this.maskedFrom);
      this.shared.clear();
      return { type: "secagg.unmaskRequest", roundId: this.params.roundId, survivors: [...this.u3].sort(compareIds) };
    });
  }

  /** Closes round 3: rebuilds each survivor's b_v and each dropped client's s_v, removes their masks, decodes the sum. */
  async result(): Promise<MaskingResult> {
    this.enter("result", "unmasking");
    try {
      this.requireThreshold("unmasking", this.revealed.keys());
      const sum = this.runningSum;
      // Every mask to take off, gathered first and removed in one chunked pass (mask.ts).
      const masks: { seed: Uint8Array; sign: MaskSign }[] = [];
      for (const owner of [...this.u3].sort(compareIds)) {
        const b = await this.rebuild(owner, "selfMask");
        if (!sameBytes(selfMaskCommitment(b, this.params.roundId, owner), this.commitments.get(owner)!)) {
          throw new ReconstructionFailed(owner, "selfMask", "the rebuilt seed does not match its commitment");
        }
        masks.push({ seed: selfMaskSeed(b, this.params.roundId, owner), sign: -1 });
      }
      const droppedAfterSharing = [...this.u2].filter((id) => !this.u3.has(id)).sort(compareIds);
      for (const owner of droppedAfterSharing) {
        const maskedWith = this.graph.get(owner)!.filter((peer) => this.u3.has(peer));
        if (maskedWith.length === 0) continue;
        const secretKey = privateKeyFromRaw(await this.rebuild(owner, "maskingKey"));
        if (!sameBytes(publicKeyOf(secretKey), this.advertised.get(owner)!.maskingKey)) {
          throw new ReconstructionFailed(owner, "maskingKey", "the rebuilt key is not the one advertised");
        }
        for (const peer of maskedWith) {
          const low = compareIds(peer, owner) < 0 ? peer : owner;
          const high = low === peer ? owner : peer;
          const seed = pairwiseSeed(agree(secretKey, this.advertised.get(peer)!.maskingKey), this.params.roundId, low, high);
          // The survivor added +PRG when it sorts first, −PRG otherwise: take back what it added.
          masks.push({ seed, sign: low === peer ? -1 : 1 });
        }
      }
      addMasks(sum, masks);
      this.state = "done";
      const contributors = [...this.u3].sort(compareIds);
      return {
        sum: dequantise(sum, this.params.fractionalBits), ringSum: sum, contributors, droppedAfterSharing,
        droppedBeforeSharing: [...this.u1].filter((id) => !this.u2.has(id)).sort(compareIds),
        errorBound: quantisationErrorBound(contributors.length, this.params.fractionalBits),
      };
    } catch (error) {
      this.state = "failed";
      throw error;
    }
  }

  private receiveAdvert(check: MessageCheck, msg: Record<string, unknown>, sender: string): void {
    const encryptionKey = check.bytes("encryptionKey", msg.encryptionKey, PUBLIC_KEY_BYTES);
    const maskingKey = check.bytes("maskingKey", msg.maskingKey, PUBLIC_KEY_BYTES);
    if (this.advertised.has(sender)) throw new DuplicateMaskingMessage("advertiseKeys", sender);
    if (this.advertised.size >= this.params.maxClients) throw new UnknownMaskingSender("advertiseKeys", sender, `the round already has maxClients = ${this.params.maxClients} clients`);
    if (sameBytes(encryptionKey, maskingKey)) check.fail("maskingKey", "equals encryptionKey (the two keys must differ)");
    for (const other of this.advertised.values()) {
      for (const key of [other.encryptionKey, other.maskingKey]) {
        if (sameBytes(key, encryptionKey) || sameBytes(key, maskingKey)) check.fail("keys", `repeat a key ${other.clientId} advertised`);
      }
    }
    this.advertised.set(sender, { clientId: sender, encryptionKey: Uint8Array.from(encryptionKey), maskingKey: Uint8Array.from(maskingKey) });
  }

  private receiveShares(check: MessageCheck, msg: Record<string, unknown>, sender: string): void {
    if (!this.u1.has(sender)) throw new UnknownMaskingSender("shareKeys", sender, "it did not advertise keys this round");
    if (this.shared.has(sender)) throw new DuplicateMaskingMessage("shareKeys", sender);
    const commitment = check.bytes("selfMaskCommitment", msg.selfMaskCommitment, COMMITMENT_BYTES);
    const peers = this.graph.get(sender)!;
    const entries = check.array("shares", msg.shares, peers.length);
    const shares = entries.map((entry, i) => {
      const record = (entry ?? {}) as Record<string, unknown>;
      return { to: check.id(`shares[${i}].to`, record.to), sealed: Uint8Array.from(check.bytes(`shares[${i}].sealed`, record.sealed, SEALED_SHARES_BYTES)) };
    });
    const recipients = shares.map((s) => s.to);
    if (new Set(recipients).size !== recipients.length) check.fail("shares", "address one client twice");
    const mismatch = sameIds(recipients, new Set(peers));
    if (mismatch !== null) check.fail("shares", `must go to exactly the sender's neighbours: ${mismatch}`);
    this.shared.set(sender, { type: "secagg.sharedKeys", roundId: this.params.roundId, clientId: sender, selfMaskCommitment: Uint8Array.from(commitment), shares });
    this.commitments.set(sender, Uint8Array.from(commitment));
  }

  private receiveMasked(check: MessageCheck, msg: Record<string, unknown>, sender: string): void {
    if (!this.u2.has(sender)) throw new UnknownMaskingSender("maskedInput", sender, "it did not share keys this round");
    if (this.maskedFrom.has(sender)) throw new DuplicateMaskingMessage("maskedInput", sender);
    const masked = msg.masked;
    if (!(masked instanceof Uint32Array)) check.fail("masked", "is not a Uint32Array");
    if (masked.length !== this.params.dimension) check.fail("masked", `has ${masked.length} coordinates, the round has ${this.params.dimension}`);
    addInto(this.runningSum, masked);
    this.maskedFrom.add(sender);
  }

  private receiveReveal(check: MessageCheck, msg: Record<string, unknown>, sender: string): void {
    if (!this.u3.has(sender)) throw new UnknownMaskingSender("unmasking", sender, "it sent no masked input this round");
    if (this.revealed.has(sender)) throw new DuplicateMaskingMessage("unmasking", sender);
    const holds = this.holdersOf(sender).filter((owner) => this.u2.has(owner));
    const selfMaskShares = this.revealedShares(check, "selfMaskShares", msg.selfMaskShares, new Set(holds.filter((owner) => this.u3.has(owner))));
    // A key share of a client that sent its masked input would unmask that input: refused by the exact set below.
    const keyShares = this.revealedShares(check, "keyShares", msg.keyShares, new Set(holds.filter((owner) => !this.u3.has(owner))));
    this.revealed.set(sender, { type: "secagg.unmaskShares", roundId: this.params.roundId, clientId: sender, selfMaskShares, keyShares });
  }

  private revealedShares(check: MessageCheck, field: string, value: unknown, owners: ReadonlySet<string>): RevealedShare[] {
    const shares = check.array(field, value, owners.size).map((entry, i) => {
      const record = (entry ?? {}) as Record<string, unknown>;
      return { owner: check.id(`${field}[${i}].owner`, record.owner), share: Uint8Array.from(check.bytes(`${field}[${i}].share`, record.share, SHARE_BYTES)) };
    });
    const named = shares.map((s) => s.owner);
    if (new Set(named).size !== named.length) check.fail(field, "name one owner twice");
    const mismatch = sameIds(named, owners);
    if (mismatch !== null) check.fail(field, mismatch);
    return shares;
  }

  /** The owner's secret from the first `shareThreshold` holders (by id) that revealed a share of it. */
  private async rebuild(owner: string, secret: "selfMask" | "maskingKey"): Promise<Uint8Array> {
    const shares: Uint8Array[] = [];
    for (const holder of this.holdersOf(owner)) {
      const reveal = this.revealed.get(holder);
      const list = reveal === undefined ? [] : secret === "selfMask" ? reveal.selfMaskShares : reveal.keyShares;
      const found = list.find((s) => s.owner === owner);
      if (found !== undefined) shares.push(found.share);
    }
    this.requireHolders("unmasking", owner, shares.length);
    const combined = await combineShares(shares.slice(0, this.params.shareThreshold));
    if (!(combined instanceof Uint8Array)) throw new ReconstructionFailed(owner, secret, combined.reason);
    return combined;
  }

  /** The owner and its neighbours, sorted: who holds shares of its secrets. */
  private holdersOf(owner: string): string[] {
    return [owner, ...this.graph.get(owner)!].sort(compareIds);
  }

  private requireThreshold(stage: MaskingStage, alive: Iterable<string>): ReadonlySet<string> {
    const set = new Set(alive);
    if (set.size < this.params.threshold) throw new BelowThreshold(stage, set.size, this.params.threshold);
    return set;
  }

  private requireHolders(stage: MaskingStage, owner: string, holders: number): void {
    if (holders < this.params.shareThreshold) throw new BelowThreshold(stage, holders, this.params.shareThreshold, owner);
  }

  private enter(step: string, expected: ServerState): void {
    if (this.state !== expected) throw new MaskingOutOfOrder("server", step, this.state);
  }

  private close<T>(expected: MaskingStage, next: MaskingStage, body: () => T): T {
    this.enter(`close the ${expected} stage`, expected);
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

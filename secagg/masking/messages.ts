/**
 * The protocol's messages, as plain data the actor transport can carry (strings, numbers,
 * Uint8Array, one Uint32Array; msgpack-friendly), and the shape checks every receiver runs
 * before it reads a field. Never holds a KeyObject, a private key or a share in the clear: a
 * share travels sealed to its holder, and is revealed only in the unmasking round.
 *
 *   client                         server                         client
 *   advertiseKeys (0)   ──────►    keyDirectory      ──────►      (all)
 *   sharedKeys    (1)   ──────►    shareInbox        ──────►      (each, its own)
 *   maskedInput   (2)   ──────►    unmaskRequest     ──────►      (survivors)
 *   unmaskShares  (3)   ──────►    result: the sum
 */
import { InvalidMaskingMessage, type MaskingStage } from "./errors.ts";
import { SEAL_OVERHEAD } from "./keys.ts";
import { isClientId } from "./params.ts";
import { SHARE_BYTES } from "./shares.ts";

/** A client's two public keys: c (encryption of shares) and s (pairwise masks), raw X25519. */
export interface ClientKeys {
  readonly clientId: string;
  readonly encryptionKey: Uint8Array;
  readonly maskingKey: Uint8Array;
}

/** Round 0, client → server. */
export interface AdvertiseKeys extends ClientKeys {
  readonly type: "secagg.advertiseKeys";
  readonly roundId: string;
}

/** Round 0, server → every client that advertised: U1, sorted by id. */
export interface KeyDirectory {
  readonly type: "secagg.keyDirectory";
  readonly roundId: string;
  readonly clients: readonly ClientKeys[];
}

/** Round 1, client → server: b_u's commitment and one sealed share pair for each neighbour. */
export interface SharedKeys {
  readonly type: "secagg.sharedKeys";
  readonly roundId: string;
  readonly clientId: string;
  readonly selfMaskCommitment: Uint8Array;
  readonly shares: readonly { readonly to: string; readonly sealed: Uint8Array }[];
}

/** Round 1, server → client v: U2, and the shares its neighbours in U2 sealed for it. */
export interface ShareInbox {
  readonly type: "secagg.shareInbox";
  readonly roundId: string;
  readonly clientId: string;
  readonly survivors: readonly string[];
  readonly shares: readonly { readonly from: string; readonly sealed: Uint8Array }[];
}

/** Round 2, client → server: y_u = x_u + PRG(b_u) + Σ ±PRG(s_uv) in Z_{2^32}^d. */
export interface MaskedInput {
  readonly type: "secagg.maskedInput";
  readonly roundId: string;
  readonly clientId: string;
  readonly masked: Uint32Array;
}

/** Round 2, server → every client of U3: who sent a masked input. */
export interface UnmaskRequest {
  readonly type: "secagg.unmaskRequest";
  readonly roundId: string;
  readonly survivors: readonly string[];
}

export interface RevealedShare {
  readonly owner: string;
  readonly share: Uint8Array;
}

/** Round 3, client → server: b-shares of its neighbours in U3, key shares of its neighbours in U2 \ U3. */
export interface UnmaskShares {
  readonly type: "secagg.unmaskShares";
  readonly roundId: string;
  readonly clientId: string;
  readonly selfMaskShares: readonly RevealedShare[];
  readonly keyShares: readonly RevealedShare[];
}

export type ClientMessage = AdvertiseKeys | SharedKeys | MaskedInput | UnmaskShares;
export type ServerMessage = KeyDirectory | ShareInbox | UnmaskRequest;

/** A sealed pair of shares (the masking key's and b_u's): IV ‖ two shares ‖ tag. */
export const SEALED_SHARES_BYTES = 2 * SHARE_BYTES + SEAL_OVERHEAD;
export const COMMITMENT_BYTES = 32;

/** The stage each client message belongs to. */
export const STAGE_OF: Readonly<Record<ClientMessage["type"], MaskingStage>> = {
  "secagg.advertiseKeys": "advertiseKeys",
  "secagg.sharedKeys": "shareKeys",
  "secagg.maskedInput": "maskedInput",
  "secagg.unmaskShares": "unmasking",
};

/** Shape checks for one message: each throws InvalidMaskingMessage naming the stage, the sender and the field. */
export class MessageCheck {
  constructor(readonly stage: MaskingStage, readonly sender: string) {}

  fail(field: string, reason: string): never {
    throw new InvalidMaskingMessage(this.stage, this.sender, field, reason);
  }

  object(value: unknown, type: string): Record<string, unknown> {
    if (value === null || typeof value !== "object") this.fail("message", "is not an object");
    const record = value as Record<string, unknown>;
    if (record.type !== type) this.fail("type", `is ${JSON.stringify(String(record.type).slice(0, 40))}, expected "${type}"`);
    return record;
  }

  roundId(value: unknown, expected: string): void {
    if (value !== expected) this.fail("roundId", "names another round");
  }

  id(field: string, value: unknown): string {
    if (!isClientId(value)) this.fail(field, "is not a client id (1–64 printable ASCII characters)");
    return value;
  }

  bytes(field: string, value: unknown, length: number): Uint8Array {
    if (!(value instanceof Uint8Array)) this.fail(field, "is not bytes");
    if (value.length !== length) this.fail(field, `has ${value.length} bytes, expected ${length}`);
    return value;
  }

  array(field: string, value: unknown, maxLength: number): readonly unknown[] {
    if (!Array.isArray(value)) this.fail(field, "is not a list");
    if (value.length > maxLength) this.fail(field, `has ${value.length} entries, at most ${maxLength} allowed`);
    return value;
  }

  /** A list of distinct client ids. */
  idList(field: string, value: unknown, maxLength: number): string[] {
    const ids = this.array(field, value, maxLength).map((id, i) => this.id(`${field}[${i}]`, id));
    if (new Set(ids).size !== ids.length) this.fail(field, "names a client twice");
    return ids;
  }
}

/** Whether a checked set of ids equals the expected one exactly; the reason when it does not. */
export function sameIds(actual: readonly string[], expected: ReadonlySet<string>): string | null {
  const present = new Set(actual);
  const missing = [...expected].filter((id) => !present.has(id));
  const extra = actual.filter((id) => !expected.has(id));
  if (missing.length === 0 && extra.length === 0) return null;
  return [missing.length > 0 ? `lacks ${missing.slice(0, 5).join(", ")}` : "", extra.length > 0 ? `has unexpected ${extra.slice(0, 5).join(", ")}` : ""]
    .filter((s) => s !== "").join(" and ");
}

/**
 * Who sent a message, as the runtime knows it — never as the message says. The runtime sets it:
 * the local node for code of this node, the certificate identity of a peer node for a frame that
 * came over the transport, the operator's certificate identity for an Admin call, and the
 * authenticated caller for an edge (an HTTP API) that declares one. A frame from another node
 * cannot carry a sender of its own choosing: the receiving transport overwrites it.
 *
 * Authorization is data next to a protocol (`AccessPolicy`): which sender kinds may send which
 * message types. The runtime checks it before `receive`; a refusal is a `FORBIDDEN` failure to
 * the asker and a dead letter with reason "forbidden". Finer rules (this user's own budget, the
 * node that made this reservation) are the behaviour's, with `ctx.sender` in hand.
 */

/** Code running in this node: its actors, its edges that speak for no one in particular. */
export interface LocalSender { readonly kind: "local"; readonly node: string }
/** Another node of the federation, named by the identity its certificate proved at the handshake. */
export interface PeerSender { readonly kind: "peer"; readonly node: string }
/** An operator, named by the CN of the client certificate the Admin service accepted. */
export interface OperatorSender { readonly kind: "operator"; readonly operator: string }
/** An authenticated end user, as an edge of this node (the HTTP API) verified them. */
export interface UserSender { readonly kind: "user"; readonly user: string; readonly role: string; readonly department: string }

export type Sender = LocalSender | PeerSender | OperatorSender | UserSender;
export type SenderKind = Sender["kind"];
export const SENDER_KINDS = ["local", "peer", "operator", "user"] as const satisfies readonly SenderKind[];

/**
 * Which sender kinds may send each message type of a protocol. Every type must be listed, so a
 * new message is a compile error until someone decides who may send it.
 *
 * @example
 * type CounterMsg = { type: "add"; n: number } | { type: "reset" };
 * export const COUNTER_ACCESS = { add: ["local", "peer"], reset: ["local", "operator"] } satisfies AccessPolicy<CounterMsg>;
 */
export type AccessPolicy<M extends { readonly type: string }> = { readonly [T in M["type"]]: readonly SenderKind[] };

/** The principal of a sender, for logs and refusals: "peer:node-b", "user:u-17". */
export function describeSender(sender: Sender): string {
  switch (sender.kind) {
    case "local":
    case "peer":
      return `${sender.kind}:${sender.node}`;
    case "operator":
      return `operator:${sender.operator}`;
    case "user":
      return `user:${sender.user}`;
  }
}

/** The node a sender speaks from: its own for local, operator and user senders (they reach us here). */
export function senderNode(sender: Sender, localNode: string): string {
  return sender.kind === "peer" ? sender.node : localNode;
}

/** A compiled policy: one look-up per message; "local may send everything" is a flag checked first. */
export interface CompiledAccess {
  /** True when local senders may send every listed type (the common case: no check for them). */
  readonly localAll: boolean;
  allows(type: unknown, kind: SenderKind): boolean;
}

/** One bit per sender kind: a policy entry is the OR of its kinds, a check one AND. */
const KIND_BIT: Readonly<Record<SenderKind, number>> = { local: 1, peer: 2, operator: 4, user: 8 };

export function compileAccess(policy: Readonly<Record<string, readonly SenderKind[]>>): CompiledAccess {
  const table = new Map<string, number>();
  for (const [type, kinds] of Object.entries(policy)) table.set(type, kinds.reduce((bits, kind) => bits | KIND_BIT[kind], 0));
  const localAll = [...table.values()].every((bits) => (bits & KIND_BIT.local) !== 0);
  return {
    localAll,
    allows(type, kind) {
      // A message type the protocol does not list is local code's business (the behaviour
      // validates it); from anyone else it is refused.
      const bits = typeof type === "string" ? table.get(type) : undefined;
      return ((bits ?? KIND_BIT.local) & KIND_BIT[kind]) !== 0;
    },
  };
}

/** Checks a sender that crossed a thread boundary; returns a reason when it is not one. */
export function senderProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "sender is not an object";
  const s = value as Record<string, unknown>;
  const text = (v: unknown) => typeof v === "string" && v.length > 0 && v.length <= 256;
  switch (s.kind) {
    case "local":
    case "peer":
      return text(s.node) ? undefined : "sender.node is not a node id";
    case "operator":
      return text(s.operator) ? undefined : "sender.operator is not an operator id";
    case "user":
      return text(s.user) && typeof s.role === "string" && typeof s.department === "string" ? undefined : "sender is not a user";
    default:
      return "sender.kind is not local, peer, operator or user";
  }
}

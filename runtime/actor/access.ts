/**
 * The runtime's gate in front of every actor: a message whose sender the actor's access policy
 * does not allow never reaches `receive` nor takes a place in the mailbox. The fabric, the one
 * place every delivery to a child of this thread passes, asks `refusalOf`; the asker gets the
 * `FORBIDDEN` failure at once and the message becomes a dead letter with reason "forbidden".
 */
import { Forbidden } from "../errors.ts";
import type { Envelope } from "../internal/envelope.ts";
import type { ActorDefinition } from "./behavior.ts";
import { compileAccess, describeSender, type CompiledAccess } from "./sender.ts";

/** An actor without a policy serves this node's code and its operators, and nobody else. */
export const DEFAULT_ACCESS: CompiledAccess = Object.freeze({
  localAll: true,
  allows: (_type: unknown, kind: string) => kind === "local" || kind === "operator",
});

const compiled = new WeakMap<object, CompiledAccess>();

export function accessOf(definition: Pick<ActorDefinition<unknown, unknown>, "access">): CompiledAccess {
  const policy = definition.access;
  if (policy === undefined) return DEFAULT_ACCESS;
  let access = compiled.get(policy);
  if (access === undefined) compiled.set(policy, (access = compileAccess(policy)));
  return access;
}

/** Undefined when `env` may go in; otherwise the refusal (the fabric reports it). */
export function refusalOf(access: CompiledAccess, env: Envelope, node: string): Forbidden | undefined {
  const sender = env.sender;
  const type = (env.msg as { type?: unknown } | null)?.type;
  if (access.allows(type, sender?.kind ?? "local")) return undefined;
  const who = sender === undefined ? `local:${node}` : describeSender(sender);
  return new Forbidden(env.to, typeof type === "string" ? type.slice(0, 64) : "(no type)", who);
}

/** Finds an actor definition by module URL and id in any thread: closures never cross threads. */
import type { ActorDefinition } from "../actor/behavior.ts";
import { InvalidArgument } from "../errors.ts";

export async function loadDefinition(moduleUrl: string, id: string): Promise<ActorDefinition<unknown, unknown>> {
  const mod = (await import(moduleUrl)) as Record<string, unknown>;
  for (const value of Object.values(mod)) {
    const def = value as Partial<ActorDefinition<unknown, unknown>> | null;
    if (def !== null && typeof def === "object" && def.kind === "actor-definition" && def.id === id) {
      return def as ActorDefinition<unknown, unknown>;
    }
  }
  throw new InvalidArgument("definition", `${moduleUrl} exports no actor definition with id "${id}" (export the defineActor() result)`);
}

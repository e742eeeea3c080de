/**
 * The actors a hospital node can be told to run, by the names cluster.config.ts uses. Today
 * these are the runtime's demonstration actors; the five domain actors join as they land.
 */
import type { ActorDefinition } from "../../runtime/index.ts";
import { hasher, tally, visits } from "../demo/demo-actors.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const ACTOR_CATALOGUE: Readonly<Record<string, ActorDefinition<any, any>>> = { visits, tally, hasher };

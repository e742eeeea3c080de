/**
 * Loads protocols/admin.proto with @grpc/proto-loader and states its messages as TypeScript
 * types (keepCase: the wire's snake_case names), with the conversions from runtime values.
 * It never invents a field the .proto does not have: a non-Node client reads the same file.
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { BreakerSnapshot } from "../breaker/index.ts";
import { WireRef } from "../codec/index.ts";
import { InvalidArgument } from "../errors.ts";
import type { DeadLetter, LifecycleEvent } from "../events.ts";
import type { ChildInfo } from "../supervision/child-handle.ts";

export interface WireActorInfo {
  path: string;
  placement: string;
  status: string;
  restarts: number;
  mailbox_depth: number;
  processed: number;
  children: WireActorInfo[];
  worker_id: number;
}

export interface WireActorTree {
  root?: WireActorInfo;
}

export interface WireActorRequest {
  path: string;
}

export interface WireMessageRequest {
  path: string;
  json?: string;
  msgpack?: Buffer;
  /** Which member of the `body` oneof is set (proto-loader's `oneofs: true`). */
  body?: "json" | "msgpack";
  timeout_ms?: number;
}

export interface WireAskReply {
  json: string;
  msgpack?: Buffer;
}

export interface WireRestartReply {
  restarts: number;
}

export interface WireEventsRequest {
  recent?: number;
}

export interface WireEvent {
  type: string;
  path: string;
  at_ms: number;
  reason: string;
  code: string;
  restarts: number;
  delay_ms: number;
  placement: string;
}

export interface WireDeadLetter {
  to: string;
  reason: string;
  detail: string;
  at_ms: number;
  message_type: string;
}

export interface WireBreaker {
  target: string;
  state: string;
  failure_rate: number;
  slow_call_rate: number;
  retry_at_ms: number;
  calls_in_window: number;
  since_ms: number;
}

export interface WireBreakerList {
  breakers: WireBreaker[];
}

export interface WireForceBreakerRequest {
  target: string;
  /** open | closed | reset */
  state: string;
}

/** Response header of Events and DeadLetters: how many recent items precede the live ones. */
export const REPLAYED_HEADER = "fedrouter-replayed";

const PROTO = fileURLToPath(new URL("../../protocols/admin.proto", import.meta.url));

/** Both sides load with these options, so absent scalars read as their proto3 defaults. */
export const ADMIN_PROTO_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, defaults: true, oneofs: true };

let loaded: grpc.ServiceClientConstructor | undefined;

/** The Admin service's client constructor (its `.service` is the server definition). */
export function adminService(): grpc.ServiceClientConstructor {
  if (loaded === undefined) {
    const definition = protoLoader.loadSync(PROTO, ADMIN_PROTO_OPTIONS);
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { fedrouter: { admin: { v1: { Admin: grpc.ServiceClientConstructor } } } };
    loaded = pkg.fedrouter.admin.v1.Admin;
  }
  return loaded;
}

export function toWireActorInfo(info: ChildInfo): WireActorInfo {
  return {
    path: info.path,
    placement: info.placement,
    status: info.status,
    restarts: info.restarts,
    mailbox_depth: info.mailboxDepth ?? 0,
    processed: info.processed ?? 0,
    children: (info.children ?? []).map(toWireActorInfo),
    worker_id: info.workerId ?? 0,
  };
}

export function toWireEvent(event: LifecycleEvent): WireEvent {
  const wire: WireEvent = { type: event.type, path: event.path, at_ms: event.atMs, reason: "", code: "", restarts: 0, delay_ms: 0, placement: "" };
  switch (event.type) {
    case "started":
      return { ...wire, placement: event.placement, restarts: event.restarts };
    case "stopped":
      return { ...wire, reason: event.reason };
    case "failed":
      return { ...wire, reason: event.reason, code: event.code ?? "" };
    case "restarted":
      return { ...wire, restarts: event.restarts, delay_ms: Math.round(event.delayMs) };
    case "escalated":
      return { ...wire, reason: event.reason };
  }
}

export function toWireDeadLetter(letter: DeadLetter): WireDeadLetter {
  return { to: letter.to, reason: letter.reason, detail: letter.detail, at_ms: letter.atMs, message_type: letter.messageType ?? "" };
}

export function toWireBreaker(snapshot: BreakerSnapshot): WireBreaker {
  return {
    target: snapshot.target,
    state: snapshot.state,
    failure_rate: snapshot.failureRate,
    slow_call_rate: snapshot.slowCallRate,
    retry_at_ms: snapshot.retryAtMs ?? 0,
    calls_in_window: snapshot.callsInWindow,
    since_ms: snapshot.sinceMs,
  };
}

/**
 * A JSON message body, with `{"$ref": "fed://…"}` turned into a ref by `ref` (which may
 * refuse the path), so that a message can carry one: `{"type":"forward","to":{"$ref":…}}`.
 * Throws InvalidArgument for text that is not JSON.
 */
export function bodyFromJson(json: string, ref: (path: string) => unknown): unknown {
  try {
    return JSON.parse(json, (_key, value: unknown) => {
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        const target = (value as { $ref?: unknown }).$ref;
        if (typeof target === "string" && Object.keys(value).length === 1) return ref(target);
      }
      return value;
    });
  } catch (error) {
    if (error instanceof SyntaxError) throw new InvalidArgument("json", `is not valid JSON: ${error.message}`);
    throw error;
  }
}

/**
 * A reply as JSON: refs as `{"$ref": path}` (never the ref's internals), typed arrays as
 * arrays, bigints as strings, maps as objects, sets as arrays.
 */
export function replyToJson(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, v: unknown) => {
    if (v instanceof WireRef) return { $ref: v.path };
    if (typeof v === "bigint") return v.toString();
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<unknown>);
    if (v instanceof Map) return Object.fromEntries(v);
    if (v instanceof Set) return [...v];
    return v;
  });
}

/**
 * The runtime's error catalogue. Every error a caller can act on is a class with a stable
 * `code` and the fields needed to act; callers branch on `code`, never on message text.
 * Never put message payloads (which may hold patient text) into an error message.
 */

/** Every stable code; docs/errors.md lists the same set (a test keeps them equal). */
export const ERROR_CODES = [
  "ASK_TIMEOUT",
  "MAILBOX_FULL",
  "ACTOR_NOT_FOUND",
  "ACTOR_STOPPED",
  "ACTOR_CRASHED",
  "WORKER_CRASHED",
  "DECODE_ERROR",
  "FRAME_TOO_LARGE",
  "ENCODE_ERROR",
  "BREAKER_OPEN",
  "RESTART_INTENSITY_EXCEEDED",
  "PERSISTENCE_ERROR",
  "INVALID_PATH",
  "INVALID_ARGUMENT",
  "SYSTEM_STOPPED",
  "PEER_UNAVAILABLE",
  "PEER_REFUSED",
  "FORBIDDEN",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export abstract class FedrouterError extends Error {
  abstract readonly code: ErrorCode;
  override get name(): string {
    return this.constructor.name;
  }
  /** Plain fields for the wire and for logs: code, message and the class's own fields. */
  toJSON(): Record<string, unknown> {
    const fields: Record<string, unknown> = { code: this.code, message: this.message };
    for (const [key, value] of Object.entries(this)) {
      if (key !== "code" && typeof value !== "function") fields[key] = value;
    }
    return fields;
  }
}

export class AskTimeout extends FedrouterError {
  readonly code = "ASK_TIMEOUT";
  constructor(readonly target: string, readonly timeoutMs: number) {
    super(`${target} did not answer within ${timeoutMs} ms`);
  }
}

export class MailboxFull extends FedrouterError {
  readonly code = "MAILBOX_FULL";
  constructor(readonly target: string, readonly capacity: number) {
    super(`${target} mailbox is full (capacity ${capacity}); slow down or raise mailbox.capacity`);
  }
}

export class ActorNotFound extends FedrouterError {
  readonly code = "ACTOR_NOT_FOUND";
  constructor(readonly target: string) {
    super(`no actor at ${target}`);
  }
}

export class ActorStopped extends FedrouterError {
  readonly code = "ACTOR_STOPPED";
  constructor(readonly target: string) {
    super(`${target} stopped before it answered`);
  }
}

export class ActorCrashed extends FedrouterError {
  readonly code = "ACTOR_CRASHED";
  constructor(readonly target: string, readonly reason: string) {
    super(`${target} crashed while handling the message: ${reason}`);
  }
}

export class WorkerCrashed extends FedrouterError {
  readonly code = "WORKER_CRASHED";
  constructor(readonly target: string, readonly workerId: number, readonly reason: string) {
    super(`${target} was lost with its worker thread #${workerId}: ${reason}`);
  }
}

export class DecodeError extends FedrouterError {
  readonly code = "DECODE_ERROR";
  constructor(readonly reason: string, readonly byteLength: number) {
    super(`frame of ${byteLength} bytes could not be decoded: ${reason}`);
  }
}

export class FrameTooLarge extends FedrouterError {
  readonly code = "FRAME_TOO_LARGE";
  constructor(readonly byteLength: number, readonly maxBytes: number) {
    super(`frame of ${byteLength} bytes exceeds the limit of ${maxBytes} bytes (codec.maxFrameBytes)`);
  }
}

export class EncodeError extends FedrouterError {
  readonly code = "ENCODE_ERROR";
  constructor(readonly reason: string) {
    super(`message could not be encoded: ${reason}`);
  }
}

export class BreakerOpen extends FedrouterError {
  readonly code = "BREAKER_OPEN";
  constructor(readonly target: string, readonly retryAtMs: number) {
    super(`circuit breaker for ${target} is open; next probe allowed at ${new Date(retryAtMs).toISOString()}`);
  }
}

export class RestartIntensityExceeded extends FedrouterError {
  readonly code = "RESTART_INTENSITY_EXCEEDED";
  constructor(readonly supervisor: string, readonly maxRestarts: number, readonly periodMs: number) {
    super(`${supervisor} exceeded ${maxRestarts} restarts in ${periodMs} ms and gives up`);
  }
}

export class PersistenceError extends FedrouterError {
  readonly code = "PERSISTENCE_ERROR";
  constructor(readonly store: string, readonly reason: string) {
    super(`persistence failure in ${store}: ${reason}`);
  }
}

export class InvalidPath extends FedrouterError {
  readonly code = "INVALID_PATH";
  constructor(readonly path: string, readonly reason: string) {
    super(`invalid actor path "${path}": ${reason} (expected fed://<node>/<segment>/…)`);
  }
}

export class InvalidArgument extends FedrouterError {
  readonly code = "INVALID_ARGUMENT";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`);
  }
}

export class SystemStopped extends FedrouterError {
  readonly code = "SYSTEM_STOPPED";
  constructor(readonly node: string) {
    super(`actor system ${node} is stopped`);
  }
}

export class PeerUnavailable extends FedrouterError {
  readonly code = "PEER_UNAVAILABLE";
  constructor(readonly peer: string, readonly reason: string) {
    super(`node ${peer} is not reachable: ${reason}`);
  }
}

export class PeerRefused extends FedrouterError {
  readonly code = "PEER_REFUSED";
  constructor(readonly peer: string, readonly reason: string) {
    super(`connection with ${peer} refused: ${reason}`);
  }
}

/** The sender may not send this message type to this actor (its protocol's access policy). */
export class Forbidden extends FedrouterError {
  readonly code = "FORBIDDEN";
  constructor(readonly target: string, readonly messageType: string, readonly sender: string) {
    super(`${sender} may not send "${messageType}" to ${target}`);
  }
}

/** Stable code → error, used to rebuild a failure that crossed a thread or the network. */
export function errorFromWire(fields: { code?: unknown; message?: unknown } & Record<string, unknown>): Error {
  const s = (k: string) => String(fields[k] ?? "");
  const n = (k: string) => Number(fields[k] ?? 0);
  switch (fields.code) {
    case "ASK_TIMEOUT": return new AskTimeout(s("target"), n("timeoutMs"));
    case "MAILBOX_FULL": return new MailboxFull(s("target"), n("capacity"));
    case "ACTOR_NOT_FOUND": return new ActorNotFound(s("target"));
    case "ACTOR_STOPPED": return new ActorStopped(s("target"));
    case "ACTOR_CRASHED": return new ActorCrashed(s("target"), s("reason"));
    case "WORKER_CRASHED": return new WorkerCrashed(s("target"), n("workerId"), s("reason"));
    case "DECODE_ERROR": return new DecodeError(s("reason"), n("byteLength"));
    case "FRAME_TOO_LARGE": return new FrameTooLarge(n("byteLength"), n("maxBytes"));
    case "ENCODE_ERROR": return new EncodeError(s("reason"));
    case "BREAKER_OPEN": return new BreakerOpen(s("target"), n("retryAtMs"));
    case "PERSISTENCE_ERROR": return new PersistenceError(s("store"), s("reason"));
    case "RESTART_INTENSITY_EXCEEDED": return new RestartIntensityExceeded(s("supervisor"), n("maxRestarts"), n("periodMs"));
    case "INVALID_PATH": return new InvalidPath(s("path"), s("reason"));
    case "INVALID_ARGUMENT": return new InvalidArgument(s("field"), s("reason"));
    case "SYSTEM_STOPPED": return new SystemStopped(s("node"));
    case "PEER_UNAVAILABLE": return new PeerUnavailable(s("peer"), s("reason"));
    case "PEER_REFUSED": return new PeerRefused(s("peer"), s("reason"));
    case "FORBIDDEN": return new Forbidden(s("target"), s("messageType"), s("sender"));
    default: return new Error(typeof fields.message === "string" ? fields.message : "remote failure");
  }
}

/**
 * The runtime's error catalogue. Every error a caller can act on is a class with a stable
 * `code` and the fields needed to act; callers branch on `code`, never on message text.
 * Never put message payloads (which may hold patient text) into an error message.
 *
 * The base class and the wire table live in errors/ (imported by every layer, importing none);
 * this module registers the runtime's own codes there and re-exports them.
 */
import { FedrouterError, errorFromWire, registerErrors, type ErrorFactory, type WireError } from "../errors/index.ts";

export { FedrouterError, RemoteError, InvalidErrorRegistration, WireFields, registerErrors, registeredErrorCodes, errorFromWire, type ErrorFactory, type WireError } from "../errors/index.ts";

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

/** The runtime's own errors: a code of ERROR_CODES, which the admin service maps to a gRPC status. */
export abstract class RuntimeError extends FedrouterError {
  abstract override readonly code: ErrorCode;
}

export class AskTimeout extends RuntimeError {
  readonly code = "ASK_TIMEOUT";
  constructor(readonly target: string, readonly timeoutMs: number) {
    super(`${target} did not answer within ${timeoutMs} ms`);
  }
}

export class MailboxFull extends RuntimeError {
  readonly code = "MAILBOX_FULL";
  constructor(readonly target: string, readonly capacity: number) {
    super(`${target} mailbox is full (capacity ${capacity}); slow down or raise mailbox.capacity`);
  }
}

export class ActorNotFound extends RuntimeError {
  readonly code = "ACTOR_NOT_FOUND";
  constructor(readonly target: string) {
    super(`no actor at ${target}`);
  }
}

export class ActorStopped extends RuntimeError {
  readonly code = "ACTOR_STOPPED";
  constructor(readonly target: string) {
    super(`${target} stopped before it answered`);
  }
}

/**
 * The actor threw while handling the asker's message. `causeCode` is the code of what it threw,
 * when that had one; a thrown FedrouterError also travels whole as `cause`, rebuilt on the asker's
 * side (its class when registered there, else a RemoteError with the same code).
 */
export class ActorCrashed extends RuntimeError {
  readonly code = "ACTOR_CRASHED";
  readonly causeCode: string | undefined;
  constructor(readonly target: string, readonly reason: string, thrown?: unknown) {
    super(`${target} crashed while handling the message: ${reason}`, thrown instanceof FedrouterError ? { cause: thrown } : undefined);
    const code = (thrown as { code?: unknown } | null | undefined)?.code;
    this.causeCode = typeof code === "string" && code.length <= 64 ? code : undefined;
  }
  override toJSON(): WireError {
    return this.cause instanceof FedrouterError ? { ...super.toJSON(), cause: this.cause.toJSON() } : super.toJSON();
  }
}

export class WorkerCrashed extends RuntimeError {
  readonly code = "WORKER_CRASHED";
  constructor(readonly target: string, readonly workerId: number, readonly reason: string) {
    super(`${target} was lost with its worker thread #${workerId}: ${reason}`);
  }
}

export class DecodeError extends RuntimeError {
  readonly code = "DECODE_ERROR";
  constructor(readonly reason: string, readonly byteLength: number) {
    super(`frame of ${byteLength} bytes could not be decoded: ${reason}`);
  }
}

export class FrameTooLarge extends RuntimeError {
  readonly code = "FRAME_TOO_LARGE";
  constructor(readonly byteLength: number, readonly maxBytes: number) {
    super(`frame of ${byteLength} bytes exceeds the limit of ${maxBytes} bytes (codec.maxFrameBytes)`);
  }
}

export class EncodeError extends RuntimeError {
  readonly code = "ENCODE_ERROR";
  constructor(readonly reason: string) {
    super(`message could not be encoded: ${reason}`);
  }
}

export class BreakerOpen extends RuntimeError {
  readonly code = "BREAKER_OPEN";
  constructor(readonly target: string, readonly retryAtMs: number) {
    super(`circuit breaker for ${target} is open; next probe allowed at ${new Date(retryAtMs).toISOString()}`);
  }
}

export class RestartIntensityExceeded extends RuntimeError {
  readonly code = "RESTART_INTENSITY_EXCEEDED";
  constructor(readonly supervisor: string, readonly maxRestarts: number, readonly periodMs: number) {
    super(`${supervisor} exceeded ${maxRestarts} restarts in ${periodMs} ms and gives up`);
  }
}

export class PersistenceError extends RuntimeError {
  readonly code = "PERSISTENCE_ERROR";
  constructor(readonly store: string, readonly reason: string) {
    super(`persistence failure in ${store}: ${reason}`);
  }
}

export class InvalidPath extends RuntimeError {
  readonly code = "INVALID_PATH";
  constructor(readonly path: string, readonly reason: string) {
    super(`invalid actor path "${path}": ${reason} (expected fed://<node>/<segment>/…)`);
  }
}

export class InvalidArgument extends RuntimeError {
  readonly code = "INVALID_ARGUMENT";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`);
  }
}

export class SystemStopped extends RuntimeError {
  readonly code = "SYSTEM_STOPPED";
  constructor(readonly node: string) {
    super(`actor system ${node} is stopped`);
  }
}

export class PeerUnavailable extends RuntimeError {
  readonly code = "PEER_UNAVAILABLE";
  constructor(readonly peer: string, readonly reason: string) {
    super(`node ${peer} is not reachable: ${reason}`);
  }
}

export class PeerRefused extends RuntimeError {
  readonly code = "PEER_REFUSED";
  constructor(readonly peer: string, readonly reason: string) {
    super(`connection with ${peer} refused: ${reason}`);
  }
}

/** The sender may not send this message type to this actor (its protocol's access policy). */
export class Forbidden extends RuntimeError {
  readonly code = "FORBIDDEN";
  constructor(readonly target: string, readonly messageType: string, readonly sender: string) {
    super(`${sender} may not send "${messageType}" to ${target}`);
  }
}

/** How each runtime code is rebuilt after it crossed a thread or the network (errorFromWire). */
registerErrors({
  ASK_TIMEOUT: (f) => new AskTimeout(f.string("target"), f.number("timeoutMs")),
  MAILBOX_FULL: (f) => new MailboxFull(f.string("target"), f.number("capacity")),
  ACTOR_NOT_FOUND: (f) => new ActorNotFound(f.string("target")),
  ACTOR_STOPPED: (f) => new ActorStopped(f.string("target")),
  // The cause rebuilds through the same table; a cause that was no FedrouterError left only its code.
  ACTOR_CRASHED: (f) => new ActorCrashed(f.string("target"), f.string("reason"),
    f.has("cause") ? errorFromWire(f.value("cause")) : f.has("causeCode") ? { code: f.string("causeCode") } : undefined),
  WORKER_CRASHED: (f) => new WorkerCrashed(f.string("target"), f.number("workerId"), f.string("reason")),
  DECODE_ERROR: (f) => new DecodeError(f.string("reason"), f.number("byteLength")),
  FRAME_TOO_LARGE: (f) => new FrameTooLarge(f.number("byteLength"), f.number("maxBytes")),
  ENCODE_ERROR: (f) => new EncodeError(f.string("reason")),
  BREAKER_OPEN: (f) => new BreakerOpen(f.string("target"), f.number("retryAtMs")),
  RESTART_INTENSITY_EXCEEDED: (f) => new RestartIntensityExceeded(f.string("supervisor"), f.number("maxRestarts"), f.number("periodMs")),
  PERSISTENCE_ERROR: (f) => new PersistenceError(f.string("store"), f.string("reason")),
  INVALID_PATH: (f) => new InvalidPath(f.string("path"), f.string("reason")),
  INVALID_ARGUMENT: (f) => new InvalidArgument(f.string("field"), f.string("reason")),
  SYSTEM_STOPPED: (f) => new SystemStopped(f.string("node")),
  PEER_UNAVAILABLE: (f) => new PeerUnavailable(f.string("peer"), f.string("reason")),
  PEER_REFUSED: (f) => new PeerRefused(f.string("peer"), f.string("reason")),
  FORBIDDEN: (f) => new Forbidden(f.string("target"), f.string("messageType"), f.string("sender")),
} satisfies Record<ErrorCode, ErrorFactory>);

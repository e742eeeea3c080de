/**
 * fedrouter's actor runtime: typed actors over worker threads, OTP-style supervision,
 * circuit breakers, a msgpack codec and LMDB persistence. Generic: nothing here knows about
 * the domain it serves: it could run any federation of nodes.
 */
export { ActorSystem, DEFAULT_ROOT_SUPERVISION, type ActorSystemOptions } from "./system.ts";
export {
  defineActor,
  assertNever,
  type ActorContext,
  type ActorDefinition,
  type ActorLogger,
  type ActorRef,
  type AskOptions,
  type Behavior,
  type TellOptions,
} from "./actor/behavior.ts";
export {
  compileAccess,
  describeSender,
  senderNode,
  SENDER_KINDS,
  type AccessPolicy,
  type CompiledAccess,
  type LocalSender,
  type OperatorSender,
  type PeerSender,
  type Sender,
  type SenderKind,
  type UserSender,
} from "./actor/sender.ts";
export { DEFAULT_MAILBOX, type MailboxConfig, type OverflowPolicy } from "./actor/mailbox.ts";
export { parsePath, formatPath } from "./actor/path.ts";
export {
  actor,
  supervisor,
  DEFAULT_SUPERVISION,
  DEFAULT_CHILD,
  type ActorChildOptions,
  type ActorChildSpec,
  type ChildSpec,
  type SupervisorChildSpec,
  type SupervisorOptions,
} from "./supervision/child-spec.ts";
export type { ChildInfo } from "./supervision/child-handle.ts";
export { DEFAULT_BACKOFF, type BackoffPolicy } from "./supervision/backoff.ts";
export type { RestartType, StrategyName } from "./supervision/strategies.ts";
export type { DeadLetter, DeadLetterReason, LifecycleEvent, Placement } from "./events.ts";
export { DEFAULT_ASK } from "./internal/fabric.ts";
export * from "./errors.ts";
export * from "./breaker/index.ts";
export * from "./codec/index.ts";
export * from "./persistence/index.ts";
export { SystemMetrics } from "./metrics/system-metrics.ts";
export { createLogger, type Logger, type LogLevel } from "./log.ts";
export { RemoteTransport, DEFAULT_REMOTE, type RemoteOptions, type RemotePeer, type RemoteSecurity, type Refusal, type LinkChange } from "./remote/transport.ts";
export { BehaviorTestKit, TestInbox, type BehaviorTestKitOptions, type LogEntry, type RunOutcome, type TestAsk } from "./testkit/index.ts";
export { createDevPki, readTlsFiles, type DevPki, type DevCertificate } from "./remote/dev-certs.ts";

/**
 * The Admin gRPC service of one node (protocols/admin.proto): the operator's view of the
 * actor tree, messages to any actor, restarts, the event and dead-letter streams, breakers.
 * Over mutual TLS, only a client certificate whose CN is an operator id is served; every
 * input is bounded before it is parsed. It never puts a message body into a log line.
 *
 * Messages an operator sends carry the sender `{ kind: "operator", operator: <CN> }`, so the
 * target's access policy decides (an Accountant takes setBudget from an operator, not from a
 * peer). Every action that reaches an actor or changes the node — tell, ask (reads included:
 * who looked at what is worth a record), restart, forcing a breaker — is first handed to
 * `audit`, and does not happen if the audit did not record it.
 */
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { Observable, Subscription } from "rxjs";
import { parsePath } from "../actor/path.ts";
import { createFrameCodec, type FrameCodec } from "../codec/index.ts";
import { ActorNotFound, FedrouterError, InvalidArgument, RuntimeError, type ErrorCode } from "../errors.ts";
import { DEFAULT_ASK } from "../internal/fabric.ts";
import type { ChildInfo } from "../supervision/child-handle.ts";
import type { ActorSystem } from "../system.ts";
import {
  REPLAYED_HEADER, adminService, bodyFromJson, replyToJson, toWireActorInfo, toWireBreaker, toWireDeadLetter, toWireEvent,
  type WireActorRequest, type WireDeadLetter, type WireEvent, type WireEventsRequest, type WireForceBreakerRequest, type WireMessageRequest,
} from "./admin-proto.ts";
import type { RemoteSecurity } from "./transport.ts";

export interface AdminServerOptions {
  /** host:port to listen on; port 0 picks a free one. */
  listen: string;
  security: RemoteSecurity;
  /** Client certificate CNs allowed to call; default `DEFAULT_ADMIN.operatorIds`. */
  operatorIds?: readonly string[];
  /**
   * Records an operator's action before it takes effect (the node's audit trail). A rejection
   * refuses the call with UNAVAILABLE and nothing is done. Absent: actions are only logged.
   */
  audit?: (action: OperatorAction) => Promise<void>;
}

/** What an operator did, for the audit trail: names and types only, never a message body. */
export interface OperatorAction {
  readonly operator: string;
  readonly action: "tell" | "ask" | "restart" | "force-breaker";
  /** The actor path or breaker target. */
  readonly target: string;
  /** The message type of a tell or ask; the state of a forced breaker. */
  readonly messageType?: string;
  readonly detail?: string;
}

export const DEFAULT_ADMIN = {
  operatorIds: ["operator"],
  maxBodyBytes: 64 * 1024,
  maxPathBytes: 1024,
  /** An operator's ask may wait longer than an actor's default, but not forever. */
  maxAskTimeoutMs: 60_000,
  /** Recent events and dead letters kept for `EventsRequest.recent`. */
  recentItems: 256,
  /** A stream whose client reads slower than this many queued items is ended (RESOURCE_EXHAUSTED). */
  maxQueuedStreamItems: 10_000,
} as const;

/** Stable runtime code → gRPC status; the details start with the code itself. */
export const GRPC_STATUS_OF: Readonly<Record<ErrorCode, grpc.status>> = {
  ASK_TIMEOUT: grpc.status.DEADLINE_EXCEEDED,
  MAILBOX_FULL: grpc.status.RESOURCE_EXHAUSTED,
  ACTOR_NOT_FOUND: grpc.status.NOT_FOUND,
  ACTOR_STOPPED: grpc.status.FAILED_PRECONDITION,
  ACTOR_CRASHED: grpc.status.ABORTED,
  WORKER_CRASHED: grpc.status.ABORTED,
  DECODE_ERROR: grpc.status.INVALID_ARGUMENT,
  FRAME_TOO_LARGE: grpc.status.INVALID_ARGUMENT,
  ENCODE_ERROR: grpc.status.INVALID_ARGUMENT,
  BREAKER_OPEN: grpc.status.UNAVAILABLE,
  RESTART_INTENSITY_EXCEEDED: grpc.status.ABORTED,
  PERSISTENCE_ERROR: grpc.status.INTERNAL,
  INVALID_PATH: grpc.status.INVALID_ARGUMENT,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  SYSTEM_STOPPED: grpc.status.UNAVAILABLE,
  PEER_UNAVAILABLE: grpc.status.UNAVAILABLE,
  PEER_REFUSED: grpc.status.UNAVAILABLE,
  FORBIDDEN: grpc.status.PERMISSION_DENIED,
};

/** A refusal of the admin service itself, with no runtime code: the gRPC status names it. */
class AdminRefusal extends Error {
  constructor(readonly status: grpc.status, message: string) {
    super(message);
  }
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;
type OpenStream = { call: AnyCall; subscription?: Subscription };

export class AdminServer {
  private bound = "";
  private readonly server: grpc.Server;
  private readonly operators: ReadonlySet<string>;
  private readonly codec: FrameCodec;
  private readonly recentEvents: WireEvent[] = [];
  private readonly recentDeadLetters: WireDeadLetter[] = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly streams = new Set<OpenStream>();

  private constructor(private readonly system: ActorSystem, private readonly opts: AdminServerOptions) {
    this.operators = new Set(opts.operatorIds ?? DEFAULT_ADMIN.operatorIds);
    this.codec = createFrameCodec({ maxFrameBytes: DEFAULT_ADMIN.maxBodyBytes, resolveRef: (path) => system.ref(String(path)) });
    // Room for the largest body and path, plus the message's own framing.
    const maxMessageBytes = DEFAULT_ADMIN.maxBodyBytes + DEFAULT_ADMIN.maxPathBytes + 1_024;
    this.server = new grpc.Server({ "grpc.max_receive_message_length": maxMessageBytes });
    this.subscriptions.push(
      system.events$.subscribe((event) => remember(this.recentEvents, toWireEvent(event))),
      system.deadLetters$.subscribe((letter) => remember(this.recentDeadLetters, toWireDeadLetter(letter))),
    );
  }

  /**
   * @example
   * const admin = await AdminServer.start(system, { listen: "127.0.0.1:0", security: readTlsFiles(ca, cert, key) });
   * admin.address; // "127.0.0.1:41234": `fedrouter repl --address 127.0.0.1:41234`
   * await admin.stop();
   */
  static async start(system: ActorSystem, opts: AdminServerOptions): Promise<AdminServer> {
    if (!/^[^:]+:\d+$/.test(opts.listen)) throw new InvalidArgument("admin.listen", `"${opts.listen}" is not host:port`);
    const admin = new AdminServer(system, opts);
    try {
      await admin.bind();
    } catch (error) {
      await admin.stop();
      throw error;
    }
    return admin;
  }

  /** host:port it listens on, with the port it was given when asked for port 0. */
  get address(): string {
    return this.bound;
  }

  /** Ends every open stream, then the server (forcibly after one second). */
  async stop(): Promise<void> {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    for (const stream of this.streams) {
      stream.subscription?.unsubscribe();
      (stream.call as grpc.ServerWritableStream<unknown, unknown>).end();
    }
    this.streams.clear();
    await Promise.race([
      new Promise<void>((resolve) => this.server.tryShutdown(() => resolve())),
      new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref()),
    ]);
    this.server.forceShutdown();
  }

  private async bind(): Promise<void> {
    const system = this.system;
    this.server.addService(adminService().service, {
      ListActors: this.unary(async () => ({ root: toWireActorInfo(await system.tree()) })),
      InspectActor: this.unary(async (req: WireActorRequest) => toWireActorInfo(await this.find(checkPath(req.path)))),
      Tell: this.unary(async (req: WireMessageRequest, operator) => {
        const path = await this.checkTarget(req.path);
        const body = this.parseBody(req);
        this.system.log.info("admin-tell", { operator, path, type: body.type.slice(0, 64) });
        await this.record({ operator, action: "tell", target: path, messageType: body.type.slice(0, 64) });
        await system.ref(path).send(body, { as: { kind: "operator", operator } });
        return {};
      }),
      Ask: this.unary(async (req: WireMessageRequest, operator) => {
        const path = await this.checkTarget(req.path);
        const body = this.parseBody(req);
        const timeoutMs = checkTimeout(req.timeout_ms);
        this.system.log.info("admin-ask", { operator, path, type: body.type.slice(0, 64), timeoutMs });
        await this.record({ operator, action: "ask", target: path, messageType: body.type.slice(0, 64) });
        const reply = await system.ref(path).ask<unknown>((replyTo) => ({ ...body, replyTo }), { timeoutMs, as: { kind: "operator", operator } });
        return { json: replyToJson(reply), ...(req.body === "msgpack" ? { msgpack: Buffer.from(this.codec.encode([reply]).bytes) } : {}) };
      }),
      Restart: this.unary(async (req: WireActorRequest, operator) => {
        const path = checkPath(req.path);
        this.system.log.info("admin-restart", { operator, path });
        await this.record({ operator, action: "restart", target: path });
        return { restarts: (await system.restartActor(path)).restarts };
      }),
      Events: this.stream(system.events$, this.recentEvents, toWireEvent),
      DeadLetters: this.stream(system.deadLetters$, this.recentDeadLetters, toWireDeadLetter),
      Breakers: this.unary(() => ({ breakers: system.breakers.snapshot().map(toWireBreaker) })),
      ForceBreaker: this.unary(async (req: WireForceBreakerRequest, operator) => {
        const target = checkBounded("target", req.target, DEFAULT_ADMIN.maxPathBytes);
        if (!system.breakers.has(target)) {
          const known = system.breakers.snapshot().map((b) => b.target).join(", ") || "none";
          throw new AdminRefusal(grpc.status.NOT_FOUND, `no circuit breaker for "${target}" (known: ${known})`);
        }
        const breaker = system.breakers.get(target);
        if (req.state !== "open" && req.state !== "closed" && req.state !== "reset") {
          throw new InvalidArgument("state", `"${String(req.state).slice(0, 32)}" is not open, closed or reset`);
        }
        await this.record({ operator, action: "force-breaker", target, messageType: req.state });
        if (req.state === "open") breaker.forceOpen();
        else if (req.state === "closed") breaker.forceClose();
        else breaker.reset();
        this.system.log.info("admin-force-breaker", { operator, target, state: req.state });
        return toWireBreaker(breaker.snapshot());
      }),
    });
    const credentials = this.opts.security.kind === "insecure"
      ? grpc.ServerCredentials.createInsecure()
      : grpc.ServerCredentials.createSsl(this.opts.security.caPem, [{ cert_chain: this.opts.security.certPem, private_key: this.opts.security.keyPem }], true);
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(this.opts.listen, credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    this.bound = `${this.opts.listen.slice(0, this.opts.listen.lastIndexOf(":"))}:${port}`;
    if (this.opts.security.kind === "insecure") this.system.log.warn("admin-insecure", { address: this.bound });
  }

  /** Hands the action to the audit trail first; if it is not recorded, the action does not happen. */
  private async record(action: OperatorAction): Promise<void> {
    if (this.opts.audit === undefined) return;
    try {
      await this.opts.audit(action);
    } catch (error) {
      this.system.log.error("admin-audit-failed", { operator: action.operator, action: action.action, target: action.target, reason: error instanceof Error ? error.message : String(error) });
      throw new AdminRefusal(grpc.status.UNAVAILABLE, `the audit trail did not record this ${action.action} (${error instanceof Error ? error.message : String(error)}); nothing was done`);
    }
  }

  /** The operator id of the caller, or a refusal (logged). Without TLS there is no identity to check. */
  private authorize(call: AnyCall): { operator: string } | { refusal: AdminRefusal } {
    if (this.opts.security.kind === "insecure") return { operator: "insecure" };
    const cn = commonName(call.getAuthContext()?.sslPeerCertificate);
    if (cn !== undefined && this.operators.has(cn)) return { operator: cn };
    const allowed = [...this.operators].join(", ");
    this.system.log.warn("admin-refused", { cn: cn ?? "none", peer: call.getPeer(), method: call.getPath(), allowed });
    return {
      refusal: new AdminRefusal(grpc.status.PERMISSION_DENIED,
        `client certificate CN "${cn ?? "none"}" is not an operator of node ${this.system.node} (allowed: ${allowed}); use an operator certificate`),
    };
  }

  private unary<Req, Res>(run: (request: Req, operator: string) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const auth = this.authorize(call as AnyCall);
      if ("refusal" in auth) return callback(this.toStatus(auth.refusal));
      Promise.resolve()
        .then(() => run(call.request, auth.operator))
        .then((reply) => callback(null, reply), (error: unknown) => callback(this.toStatus(error)));
    };
  }

  /** Replays up to `recent` kept items, then follows `source` until the client cancels or the system stops. */
  private stream<T, W>(source: Observable<T>, recent: readonly W[], toWire: (item: T) => W): grpc.handleServerStreamingCall<WireEventsRequest, W> {
    return (call) => {
      const auth = this.authorize(call as AnyCall);
      if ("refusal" in auth) return void call.emit("error", this.toStatus(auth.refusal));
      // Headers first, with the number of replayed items: a client that has them and that many
      // items has seen everything before, and will see every later item.
      const replay = Math.min(Number(call.request.recent ?? 0), recent.length);
      const headers = new grpc.Metadata();
      headers.set(REPLAYED_HEADER, String(replay));
      call.sendMetadata(headers);
      for (const item of recent.slice(recent.length - replay)) call.write(item);
      const stream: OpenStream = { call: call as AnyCall };
      const close = () => {
        stream.subscription?.unsubscribe();
        this.streams.delete(stream);
      };
      this.streams.add(stream);
      stream.subscription = source.subscribe({
        next: (item) => {
          if (call.writableLength > DEFAULT_ADMIN.maxQueuedStreamItems) {
            close();
            call.emit("error", this.toStatus(new AdminRefusal(grpc.status.RESOURCE_EXHAUSTED,
              `the client fell ${DEFAULT_ADMIN.maxQueuedStreamItems} items behind; stream ended`)));
            return;
          }
          call.write(toWire(item));
        },
        complete: () => {
          close();
          call.end();
        },
      });
      call.on("cancelled", close);
      call.on("error", close);
    };
  }

  private toStatus(error: unknown): Partial<grpc.StatusObject> {
    const metadata = new grpc.Metadata();
    if (error instanceof RuntimeError) {
      metadata.set("fedrouter-error-code", error.code);
      return { code: GRPC_STATUS_OF[error.code] ?? grpc.status.UNKNOWN, details: `${error.code}: ${error.message}`, metadata };
    }
    // Another module's coded error is still a defect here (logged, INTERNAL), but its code travels.
    if (error instanceof FedrouterError) metadata.set("fedrouter-error-code", error.code);
    if (error instanceof AdminRefusal) return { code: error.status, details: `${grpc.status[error.status]}: ${error.message}`, metadata };
    // A defect, not an answer: logged with its stack here, reported without it.
    this.system.log.error("admin-failed", { reason: error instanceof Error ? error.stack ?? error.message : String(error) });
    return { code: grpc.status.INTERNAL, details: `INTERNAL: ${error instanceof Error ? error.message : String(error)}`, metadata };
  }

  private async find(path: string): Promise<ChildInfo> {
    const found = findInTree(await this.system.tree(), path);
    if (found === undefined) throw new ActorNotFound(path);
    return found;
  }

  /** A path of this node must name an actor in its tree; another node's path goes to the router. */
  private async checkTarget(raw: unknown): Promise<string> {
    const path = checkPath(raw);
    if (parsePath(path).node === this.system.node) await this.find(path);
    return path;
  }

  private parseBody(req: WireMessageRequest): Record<string, unknown> & { type: string } {
    let body: unknown;
    if (req.body === "msgpack" || (req.body === undefined && req.msgpack !== undefined && req.msgpack.length > 0)) {
      const bytes = req.msgpack ?? Buffer.alloc(0);
      if (bytes.length > DEFAULT_ADMIN.maxBodyBytes) throw new InvalidArgument("msgpack", `is ${bytes.length} bytes; the limit is ${DEFAULT_ADMIN.maxBodyBytes}`);
      const decoded = this.codec.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      if (!decoded.ok) throw decoded.error;
      if (decoded.values.length !== 1) throw new InvalidArgument("msgpack", `the frame holds ${decoded.values.length} values; send exactly one message`);
      body = decoded.values[0];
    } else {
      const json = checkBounded("json", req.json, DEFAULT_ADMIN.maxBodyBytes);
      body = bodyFromJson(json, (path) => {
        checkPath(path);
        return this.system.ref(path);
      });
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw new InvalidArgument("body", "must be an object such as {\"type\":\"get\"}");
    const type = (body as { type?: unknown }).type;
    if (typeof type !== "string" || type.length === 0) throw new InvalidArgument("body.type", "must be a non-empty string naming the message");
    return body as Record<string, unknown> & { type: string };
  }
}

function remember<T>(ring: T[], item: T): void {
  ring.push(item);
  if (ring.length > DEFAULT_ADMIN.recentItems) ring.shift();
}

function checkBounded(field: string, value: unknown, maxBytes: number): string {
  if (typeof value !== "string" || value.length === 0) throw new InvalidArgument(field, "is missing");
  const bytes = Buffer.byteLength(value);
  if (bytes > maxBytes) throw new InvalidArgument(field, `is ${bytes} bytes; the limit is ${maxBytes}`);
  return value;
}

/** A full actor path, at most 1 KiB; InvalidPath names what is wrong with it. */
function checkPath(value: unknown): string {
  const path = checkBounded("path", value, DEFAULT_ADMIN.maxPathBytes);
  parsePath(path);
  return path;
}

function checkTimeout(timeoutMs: number | undefined): number {
  if (timeoutMs === undefined || timeoutMs === 0) return DEFAULT_ASK.timeoutMs;
  if (timeoutMs > DEFAULT_ADMIN.maxAskTimeoutMs) throw new InvalidArgument("timeout_ms", `${timeoutMs} is above the limit of ${DEFAULT_ADMIN.maxAskTimeoutMs}`);
  return timeoutMs;
}

function findInTree(info: ChildInfo, path: string): ChildInfo | undefined {
  if (info.path === path) return info;
  for (const child of info.children ?? []) {
    if (path.startsWith(`${child.path}`)) {
      const found = findInTree(child, path);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function commonName(cert: PeerCertificate | undefined): string | undefined {
  const cn = cert?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

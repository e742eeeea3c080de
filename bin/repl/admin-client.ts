/**
 * A typed, promise-returning client of the Admin service (protocols/admin.proto) for the
 * REPL. Every unary call has a deadline, so a silent node never hangs the operator.
 */
import * as grpc from "@grpc/grpc-js";
import type { RemoteSecurity } from "../../runtime/index.ts";
import {
  REPLAYED_HEADER,
  adminService,
  type WireActorInfo, type WireActorTree, type WireAskReply, type WireBreaker, type WireBreakerList,
  type WireDeadLetter, type WireEvent, type WireRestartReply,
} from "../../runtime/remote/admin-proto.ts";

export const DEFAULT_ADMIN_CLIENT = {
  /** Deadline of a unary call; an ask gets its own timeout on top. */
  callTimeoutMs: 30_000,
} as const;

export interface AdminClientOptions {
  /** The node id its certificate names (CN / DNS SAN): checked instead of the address's host. */
  node?: string;
  callTimeoutMs?: number;
}

/** An open server stream; `cancel` ends it from this side. */
export interface Following {
  cancel(): void;
}

type Unary = (request: unknown, options: grpc.CallOptions, done: (error: grpc.ServiceError | null, reply: unknown) => void) => void;
type Streaming = (request: unknown) => grpc.ClientReadableStream<unknown>;

export class AdminClient {
  private readonly client: grpc.Client;
  private readonly callTimeoutMs: number;

  constructor(address: string, security: RemoteSecurity, opts: AdminClientOptions = {}) {
    const Admin = adminService();
    const credentials = security.kind === "insecure"
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(security.caPem, security.keyPem, security.certPem);
    const channel: grpc.ChannelOptions = security.kind === "mtls" && opts.node !== undefined
      ? { "grpc.ssl_target_name_override": opts.node, "grpc.default_authority": opts.node }
      : {};
    this.client = new Admin(address, credentials, channel);
    this.callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_ADMIN_CLIENT.callTimeoutMs;
  }

  async tree(): Promise<WireActorInfo> {
    const { root } = await this.unary<WireActorTree>("ListActors", {});
    if (root === undefined) throw new Error("the node sent an empty tree");
    return root;
  }

  inspect(path: string): Promise<WireActorInfo> {
    return this.unary("InspectActor", { path });
  }

  async tell(path: string, json: string): Promise<void> {
    await this.unary("Tell", { path, json });
  }

  async ask(path: string, json: string, timeoutMs = 0): Promise<string> {
    const reply = await this.unary<WireAskReply>("Ask", { path, json, timeout_ms: timeoutMs }, timeoutMs);
    return reply.json;
  }

  async restart(path: string): Promise<number> {
    return (await this.unary<WireRestartReply>("Restart", { path })).restarts;
  }

  async breakers(): Promise<WireBreaker[]> {
    return (await this.unary<WireBreakerList>("Breakers", {})).breakers ?? [];
  }

  forceBreaker(target: string, state: "open" | "closed" | "reset"): Promise<WireBreaker> {
    return this.unary("ForceBreaker", { target, state });
  }

  /** Resolves once the node has subscribed (its headers arrived): every later event is seen. */
  events(recent: number, onItem: (event: WireEvent) => void, onEnd: (error?: grpc.ServiceError) => void): Promise<Following> {
    return this.follow("Events", recent, onItem as (item: unknown) => void, onEnd);
  }

  deadLetters(recent: number, onItem: (letter: WireDeadLetter) => void, onEnd: (error?: grpc.ServiceError) => void): Promise<Following> {
    return this.follow("DeadLetters", recent, onItem as (item: unknown) => void, onEnd);
  }

  close(): void {
    this.client.close();
  }

  private unary<R>(method: string, request: unknown, extraMs = 0): Promise<R> {
    const call = (this.client as unknown as Record<string, Unary>)[method]!.bind(this.client);
    const deadline = Date.now() + this.callTimeoutMs + extraMs;
    return new Promise((resolve, reject) => call(request, { deadline }, (error, reply) => (error ? reject(error) : resolve(reply as R))));
  }

  private follow(method: string, recent: number, onItem: (item: unknown) => void, onEnd: (error?: grpc.ServiceError) => void): Promise<Following> {
    const stream = (this.client as unknown as Record<string, Streaming>)[method]!.call(this.client, { recent });
    let cancelled = false;
    let opened = false;
    let received = 0;
    let replayed = Number.POSITIVE_INFINITY;
    const following: Following = {
      cancel: () => {
        cancelled = true;
        stream.cancel();
      },
    };
    return new Promise((resolve, reject) => {
      // Resolves once the headers and the replayed items are in: what happened before is
      // printed, and whatever the next command causes will be seen.
      const settle = () => {
        if (opened && received >= replayed) resolve(following);
      };
      stream.on("data", (item: unknown) => {
        received++;
        onItem(item);
        settle();
      });
      stream.once("metadata", (headers: grpc.Metadata) => {
        opened = true;
        replayed = Number(headers.get(REPLAYED_HEADER)[0] ?? 0) || 0;
        settle();
      });
      stream.on("error", (error: grpc.ServiceError) => {
        if (!opened) return reject(error);
        if (!cancelled) onEnd(error);
      });
      stream.on("end", () => {
        if (opened && !cancelled) onEnd();
      });
    });
  }
}

/** `CODE: message` of a failed call: the runtime's code when the node sent one, else the gRPC status name. */
export function describeFailure(error: unknown): string {
  const service = error as Partial<grpc.ServiceError>;
  if (typeof service.code === "number" && typeof service.details === "string") {
    const details = service.details.replace(/\.? Resolution note: ?$/, "");
    if (/^[A-Z][A-Z_]*: /.test(details)) return details;
    return `${grpc.status[service.code] ?? "UNKNOWN"}: ${details}`;
  }
  const coded = error as { code?: unknown; message?: unknown };
  if (typeof coded.code === "string" && /^[A-Z][A-Z_]*$/.test(coded.code)) return `${coded.code}: ${String(coded.message)}`;
  return `INTERNAL: ${error instanceof Error ? error.message : String(error)}`;
}

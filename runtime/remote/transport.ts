/**
 * The federation transport: one gRPC bidirectional stream per pair of nodes (the node whose
 * id sorts first dials; the other refuses a stream from it, and an accepted stream that is
 * newer than the live one replaces it and closes it, so its dialer redials), mutual TLS with the peer's identity read from its certificate and
 * checked against the id it claims, a handshake with protocol version and node id, bounded
 * queues, reconnect with backoff and jitter, and a circuit breaker per peer. A peer that
 * sends anything malformed loses its stream, with the reason, and nobody else is disturbed.
 */
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { Subject } from "rxjs";
import { createFrameCodec, type FrameCodec } from "../codec/index.ts";
import { InvalidArgument, PeerRefused } from "../errors.ts";
import { isValidName } from "../actor/path.ts";
import { readRows } from "../internal/frame-rows.ts";
import type { Router } from "../internal/router.ts";
import type { BreakerRegistry } from "../breaker/index.ts";
import type { Logger } from "../log.ts";
import { backoffDelayMs, type BackoffPolicy } from "../supervision/backoff.ts";
import { DEFAULT_LINK, PeerLink, type FrameStream, type LinkOptions } from "./peer-link.ts";
import { PROTOCOL_VERSION, transportService, type WireFrame } from "./proto.ts";

export interface RemotePeer {
  readonly id: string;
  /** host:port */
  readonly address: string;
}

export type RemoteSecurity =
  | { readonly kind: "mtls"; readonly caPem: Buffer; readonly certPem: Buffer; readonly keyPem: Buffer }
  /** Plaintext: only where the configuration says so explicitly (tests of the insecure path). */
  | { readonly kind: "insecure" };

export interface RemoteOptions {
  /** host:port to listen on; port 0 picks a free one. */
  listen: string;
  peers: readonly RemotePeer[];
  security: RemoteSecurity;
  /** The node id a certificate vouches for; default: its subject CN. */
  identityOf?: (cert: PeerCertificate) => string | undefined;
  link?: Partial<LinkOptions>;
  reconnect?: BackoffPolicy;
  keepaliveMs?: number;
  handshakeTimeoutMs?: number;
}

// grpc-js logs its own errors to stderr; every failure here is reported by us, with context.
grpc.setLogVerbosity(grpc.logVerbosity.NONE);

export const DEFAULT_REMOTE = {
  reconnect: { minMs: 100, maxMs: 5_000, jitter: 0.2 },
  keepaliveMs: 10_000,
  handshakeTimeoutMs: 5_000,
} as const;

export interface Refusal {
  readonly peer: string;
  readonly reason: string;
  readonly atMs: number;
}

export interface LinkChange {
  readonly peer: string;
  readonly up: boolean;
  /** Why it went down. */
  readonly reason?: string;
  readonly atMs: number;
}

type Duplex = grpc.ClientDuplexStream<WireFrame, WireFrame> | grpc.ServerDuplexStream<WireFrame, WireFrame>;

export class RemoteTransport {
  /** Every refused or closed-for-cause connection, also logged. */
  readonly refusals$ = new Subject<Refusal>();
  /** A peer's link came up (a stream handshaken) or went down (its last stream ended), in order. */
  readonly links$ = new Subject<LinkChange>();
  address = "";
  private readonly links = new Map<string, PeerLink>();
  private readonly server: grpc.Server;
  private readonly clients = new Map<string, grpc.Client>();
  private readonly attempts = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly decoder: FrameCodec;
  private readonly linkOptions: LinkOptions;
  private stopped = false;
  private readonly calls = new Set<Duplex>();
  /** `fed://<peer>/` of the frame being decoded, and the first reference in it outside that node. */
  private decodingFrom = "";
  private foreignRef: string | undefined;
  /** Closes the live accepted stream of each peer: a newer accepted stream replaces it. */
  private readonly accepted = new Map<string, (reason: string) => void>();
  /** Peers added at run time (addPeer), by id. */
  private readonly addresses = new Map<string, string>();

  constructor(
    private readonly node: string,
    private readonly router: Router,
    private readonly breakers: BreakerRegistry,
    private readonly log: Logger,
    private readonly opts: RemoteOptions,
  ) {
    this.linkOptions = { ...DEFAULT_LINK, ...opts.link };
    // Built here, not as a field initializer: fields initialise before `opts` is assigned,
    // which silently gave the server the default keepalive and message-size limits.
    this.server = new grpc.Server(this.grpcOptions());
    // A reference in a peer's frame may only name that peer's own actors (its asks' reply
    // addresses): one naming ours or a third node's would make our actors send, as local code,
    // to whatever the peer chose. The frame being decoded sets `decodingFrom` first.
    this.decoder = createFrameCodec({
      maxFrameBytes: this.linkOptions.maxFrameBytes,
      resolveRef: (path) => {
        if (this.foreignRef === undefined && !String(path).startsWith(this.decodingFrom)) this.foreignRef = String(path).slice(0, 80);
        return router.fabric.ref(path);
      },
    });
    for (const peer of opts.peers) {
      if (peer.id === node) continue;
      this.links.set(peer.id, new PeerLink(peer.id, router.fabric, breakers.get(`fed://${peer.id}`), this.linkOptions));
    }
    // Floods go to one peer: remember the last prefix so a tell costs one startsWith.
    let lastPrefix = "";
    let lastLink: PeerLink | undefined;
    router.remote = (env) => {
      if (lastLink !== undefined && env.to.startsWith(lastPrefix)) return lastLink.send(env);
      const peer = env.to.slice(6, env.to.indexOf("/", 6));
      const link = this.links.get(peer);
      if (link === undefined) return router.fabric.reject(env, "no-such-actor", new PeerRefused(peer, "no such node in the cluster"));
      lastPrefix = `fed://${peer}/`;
      lastLink = link;
      link.send(env);
    };
  }

  async start(): Promise<void> {
    const Transport = transportService();
    this.server.addService(Transport.service, { Connect: (call: grpc.ServerDuplexStream<WireFrame, WireFrame>) => this.accept(call) });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(this.opts.listen, this.serverCredentials(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    this.address = `${this.opts.listen.slice(0, this.opts.listen.lastIndexOf(":"))}:${port}`;
    for (const peer of this.opts.peers) if (peer.id !== this.node && this.node < peer.id) this.dial(peer);
  }

  /**
   * A node added while running (an operator's `POST /v1/admin/nodes`): known from now on, so its
   * streams are accepted once its certificate proves the id, and dialled when this node's id sorts
   * first (as for the configured peers). Adding a known id at the same address changes nothing;
   * at another address, or this node's own id, is an InvalidArgument.
   */
  addPeer(peer: RemotePeer): void {
    if (peer.id === this.node) throw new InvalidArgument("id", `"${peer.id}" is this node`);
    const known = this.addresses.get(peer.id) ?? this.opts.peers.find((p) => p.id === peer.id)?.address;
    if (known !== undefined) {
      if (known === peer.address) return;
      throw new InvalidArgument("address", `node "${peer.id}" is already known at ${known}, not ${peer.address}`);
    }
    if (!isValidName(peer.id)) throw new InvalidArgument("id", `"${peer.id}" must match [A-Za-z0-9][A-Za-z0-9._-]*`);
    checkRemoteOptions({ ...this.opts, peers: [peer] });
    this.addresses.set(peer.id, peer.address);
    this.links.set(peer.id, new PeerLink(peer.id, this.router.fabric, this.breakers.get(`fed://${peer.id}`), this.linkOptions));
    if (!this.stopped && this.address !== "" && this.node < peer.id) this.dial(peer);
  }

  /** Link states, for operators and tests. */
  peers(): { peer: string; up: boolean; queued: number; breaker: string; lastDownReason: string }[] {
    return [...this.links.values()].map((l) => ({ peer: l.peer, up: l.isUp, queued: l.queued, breaker: l.breaker.state, lastDownReason: l.lastDownReason }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const link of this.links.values()) link.close("transport stopped");
    // Say goodbye on every stream, then end it: peers see a clean close, not a timeout.
    for (const call of this.calls) {
      try {
        call.write({ close: { reason: `${this.node} is shutting down` } });
      } catch {
        // Already closed.
      }
      endStream(call, true);
    }
    for (const client of this.clients.values()) client.close();
    await Promise.race([
      new Promise<void>((resolve) => this.server.tryShutdown(() => resolve())),
      new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref()),
    ]);
    this.server.forceShutdown();
    this.refusals$.complete();
  }

  private dial(peer: RemotePeer): void {
    if (this.stopped) return;
    const link = this.links.get(peer.id)!;
    const admission = link.breaker.tryAcquire();
    if (admission.type === "refused") {
      this.later(Math.max(50, admission.error.retryAtMs - Date.now()), () => this.dial(peer));
      return;
    }
    let client = this.clients.get(peer.id);
    if (client === undefined) {
      const Transport = transportService();
      client = new Transport(peer.address, this.clientCredentials(peer.id), {
        ...this.grpcOptions(),
        // TLS server name = the peer's node id (its certificate carries it as CN and DNS SAN),
        // so the address may be an IP without SNI carrying one.
        ...(this.opts.security.kind === "mtls" ? { "grpc.ssl_target_name_override": peer.id, "grpc.default_authority": peer.id } : {}),
      });
      this.clients.set(peer.id, client);
    }
    const call = (client as unknown as { Connect(): grpc.ClientDuplexStream<WireFrame, WireFrame> }).Connect();
    let connected = false;
    let ended = false;
    call.write({ handshake: this.handshake() });
    this.expectHandshake(call, (hello) => (hello.node_id === peer.id ? undefined : `answered as "${hello.node_id}", expected "${peer.id}"`), peer.id, () => {
      connected = true;
      link.breaker.onSuccess(admission.permit);
      this.attempts.set(peer.id, 0);
      this.log.info("peer-connected", { peer: peer.id, address: peer.address, role: "dialer" });
    }, (reason) => {
      if (ended) return;
      ended = true;
      if (!connected) link.breaker.onError(admission.permit);
      this.retry(peer, reason);
    });
  }

  private retry(peer: RemotePeer, reason: string): void {
    if (this.stopped) return;
    const attempt = (this.attempts.get(peer.id) ?? 0) + 1;
    this.attempts.set(peer.id, attempt);
    const delayMs = backoffDelayMs(attempt, this.opts.reconnect ?? DEFAULT_REMOTE.reconnect);
    this.log.info("peer-reconnect", { peer: peer.id, attempt, delayMs, reason });
    this.later(delayMs, () => this.dial(peer));
  }

  private accept(call: grpc.ServerDuplexStream<WireFrame, WireFrame>): void {
    const certificate = this.opts.security.kind === "mtls" ? call.getAuthContext().sslPeerCertificate : undefined;
    const certifiedAs = certificate !== undefined ? (this.opts.identityOf ?? commonName)(certificate) : undefined;
    this.expectHandshake(call, (hello) => {
      if (!this.links.has(hello.node_id)) return `unknown node "${hello.node_id}"`;
      // One stream per pair: the id that sorts first dials. A stream the other way would stand
      // beside ours, and whichever closed first would leave one side with none.
      if (this.node < hello.node_id) return `${this.node} dials ${hello.node_id} (the id that sorts first dials); a stream from ${hello.node_id} is refused`;
      if (this.opts.security.kind === "mtls" && certifiedAs !== hello.node_id) {
        return `certificate identity "${certifiedAs ?? "none"}" does not match the claimed node "${hello.node_id}"`;
      }
      return undefined;
    }, undefined, () => {
      call.write({ handshake: this.handshake() });
    }, () => undefined);
  }

  /**
   * Waits for the peer's handshake, validates it, then runs the stream: batches are decoded
   * and routed; anything malformed closes the stream with its reason.
   */
  private expectHandshake(
    call: Duplex,
    check: (hello: NonNullable<WireFrame["handshake"]>) => string | undefined,
    expectedPeer: string | undefined,
    onUp: () => void,
    onDown: (reason: string) => void,
  ): void {
    let peer = expectedPeer ?? "unknown";
    let link: PeerLink | undefined;
    let closed = false;
    this.calls.add(call);
    const close = (reason: string, refuse: boolean, tell = refuse) => {
      if (closed) return;
      closed = true;
      this.calls.delete(call);
      clearTimeout(timeout);
      if (link !== undefined && expectedPeer === undefined && this.accepted.get(peer) !== undefined) {
        // Forget this stream's closer only if it is still the live one.
        if (link.isStreamOf(call as unknown as FrameStream)) this.accepted.delete(peer);
      }
      if (refuse) {
        this.log.warn("peer-refused", { peer, reason });
        this.refusals$.next({ peer, reason, atMs: Date.now() });
      }
      if (tell) {
        try {
          call.write({ close: { reason } });
        } catch {
          // The stream may already be gone.
        }
      }
      endStream(call, tell);
      if (link !== undefined) {
        const wasUp = link.isUp;
        link.down(reason, call as unknown as FrameStream);
        if (wasUp && !link.isUp) this.links$.next({ peer: link.peer, up: false, reason, atMs: Date.now() });
      }
      onDown(reason);
    };
    const timeout = setTimeout(() => close("no handshake in time", true), this.opts.handshakeTimeoutMs ?? DEFAULT_REMOTE.handshakeTimeoutMs);
    call.on("data", (frame: WireFrame) => {
      if (closed) return;
      if (link === undefined) {
        if (frame.handshake === undefined) return close(frame.close ? `peer closed: ${frame.close.reason}` : "first frame is not a handshake", frame.close === undefined);
        const hello = frame.handshake;
        peer = String(hello.node_id ?? "unknown").slice(0, 128);
        if (hello.protocol_version !== PROTOCOL_VERSION) return close(`protocol version ${hello.protocol_version} is not supported (this node speaks ${PROTOCOL_VERSION})`, true);
        const problem = check(hello);
        if (problem !== undefined) return close(problem, true);
        clearTimeout(timeout);
        link = this.links.get(peer)!;
        onUp();
        const wasUp = link.isUp;
        link.up(call as unknown as FrameStream);
        if (!wasUp) this.links$.next({ peer, up: true, atMs: Date.now() });
        if (expectedPeer === undefined) {
          // An acceptor keeps the newest stream of a peer (a restarted peer dials again before its
          // old stream times out) and closes the older one with a reason, so that if the newer one
          // then ends, the peer's dialer, whose stream is gone too, dials again.
          const older = this.accepted.get(peer);
          this.accepted.set(peer, (reason) => close(reason, false, true));
          older?.(`replaced by a newer stream from ${peer}`);
        }
        return;
      }
      if (frame.close !== undefined) return close(`peer closed: ${frame.close.reason}`, false);
      if (frame.batch === undefined) return close("frame after the handshake is not a batch", true);
      this.receive(peer, link, frame.batch, (reason) => close(reason, true));
    });
    call.on("error", (error: Error) => close(`stream error: ${error.message}`, false));
    call.on("end", () => close("stream ended", false));
  }

  private receive(peer: string, link: PeerLink, batch: Uint8Array, refuse: (reason: string) => void): void {
    const own = `fed://${peer}/`;
    this.decodingFrom = own;
    this.foreignRef = undefined;
    const decoded = this.decoder.decode(batch);
    if (!decoded.ok) return refuse(decoded.error.message);
    if (this.foreignRef !== undefined) return refuse(`batch from ${peer} holds a reference to ${this.foreignRef}, not an actor of ${peer}`);
    const local = `fed://${this.node}/`;
    const sender = link.sender;
    let problem: string | undefined;
    readRows(decoded.values, (env) => {
      if (problem !== undefined) return;
      if (!env.to.startsWith(local)) {
        problem = `envelope for ${env.to.slice(0, 80)} is not addressed to this node`;
        return;
      }
      if ((env.ask !== undefined && !env.ask.startsWith(own)) || (env.ackTo !== undefined && !env.ackTo.startsWith(own))) {
        problem = `envelope asks for its answer at ${(env.ask ?? env.ackTo)!.slice(0, 80)}, not at ${peer}`;
        return;
      }
      // Whatever the frame said, the sender is the node the certificate proved.
      env.sender = sender;
      if (env.to.includes("/temp/")) {
        const answer = link.answered(env.to);
        if (answer === "unsolicited") {
          // A forged answer or forged failure: never delivered, always counted.
          this.router.fabric.deadLetter(env, "forbidden", `${peer} sent ${env.fail ? "a failure" : "an answer"} to an ask it was never sent`);
          return;
        }
        if (answer === "late") {
          if (!env.fail) this.router.fabric.deadLetter(env, "no-such-actor", `${peer} answered after the ask's deadline`);
          return;
        }
      }
      this.router.inbound(env);
    }, (reason) => {
      problem ??= reason;
    });
    if (problem !== undefined) refuse(`malformed batch from ${peer}: ${problem}`);
  }

  private handshake(): NonNullable<WireFrame["handshake"]> {
    return { protocol_version: PROTOCOL_VERSION, node_id: this.node, max_frame_bytes: this.linkOptions.maxFrameBytes };
  }

  private later(delayMs: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, delayMs);
    this.timers.add(timer);
  }

  private grpcOptions(): grpc.ChannelOptions {
    const keepaliveMs = this.opts.keepaliveMs ?? DEFAULT_REMOTE.keepaliveMs;
    const maxBytes = this.linkOptions.maxFrameBytes + 1_024;
    return {
      "grpc.keepalive_time_ms": keepaliveMs,
      "grpc.keepalive_timeout_ms": Math.max(1_000, keepaliveMs / 2),
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.http2.min_ping_interval_without_data_ms": Math.max(1_000, keepaliveMs / 2),
      "grpc.max_receive_message_length": maxBytes,
      "grpc.max_send_message_length": maxBytes,
    };
  }

  private serverCredentials(): grpc.ServerCredentials {
    const security = this.opts.security;
    if (security.kind === "insecure") return grpc.ServerCredentials.createInsecure();
    return grpc.ServerCredentials.createSsl(security.caPem, [{ cert_chain: security.certPem, private_key: security.keyPem }], true);
  }

  private clientCredentials(peer: string): grpc.ChannelCredentials {
    const security = this.opts.security;
    if (security.kind === "insecure") return grpc.credentials.createInsecure();
    const identityOf = this.opts.identityOf ?? commonName;
    return grpc.credentials.createSsl(security.caPem, security.keyPem, security.certPem, {
      // The address is an IP or host of the deployment; the identity is the node id in the certificate.
      checkServerIdentity: (_host, cert) =>
        identityOf(cert) === peer ? undefined : new Error(`server certificate identity "${identityOf(cert) ?? "none"}" is not "${peer}"`),
    });
  }
}

/**
 * Ends a stream. A Close frame just written must reach the peer first: cancelling a client call
 * at once drops what is queued (grpc-js), so a dialed stream is half-closed and cancelled only
 * a moment later; an accepted one ends (the frame goes before the end of stream).
 */
function endStream(call: Duplex, told: boolean): void {
  if (!("cancel" in call)) {
    call.end();
    return;
  }
  if (!told) {
    call.cancel();
    return;
  }
  call.end();
  setTimeout(() => call.cancel(), CLOSE_GRACE_MS).unref();
}

/** How long a dialed stream that was told why it closes has to deliver that frame before it is cancelled. */
const CLOSE_GRACE_MS = 250;

function commonName(cert: PeerCertificate): string | undefined {
  const cn = cert.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

/** Checks peers and the listen address before anything binds. */
export function checkRemoteOptions(opts: RemoteOptions): void {
  if (!/^[^:]+:\d+$/.test(opts.listen)) throw new InvalidArgument("remote.listen", `"${opts.listen}" is not host:port`);
  const ids = new Set<string>();
  for (const [i, peer] of opts.peers.entries()) {
    if (!/^[^:]+:\d+$/.test(peer.address)) throw new InvalidArgument(`remote.peers[${i}].address`, `"${peer.address}" is not host:port`);
    if (ids.has(peer.id)) throw new InvalidArgument(`remote.peers[${i}].id`, `"${peer.id}" appears twice`);
    ids.add(peer.id);
  }
}

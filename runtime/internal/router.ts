/**
 * The main thread's router: knows which worker hosts which path, buffers (boundedly) for an
 * actor whose worker is being replaced, and remembers the asks it forwarded into each worker
 * so that a worker's death fails them at once with a typed error instead of a timeout.
 */
import { ActorNotFound, MailboxFull, type FedrouterError } from "../errors.ts";
import type { Envelope } from "./envelope.ts";
import { tempTag, type Fabric, type Uplink } from "./fabric.ts";

export interface RouteTarget {
  readonly tag: string;
  post(env: Envelope, transfer?: readonly ArrayBuffer[]): void;
}

interface Route {
  target: RouteTarget | undefined;
  buffer: { env: Envelope; transfer?: readonly ArrayBuffer[] }[];
  capacity: number;
}

/** Sweep of forgotten ask records (asks that timed out in the asker's thread). */
const PENDING_SWEEP_MS = 10_000;

export class Router {
  /** Where envelopes for another node go (the federation transport), when there is one. */
  remote: Uplink | undefined;
  private readonly routes = new Map<string, Route>();
  private readonly targets = new Map<string, RouteTarget>();
  private readonly pending = new Map<string, { tag: string; deadlineMs: number }>();
  private readonly sweep: NodeJS.Timeout;

  private readonly localPrefix: string;

  constructor(readonly fabric: Fabric) {
    this.localPrefix = `fed://${fabric.node}/`;
    fabric.uplink = (env, transfer) => this.route(env, transfer);
    this.sweep = setInterval(() => this.forgetExpired(Date.now()), PENDING_SWEEP_MS);
    this.sweep.unref();
  }

  /** Declares that `path` lives behind a target that is not up yet: messages are buffered. */
  reserve(path: string, capacity: number): void {
    const route = this.routes.get(path);
    if (route === undefined) this.routes.set(path, { target: undefined, buffer: [], capacity });
    else route.target = undefined;
  }

  /** The target now serves `path`: buffered messages go out in order. */
  up(path: string, target: RouteTarget): void {
    this.targets.set(target.tag, target);
    const route = this.routes.get(path) ?? { target: undefined, buffer: [], capacity: 0 };
    route.target = target;
    this.routes.set(path, route);
    for (const { env, transfer } of route.buffer.splice(0)) this.forward(target, env, transfer);
  }

  /** The target went away; messages for `path` are buffered until up() again. */
  down(path: string): void {
    const route = this.routes.get(path);
    if (route !== undefined) route.target = undefined;
  }

  /** The path is gone for good: buffered messages fail with `error`. */
  remove(path: string, error: FedrouterError): void {
    const route = this.routes.get(path);
    this.routes.delete(path);
    for (const { env } of route?.buffer ?? []) this.fabric.reject(env, "actor-stopped", error);
  }

  forgetTarget(tag: string): void {
    this.targets.delete(tag);
  }

  /** Fails every ask and send that was forwarded into `tag` and not yet answered. */
  failPending(tag: string, error: (askPath: string) => FedrouterError): void {
    for (const [askPath, record] of this.pending) {
      if (record.tag !== tag) continue;
      this.pending.delete(askPath);
      this.fabric.failTemp(askPath, error(askPath));
    }
  }

  /** An envelope that came from a worker. */
  inbound(env: Envelope): void {
    if (this.pending.size > 0 && tempTag(env.to) !== undefined) this.pending.delete(env.to);
    this.fabric.deliver(env);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  close(): void {
    clearInterval(this.sweep);
  }

  private route(env: Envelope, transfer?: readonly ArrayBuffer[]): void {
    if (!env.to.startsWith(this.localPrefix)) {
      if (this.remote !== undefined) this.remote(env, transfer);
      else this.fabric.reject(env, "no-such-actor", new ActorNotFound(env.to));
      return;
    }
    const tag = tempTag(env.to);
    if (tag !== undefined) {
      const target = this.targets.get(tag);
      if (target !== undefined) target.post(env, transfer);
      else if (!env.fail) this.fabric.deadLetter(env, "no-such-actor", `thread ${tag} of the asker is gone`);
      return;
    }
    const route = this.routes.get(env.to);
    if (route === undefined) {
      this.fabric.reject(env, "no-such-actor", new ActorNotFound(env.to));
      return;
    }
    if (route.target !== undefined) this.forward(route.target, env, transfer);
    else if (route.buffer.length < route.capacity) route.buffer.push(transfer ? { env, transfer } : { env });
    else this.fabric.reject(env, "mailbox-full", new MailboxFull(env.to, route.capacity));
  }

  private forward(target: RouteTarget, env: Envelope, transfer?: readonly ArrayBuffer[]): void {
    const waiter = env.ask ?? env.ackTo;
    if (waiter !== undefined) this.pending.set(waiter, { tag: target.tag, deadlineMs: env.deadlineMs ?? Date.now() + 60_000 });
    target.post(env, transfer);
  }

  private forgetExpired(nowMs: number): void {
    for (const [askPath, record] of this.pending) if (record.deadlineMs < nowMs) this.pending.delete(askPath);
  }
}

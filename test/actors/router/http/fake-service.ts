/**
 * An in-memory FrontDoorService for the HTTP layer's tests: budgets per user charged once per
 * (user, request id) (a repeat is marked replayed), a fixed answer, a health report the test
 * sets, a 409 in_progress for a prompt asking for it. Not a Router: no actors.
 */
import { SignJWT } from "jose";
import { BudgetExceededError, createHttpApi, InProgressError, InvalidRequestError, UnavailableError, type Caller, type ConfigUpdate, type FrontDoorService, type HealthReport, type HttpApiOptions, type InferenceRequest, type InferenceResult, type InferenceStreamEvent, type NodeSpec, type Role } from "../../../../actors/router/http/index.ts";

export const SECRET = "test-secret-of-at-least-thirty-two-bytes!";
export const ISSUER = "fedrouter-test";
export const AUDIENCE = "fedrouter";
export const ANSWER = ["Rest", " and", " fluids."];
const DEFAULT_COST = 0.1;

export class FakeService implements FrontDoorService {
  readonly spent = new Map<string, number>();
  readonly charged = new Map<string, number>();
  readonly requests: { request: InferenceRequest; caller: Caller }[] = [];
  limit = 1;
  health$: HealthReport = { live: true, ready: true, checks: { accountant: { ok: true }, "breaker:hospital-b": { ok: true } } };
  nodes: NodeSpec[] = [];
  config: ConfigUpdate = {};
  /** Set to make the stream fail after its first piece. */
  failMidStream = false;
  streamClosed = 0;
  /** Pause between streamed pieces, to let a test hang up mid-stream. */
  streamDelayMs = 0;
  /** The Accountant's period the budget reports (a daily one in UTC by default). */
  budgetPeriod = { key: "2026-12-02", endMs: Date.UTC(2026, 11, 3) };

  private charge(request: InferenceRequest, caller: Caller): { cost: number; remaining: number; replayed: boolean } {
    this.requests.push({ request, caller });
    if (request.prompt.includes("crash the fake")) throw new Error("a defect in the fake service");
    if (request.prompt.includes("still running please")) throw new InProgressError(request.requestId, 0);
    if (request.prompt.includes("no route please")) throw new UnavailableError("no hospital can serve this model now: every breaker is open", 5);
    if (request.department === "unknown-dept") throw new InvalidRequestError("department", "no budget is configured for it");
    const cost = request.privacyBudget ?? DEFAULT_COST;
    const key = `${caller.userId}|${request.requestId}`;
    const spent = this.spent.get(caller.userId) ?? 0;
    const replayed = this.charged.has(key);
    if (!replayed) {
      if (spent + cost > this.limit + 1e-12) {
        throw new BudgetExceededError({ remaining: Number((this.limit - spent).toFixed(6)), needed: cost, resetsAtMs: Date.now() + 3_600_000 });
      }
      this.charged.set(key, cost);
      this.spent.set(caller.userId, spent + cost);
    }
    return { cost: this.charged.get(key)!, remaining: Number((this.limit - this.spent.get(caller.userId)!).toFixed(6)), replayed };
  }

  async infer(request: InferenceRequest, caller: Caller): Promise<InferenceResult> {
    const { cost, remaining, replayed } = this.charge(request, caller);
    return {
      response: ANSWER.join(""), privacyCost: cost, remainingBudget: remaining, nodeId: "hospital-a",
      consensusReached: request.requireConsensus ? true : null, confidenceScore: request.requireConsensus ? 0.94 : null,
      finishReason: "stop", usage: { promptTokens: 5, completionTokens: 3 }, ...(replayed ? { replayed } : {}),
    };
  }

  async *inferStream(request: InferenceRequest, caller: Caller): AsyncGenerator<InferenceStreamEvent> {
    const { cost, remaining } = this.charge(request, caller);
    try {
      for (const text of ANSWER) {
        yield { type: "text", text };
        if (this.streamDelayMs > 0) await new Promise((done) => setTimeout(done, this.streamDelayMs));
        if (this.failMidStream) throw new UnavailableError("hospital-b went away mid-generation");
      }
      yield {
        type: "done",
        summary: { privacyCost: cost, remainingBudget: remaining, nodeId: "hospital-a", consensusReached: null, confidenceScore: null, finishReason: "stop", usage: { promptTokens: 5, completionTokens: 3 } },
      };
    } finally {
      this.streamClosed += 1;
    }
  }

  async budget(userId: string, department?: string) {
    const spent = this.spent.get(userId) ?? 0;
    return {
      userId, totalBudget: this.limit, consumed: spent, remaining: this.limit - spent, period: this.budgetPeriod.key, nextRefreshMs: this.budgetPeriod.endMs,
      ...(department === undefined ? {} : { department: { name: department, totalBudget: 15, consumed: spent, remaining: 15 - spent } }),
    };
  }

  async health(): Promise<HealthReport> {
    return this.health$;
  }

  async addNode(node: NodeSpec): Promise<NodeSpec> {
    this.nodes.push(node);
    return node;
  }

  async updateConfig(update: ConfigUpdate): Promise<ConfigUpdate> {
    this.config = { ...this.config, ...update };
    return this.config;
  }

  async metrics(): Promise<string> {
    return "# HELP fedrouter_budget_spent_epsilon_total ε committed\n# TYPE fedrouter_budget_spent_epsilon_total counter\nfedrouter_budget_spent_epsilon_total 0.3\n";
  }
}

export interface Started {
  readonly url: string;
  readonly service: FakeService;
  readonly close: () => Promise<void>;
}

/** A server on 127.0.0.1 with an ephemeral port over a fresh FakeService. */
export async function startServer(overrides: Partial<HttpApiOptions> = {}, service = new FakeService()): Promise<Started> {
  const app = await createHttpApi(service, { auth: { issuer: ISSUER, audience: AUDIENCE, signing: { alg: "HS256", secret: SECRET } }, ...overrides });
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  return { url: address, service, close: () => app.close() };
}

/** A token from the local issuer's key, as POST /v1/auth/token would sign it (or altered for a test). */
export function tokenFor(user: string, role: Role | string = "doctor", department = "cardiology", change: { expSeconds?: number; secret?: string; issuer?: string; audience?: string } = {}): Promise<string> {
  const jwt = new SignJWT({ role, department }).setProtectedHeader({ alg: "HS256" }).setSubject(user)
    .setIssuer(change.issuer ?? ISSUER).setAudience(change.audience ?? AUDIENCE).setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (change.expSeconds ?? 600));
  return jwt.sign(new TextEncoder().encode(change.secret ?? SECRET));
}

export async function call(url: string, method: string, path: string, options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers["content-type"] ??= "application/json";
  const response = await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/**
 * The HTTP front door: a fastify server over a FrontDoorService. It authenticates (JWT),
 * authorises (roles), rate-limits per user, bounds and validates every body, then calls the
 * service and maps what it throws to the error table of ./errors.ts. It never charges budget
 * itself and never logs a body (prompts stay out of the logs).
 *
 *   const app = await createHttpApi(router, { auth: { issuer: "fedrouter", audience: "fedrouter", signing: { alg: "HS256", secret } }, users: "users.json" });
 *   await app.listen({ host: "127.0.0.1", port: 8080 });
 */
import { performance } from "node:perf_hooks";
import fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from "fastify";
import rateLimit from "@fastify/rate-limit";
import { TokenAuthority, type AuthOptions } from "./auth.ts";
import { answerClientError, answerExpectation } from "./client-errors.ts";
import { errorBody, ForbiddenError, type FrontDoorError, InternalError, InvalidRequestError, NotFoundError, RateLimitedError, toFrontDoorError, UnauthorizedError, UnavailableError, UnsupportedEncodingError } from "./errors.ts";
import { HttpMetrics } from "./http-metrics.ts";
import { periodOf, type ResetSchedule } from "../../accountant/index.ts";
import { checkDepartment, toInferenceRequest } from "./inference-request.ts";
import { registerModelRoutes, servedModels, type ServedModel } from "./models.ts";
import { privacyHeaders, registerOpenAiRoutes } from "./openai.ts";
import { configBody, DEFAULT_HTTP_LIMITS, inferenceBody, nodeBody, parseBody, tokenBody, type HttpLimits } from "./schemas.ts";
import type { BudgetStatus, Caller, ConfigUpdate, FrontDoorService, HealthReport, NodeSpec, Role } from "./service.ts";
import { department as departmentSchema, MAX_USER_ID_CHARS, userId as userIdSchema, UserStore } from "./users.ts";

/** Who may call a route: anyone (no token), any valid token, or these roles. */
export type AuthRule = "public" | "any" | readonly Role[];

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: AuthRule;
  }
  interface FastifyRequest {
    caller: Caller | null;
  }
}

export interface HttpApiOptions {
  readonly auth: AuthOptions;
  /** The local user store (a UserStore, or the path of its file) behind POST /v1/auth/token; absent: tokens only from configured issuers. */
  readonly users?: UserStore | string;
  readonly limits?: Partial<HttpLimits>;
  /** Reported by /v1/health. */
  readonly version?: string;
  /** fastify's logger option (default: off). Bodies are never logged. */
  readonly logger?: FastifyServerOptions["logger"];
  /** The models the OpenAI endpoints accept as `model` and `GET /v1/models` lists (default: one, DEFAULT_MODEL_ID). */
  readonly models?: readonly ServedModel[];
  /**
   * The federation's departments (cluster.config.ts privacy.departments). Given: a request naming
   * a department that is not one of them is 400, a caller whose own department is not one of them
   * gets 403 (inference-request.ts checkDepartment); one an admin gives a budget (PUT
   * /v1/admin/config) is one from then on. Absent: only "not yours" is checked here (403).
   */
  readonly departments?: readonly string[];
  /**
   * The Accountant's budget periods (cluster.config.ts privacy.reset and timeZone): the budget's
   * `last_refresh` is the first instant of its period. Absent, or not matching the period the
   * Accountant reports: `last_refresh` is left out.
   */
  readonly budgetPeriods?: { readonly reset: ResetSchedule; readonly timeZone: string };
}

export const ADMIN_ROLES: readonly Role[] = ["admin", "operator"];

export async function createHttpApi(service: FrontDoorService, options: HttpApiOptions): Promise<FastifyInstance> {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const authority = new TokenAuthority(options.auth);
  const users = typeof options.users === "string" ? new UserStore(options.users) : options.users;
  const models = servedModels(options.models, Date.now());
  const departments = options.departments === undefined ? undefined : new Set(options.departments);
  const metrics = new HttpMetrics();
  // Every refusal answers in the error table's shape, including those made before a route (and
  // so the error handler) is chosen: by Node's parser (clientErrorHandler), by Node's server (a
  // missing Host, checked in onRequest; an Expect it does not meet), by fastify's router
  // (frameworkErrors) and while closing (onRequest, below; fastify's own 503 has its own shape).
  const app = fastify({
    logger: options.logger ?? false, bodyLimit: limits.bodyLimitBytes, return503OnClosing: false,
    // The one path parameter is a user id: a longer one cannot exist, and is refused before routing.
    routerOptions: { maxParamLength: MAX_USER_ID_CHARS },
    frameworkErrors: (error, request, reply) => sendError(reply, request, error, frameworkError(error)),
    clientErrorHandler: answerClientError,
    http: { requireHostHeader: false },
  });
  app.server.on("checkExpectation", answerExpectation);
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });

  app.decorateRequest("caller", null);

  // fastify's own JSON parser (secure-json-parse, refusing prototype keys), except that a body it
  // refuses for a "__proto__" or constructor.prototype key is told so: fastify reports every
  // refusal as "not valid JSON", which such a body is not. JSON.parse runs only on a refused body.
  const fastifyJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, raw, done) => {
    const body = raw as string; // parseAs "string"
    fastifyJson(request, body, (error, parsed) => {
      if ((error as FastifyError | null)?.code === "FST_ERR_CTP_INVALID_JSON_BODY" && isJson(body)) {
        return done(new InvalidRequestError("", 'the body holds a "__proto__" or "constructor": { "prototype" } key, which is refused (prototype poisoning); leave it out'), undefined);
      }
      done(error, parsed);
    });
  });

  const noRoute = (request: FastifyRequest) => new NotFoundError(`no route ${request.method} ${request.url.split("?")[0]!.slice(0, 200)}`);
  // A request no route takes is 404 whatever its body: fastify reads the body of an unmatched
  // request too, and its parse error would otherwise answer first.
  app.setErrorHandler((error, request, reply) => sendError(reply, request, error, request.is404 ? noRoute(request) : toFrontDoorError(error)));
  app.setNotFoundHandler((request) => {
    throw noRoute(request);
  });

  // fastify's own hook and clock (reply.elapsedTime, ms since the request arrived): a "finish"
  // listener and a closure on every raw response cost /v1/health about a tenth of its req/s.
  app.addHook("onResponse", (request, reply, done) => {
    metrics.observe(request.routeOptions.url ?? "(unmatched)", request.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  // A callback hook, not an async one: a public route (a health probe) passes with no promise made.
  app.addHook("onRequest", (request, _reply, done) => {
    if (closing) return done(new UnavailableError("this server is shutting down; retry, and the request reaches another front door or this one restarted"));
    if (request.raw.httpVersion === "1.1" && request.headers.host === undefined) return done(new InvalidRequestError("Host", "an HTTP/1.1 request must carry one (RFC 9112, section 3.2); send it"));
    const unreadable = request.is404 ? null : unreadableBody(request.headers);
    if (unreadable !== null) return done(unreadable);
    const rule = request.routeOptions.config?.auth ?? "public";
    if (rule === "public") return done();
    const header = request.headers.authorization;
    if (header === undefined || !/^Bearer\s+\S/i.test(header)) {
      return done(new UnauthorizedError("no bearer token: send Authorization: Bearer <token> (POST /v1/auth/token issues one)"));
    }
    authority.verify(header.replace(/^Bearer\s+/i, "").trim()).then((caller) => {
      if (rule !== "any" && !rule.includes(caller.role)) {
        return done(new ForbiddenError(`role ${caller.role} may not call ${request.method} ${request.routeOptions.url}; it needs one of ${rule.join(", ")}`));
      }
      request.caller = caller;
      done();
    }, (error: Error) => done(error));
  });

  // After authentication (onRequest), before the body is read: a flood costs no parsing.
  await app.register(rateLimit, {
    global: true,
    hook: "preParsing",
    max: limits.rateLimit.max,
    timeWindow: limits.rateLimit.windowMs,
    keyGenerator: (request) => (request.caller === null ? `ip:${request.ip}` : `user:${request.caller.issuer}|${request.caller.userId}`),
    errorResponseBuilder: (_request, context) => new RateLimitedError(context.max, context.ttl),
  });

  const callerOf = (request: FastifyRequest): Caller => {
    if (request.caller === null) throw new UnauthorizedError("no verified caller");
    return request.caller;
  };
  const noLimit = { rateLimit: false as const };
  // Built once: a zod schema costs far more to build than to run (it was built per request).
  const inferenceSchema = inferenceBody(limits);

  app.post("/v1/inference", { config: { auth: "any" } }, async (request, reply) => {
    const started = performance.now();
    const body = parseBody(inferenceSchema, request.body);
    const caller = callerOf(request);
    const inference = toInferenceRequest(body, body.prompt, caller, request.headers["idempotency-key"], {}, departments);
    const result = await service.infer(inference, caller);
    void reply.headers(privacyHeaders(result, inference.requestId));
    return {
      success: true, request_id: inference.requestId, response: result.response,
      privacy_cost: result.privacyCost, remaining_budget: result.remainingBudget, node_id: result.nodeId,
      processing_time: Number(((performance.now() - started) / 1000).toFixed(6)),
      consensus_reached: result.consensusReached, confidence_score: result.confidenceScore,
    };
  });

  app.get<{ Params: { user_id: string }; Querystring: { department?: string } }>("/v1/privacy/budget/:user_id", { config: { auth: "any" } }, async (request) => {
    const caller = callerOf(request);
    const user = userIdSchema.safeParse(request.params.user_id);
    if (!user.success) throw new NotFoundError(`no such user: the id ${user.error.issues[0]!.message}`);
    const self = user.data === caller.userId;
    if (!self && !ADMIN_ROLES.includes(caller.role)) throw new ForbiddenError(`role ${caller.role} may read only its own budget (${caller.userId}), not ${user.data}'s`);
    const asked = request.query.department;
    if (asked !== undefined && !departmentSchema.safeParse(asked).success) throw new InvalidRequestError("department", `${JSON.stringify(String(asked).slice(0, 64))} is not a department name (lowercase letters, digits, dashes)`);
    checkDepartment(asked, caller, departments, !self || ADMIN_ROLES.includes(caller.role));
    const status = await service.budget(user.data, asked ?? (self ? caller.department : undefined), caller);
    const start = periodStartMs(status, options.budgetPeriods);
    return {
      user_id: status.userId, total_budget: status.totalBudget, consumed: status.consumed, remaining: status.remaining, period: status.period,
      ...(start === undefined ? {} : { last_refresh: new Date(start).toISOString() }), next_refresh: new Date(status.nextRefreshMs).toISOString(),
      ...(status.department === undefined ? {} : {
        department: { name: status.department.name, total_budget: status.department.totalBudget, consumed: status.department.consumed, remaining: status.department.remaining },
      }),
    };
  });

  const healthOf = async (): Promise<HealthReport> => {
    try {
      return await service.health();
    } catch (error) {
      app.log.error({ err: error }, "health check failed");
      return { live: false, ready: false, checks: { service: { ok: false, detail: "the health check itself failed" } } };
    }
  };
  const failing = (report: HealthReport) => Object.entries(report.checks).filter(([, c]) => !c.ok).map(([name, c]) => (c.detail === undefined ? name : `${name} (${c.detail})`));
  const checksOf = (report: HealthReport) => Object.fromEntries(Object.entries(report.checks).map(([name, c]) => [name, { ok: c.ok, ...(c.detail === undefined ? {} : { detail: c.detail }) }]));

  // A report is shared by the probes of its 250 ms (RouterClient's cache): everything in the
  // answer but the timestamp is serialised once per report, not once per probe.
  const versionJson = JSON.stringify(options.version ?? "0.1.0");
  const healthTails = new WeakMap<HealthReport, string>();
  app.get("/v1/health", { config: { auth: "public", ...noLimit } }, async (_request, reply) => {
    const report = await healthOf();
    let tail = healthTails.get(report);
    if (tail === undefined) {
      const components: Record<string, string> = {};
      for (const name in report.checks) components[name] = report.checks[name]!.ok ? "healthy" : "unhealthy";
      tail = `,"version":${versionJson},"components":${JSON.stringify(components)},"checks":${JSON.stringify(checksOf(report))}}`;
      healthTails.set(report, tail);
    }
    const status = report.ready ? "healthy" : report.live ? "degraded" : "unhealthy";
    void reply.status(report.live ? 200 : 503).type("application/json; charset=utf-8");
    return `{"status":"${status}","timestamp":"${new Date().toISOString()}"${tail}`;
  });
  for (const [path, which] of [["/health/live", "live"], ["/health/ready", "ready"]] as const) {
    app.get(path, { config: { auth: "public", ...noLimit } }, async (_request, reply) => {
      const report = await healthOf();
      if (report[which]) return { status: which, checks: checksOf(report) };
      const why = failing(report);
      void reply.status(503);
      return { ...errorBody(new UnavailableError(`not ${which}${why.length === 0 ? "" : `: ${why.join(", ")}`}`)), status: `not_${which}`, checks: checksOf(report) };
    });
  }

  // Public, and rate-limited per IP like every unauthenticated route: password guessing is slow.
  app.post("/v1/auth/token", { config: { auth: "public" } }, async (request) => {
    const body = parseBody(tokenBody, request.body);
    if (users === undefined) throw new UnavailableError("this server has no local user store; get a token from your hospital's identity provider");
    const id = "username" in body ? body.username : body.user_id;
    const user = await users.verify(id, body.password);
    if (user === null) throw new UnauthorizedError("unknown user or wrong password");
    const token = await authority.issue(user);
    return { access_token: token, token, token_type: "Bearer", expires_in: authority.ttlSeconds, user_id: user.id, role: user.role, department: user.department };
  });
  app.get("/metrics", { config: { auth: "public", ...noLimit } }, async (_request, reply) => {
    const own = await metrics.registry.metrics();
    const node = await service.metrics();
    void reply.type(metrics.registry.contentType);
    return `${node.trimEnd()}${node.trim() === "" ? "" : "\n"}${own}`;
  });

  app.post("/v1/admin/nodes", { config: { auth: ADMIN_ROLES } }, async (request, reply) => {
    const body = parseBody(nodeBody, request.body);
    const node: NodeSpec = {
      nodeId: body.node_id, endpoint: body.endpoint,
      ...(body.compute_capacity === undefined ? {} : { computeCapacity: body.compute_capacity }),
      ...(body.specializations === undefined ? {} : { specializations: body.specializations }),
      ...(body.security_level === undefined ? {} : { securityLevel: body.security_level }),
      ...(body.region === undefined ? {} : { region: body.region }),
    };
    const added = await service.addNode(node, callerOf(request));
    void reply.status(201);
    return {
      node_id: added.nodeId, endpoint: added.endpoint, compute_capacity: added.computeCapacity ?? null,
      specializations: added.specializations ?? [], security_level: added.securityLevel ?? null, region: added.region ?? null,
    };
  });

  app.put("/v1/admin/config", { config: { auth: ADMIN_ROLES } }, async (request) => {
    const body = parseBody(configBody, request.body);
    const applied = await service.updateConfig(configFromWire(body), callerOf(request));
    for (const name of Object.keys(applied.privacy?.departments ?? {})) departments?.add(name);
    return { updated: true, config: configToWire(applied) };
  });

  registerModelRoutes(app, models);
  registerOpenAiRoutes(app, { service, limits, callerOf, models, ...(departments === undefined ? {} : { departments }) });
  return app;
}

/**
 * The first instant of the budget's period, as the Accountant's periods fall (periods.ts
 * periodOf): the period that ends when the budget resets. Undefined without the periods, or when
 * they do not give the period the Accountant reported (a config that disagrees is never shown as
 * a wrong instant).
 */
function periodStartMs(status: BudgetStatus, periods: HttpApiOptions["budgetPeriods"]): number | undefined {
  if (periods === undefined) return undefined;
  const period = periodOf(status.nextRefreshMs - 1, periods.reset, periods.timeZone);
  return period.key === status.period && period.endMs === status.nextRefreshMs ? period.startMs : undefined;
}

function sendError(reply: FastifyReply, request: FastifyRequest, error: unknown, failure: FrontDoorError): void {
  if (failure instanceof InternalError) request.log.error({ err: error }, "request failed");
  void reply.status(failure.statusCode).headers(failure.headers()).send(errorBody(failure));
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * A body this server would misread: compressed (fastify decodes no Content-Encoding, so a gzip
 * body read as JSON fails as "not valid JSON" and a `br` one sent uncompressed passes unnoticed),
 * or in a charset other than UTF-8 (read as UTF-8 anyway, é in latin-1 would become U+FFFD: a
 * prompt the caller never sent). 415, naming the header; null when the body can be read as sent.
 */
function unreadableBody(headers: FastifyRequest["headers"]): InvalidRequestError | null {
  const coding = headers["content-encoding"];
  if (coding !== undefined && coding.trim().toLowerCase() !== "identity") {
    return new UnsupportedEncodingError(`${coding.slice(0, 64)} is not supported; send the body uncompressed (identity)`);
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(headers["content-type"] ?? "")?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    return new InvalidRequestError("Content-Type", `charset ${charset.slice(0, 64)} is not supported; JSON is sent as UTF-8 (RFC 8259)`, 415);
  }
  return null;
}

/** fastify's router errors, in the error table: never echoing the path, which may be kilobytes. */
function frameworkError(error: FastifyError): FrontDoorError {
  if (error.code === "FST_ERR_MAX_PARAM_LENGTH") {
    return new InvalidRequestError("", `a path segment is longer than ${MAX_USER_ID_CHARS} characters, the longest a user id (the one path parameter) may be; check the path`, 414);
  }
  return toFrontDoorError(error);
}

type ConfigWire = ReturnType<typeof configBody.parse>;

function configFromWire(body: ConfigWire): ConfigUpdate {
  const { privacy, performance: perf, routing } = body;
  return {
    ...(privacy === undefined ? {} : {
      privacy: {
        ...(privacy.epsilon_per_query === undefined ? {} : { epsilonPerQuery: privacy.epsilon_per_query }),
        ...(privacy.max_budget_per_user === undefined ? {} : { maxBudgetPerUser: privacy.max_budget_per_user }),
        ...(privacy.delta === undefined ? {} : { delta: privacy.delta }),
        ...(privacy.departments === undefined ? {} : { departments: privacy.departments }),
      },
    }),
    ...(perf === undefined ? {} : { performance: perf.max_concurrent_requests === undefined ? {} : { maxConcurrentRequests: perf.max_concurrent_requests } }),
    ...(routing === undefined ? {} : { routing: routing.strategy === undefined ? {} : { strategy: routing.strategy } }),
  };
}

function configToWire(config: ConfigUpdate): Record<string, unknown> {
  const wire: Record<string, unknown> = {};
  if (config.privacy !== undefined) {
    wire.privacy = {
      ...(config.privacy.epsilonPerQuery === undefined ? {} : { epsilon_per_query: config.privacy.epsilonPerQuery }),
      ...(config.privacy.maxBudgetPerUser === undefined ? {} : { max_budget_per_user: config.privacy.maxBudgetPerUser }),
      ...(config.privacy.delta === undefined ? {} : { delta: config.privacy.delta }),
      ...(config.privacy.departments === undefined ? {} : { departments: config.privacy.departments }),
    };
  }
  if (config.performance !== undefined) {
    wire.performance = config.performance.maxConcurrentRequests === undefined ? {} : { max_concurrent_requests: config.performance.maxConcurrentRequests };
  }
  if (config.routing !== undefined) wire.routing = config.routing.strategy === undefined ? {} : { strategy: config.routing.strategy };
  return wire;
}

/**
 * The OpenAI-compatible endpoints, `POST /v1/chat/completions` and `POST /v1/completions`, so
 * that the official SDKs work unchanged (baseURL → this server, apiKey → a fedrouter JWT).
 * `model` must be one of the ids `GET /v1/models` lists (./models.ts); `stop` ends the answer
 * before its first occurrence (finish_reason "stop"); `n` other than 1 and non-zero penalties are
 * refused as not supported. Privacy fields travel as extra body fields (privacy_budget,
 * require_consensus, priority, department, request_id); the cost comes back as extra response
 * fields (consensus_reached and confidence_score null for a single model's answer) and as headers
 * (x-fedrouter-privacy-cost, x-fedrouter-remaining-budget). `stream: true` answers server-sent
 * events in OpenAI's chunk format, ending with `data: [DONE]`; a streamed answer reports its
 * cost in the last chunk (headers leave before the cost is known). A streamed retry of a request
 * id already answered gets that answer as a single-chunk stream (all its text in one chunk,
 * then the finish chunk with the same privacy_cost), charged nothing.
 *
 * A chat becomes one prompt, one line per message, `<role>: <text>` (a content array's text
 * parts joined), followed by `assistant:` for the model to continue:
 *
 *   [{ role: "system", content: "Be brief." }, { role: "user", content: "Fever?" }]
 *   → "system: Be brief.\nuser: Fever?\nassistant:"
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { errorBody, InternalError, InvalidRequestError, toFrontDoorError } from "./errors.ts";
import { toInferenceRequest } from "./inference-request.ts";
import { servedModel, type ServedModel } from "./models.ts";
import { chatBody, completionBody, parseBody, type HttpLimits } from "./schemas.ts";
import type { Caller, FrontDoorService, InferenceRequest, InferenceStreamEvent, InferenceSummary } from "./service.ts";

type ChatMessage = { readonly role: string; readonly content: string | readonly { readonly text: string }[] };

/** The prompt a chat is turned into (see the module comment). */
export function chatPrompt(messages: readonly ChatMessage[]): string {
  const lines = messages.map((m) => `${m.role}: ${typeof m.content === "string" ? m.content : m.content.map((part) => part.text).join("")}`);
  return `${lines.join("\n")}\nassistant:`;
}

/** The response fields and headers fedrouter adds to every answer. */
export function privacyFields(summary: InferenceSummary): Record<string, unknown> {
  return {
    privacy_cost: summary.privacyCost, remaining_budget: summary.remainingBudget, node_id: summary.nodeId,
    consensus_reached: summary.consensusReached, confidence_score: summary.confidenceScore,
  };
}

/** The cost headers of an answer; `x-fedrouter-replayed: true` when it is a kept answer served to a retry. */
export function privacyHeaders(summary: InferenceSummary, requestId: string): Record<string, string> {
  return {
    "x-fedrouter-privacy-cost": String(summary.privacyCost),
    "x-fedrouter-remaining-budget": String(summary.remainingBudget),
    "x-fedrouter-node-id": summary.nodeId,
    "x-request-id": requestId,
    ...(summary.replayed === true ? { "x-fedrouter-replayed": "true" } : {}),
  };
}

function usageOf(summary: InferenceSummary): Record<string, unknown> {
  if (summary.usage === undefined) return {};
  const { promptTokens, completionTokens } = summary.usage;
  return { usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } };
}

/** How one endpoint's chunks look: chat deltas or completion texts. */
interface ChunkShape {
  readonly object: string;
  readonly first?: () => Record<string, unknown>;
  readonly text: (text: string) => Record<string, unknown>;
  readonly finish: (reason: string) => Record<string, unknown>;
}

const chatChunks: ChunkShape = {
  object: "chat.completion.chunk",
  first: () => ({ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }),
  text: (text) => ({ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }),
  finish: (reason) => ({ index: 0, delta: {}, logprobs: null, finish_reason: reason }),
};

const completionChunks: ChunkShape = {
  object: "text_completion",
  text: (text) => ({ index: 0, text, logprobs: null, finish_reason: null }),
  finish: (reason) => ({ index: 0, text: "", logprobs: null, finish_reason: reason }),
};

export interface OpenAiRoutesContext {
  readonly service: FrontDoorService;
  readonly limits: HttpLimits;
  readonly callerOf: (request: FastifyRequest) => Caller;
  /** The ids accepted as `model` (GET /v1/models lists them). */
  readonly models: readonly ServedModel[];
  /** The federation's departments, when known (inference-request.ts checkDepartment). */
  readonly departments?: ReadonlySet<string>;
}

export function registerOpenAiRoutes(app: FastifyInstance, context: OpenAiRoutesContext): void {
  const { service, limits, callerOf, models, departments } = context;
  const chat = chatBody(limits);
  const completion = completionBody(limits);

  app.post("/v1/chat/completions", { config: { auth: "any" } }, async (request, reply) => {
    const body = parseBody(chat, request.body);
    servedModel(models, body.model);
    const prompt = chatPrompt(body.messages);
    if (prompt.length > limits.maxPromptChars) throw new InvalidRequestError("messages", `make a prompt of ${prompt.length} characters, more than ${limits.maxPromptChars}`);
    if (body.max_tokens !== undefined && body.max_completion_tokens !== undefined && body.max_tokens !== body.max_completion_tokens) {
      throw new InvalidRequestError("max_completion_tokens", "differs from max_tokens; send one of them");
    }
    const caller = callerOf(request);
    const inference = toInferenceRequest(body, prompt, caller, request.headers["idempotency-key"], {
      model: body.model, ...(body.max_completion_tokens === undefined ? {} : { maxTokens: body.max_completion_tokens }),
    }, departments);
    const created = Math.floor(Date.now() / 1000);
    const id = `chatcmpl-${inference.requestId}`;
    if (body.stream === true) return streamChunks(request, reply, service.inferStream(inference, caller), { id, created, model: body.model, shape: chatChunks, inference, includeUsage: body.stream_options?.include_usage === true });
    const result = await service.infer(inference, caller);
    void reply.headers(privacyHeaders(result, inference.requestId));
    return {
      id, object: "chat.completion", created, model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content: result.response, refusal: null }, logprobs: null, finish_reason: result.finishReason ?? "stop" }],
      ...usageOf(result), ...privacyFields(result),
    };
  });

  app.post("/v1/completions", { config: { auth: "any" } }, async (request, reply) => {
    const body = parseBody(completion, request.body);
    servedModel(models, body.model);
    const caller = callerOf(request);
    const inference = toInferenceRequest(body, body.prompt, caller, request.headers["idempotency-key"], { model: body.model }, departments);
    const created = Math.floor(Date.now() / 1000);
    const id = `cmpl-${inference.requestId}`;
    if (body.stream === true) return streamChunks(request, reply, service.inferStream(inference, caller), { id, created, model: body.model, shape: completionChunks, inference, includeUsage: body.stream_options?.include_usage === true });
    const result = await service.infer(inference, caller);
    void reply.headers(privacyHeaders(result, inference.requestId));
    return {
      id, object: "text_completion", created, model: body.model,
      choices: [{ index: 0, text: result.response, logprobs: null, finish_reason: result.finishReason ?? "stop" }],
      ...usageOf(result), ...privacyFields(result),
    };
  });
}

interface StreamContext {
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly shape: ChunkShape;
  readonly inference: InferenceRequest;
  readonly includeUsage: boolean;
}

/**
 * Writes the service's stream as SSE. The first event is awaited before any byte is sent, so a
 * refusal (no budget, no route) is still a plain HTTP error; a failure later ends the stream with
 * `data: {"error": …}` (which the OpenAI SDKs raise as an APIError) and no [DONE].
 */
async function streamChunks(request: FastifyRequest, reply: FastifyReply, events: AsyncIterable<InferenceStreamEvent>, context: StreamContext): Promise<void> {
  const iterator = events[Symbol.asyncIterator]();
  let step = await iterator.next();
  void reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", "x-request-id": context.inference.requestId,
  });
  let gone = false;
  raw.once("close", () => {
    if (raw.writableFinished) return;
    gone = true;
    void iterator.return?.();
  });
  const base = { id: context.id, object: context.shape.object, created: context.created, model: context.model };
  const send = (payload: unknown) => raw.write(`data: ${JSON.stringify(payload)}\n\n`);
  try {
    if (context.shape.first !== undefined) send({ ...base, choices: [context.shape.first()] });
    let finished = false;
    while (!step.done && !gone) {
      const event = step.value;
      if (event.type === "text") {
        if (event.text.length > 0) send({ ...base, choices: [context.shape.text(event.text)] });
      } else {
        finished = true;
        send({ ...base, choices: [context.shape.finish(event.summary.finishReason ?? "stop")], ...privacyFields(event.summary) });
        if (context.includeUsage) send({ ...base, choices: [], ...(usageOf(event.summary).usage === undefined ? { usage: null } : usageOf(event.summary)) });
      }
      step = await iterator.next();
    }
    if (!gone) {
      if (!finished) throw new Error("the service's stream ended without a done event");
      raw.write("data: [DONE]\n\n");
    }
  } catch (error) {
    const failure = toFrontDoorError(error);
    if (failure instanceof InternalError) request.log.error({ err: error, requestId: context.inference.requestId }, "inference stream failed");
    if (!gone) send(errorBody(failure));
  } finally {
    raw.end();
  }
}

import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { chatPrompt, DEFAULT_MODEL_ID } from "../../../../actors/router/http/index.ts";
import { ANSWER, call, startServer, tokenFor } from "./fake-service.ts";

const client = (baseURL: string, apiKey: string) => new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0, timeout: 10_000 });

test("a chat is one prompt: a line `<role>: <text>` per message, then `assistant:`", () => {
  assert.equal(chatPrompt([{ role: "system", content: "Be brief." }, { role: "user", content: [{ text: "Fever" }, { text: "?" }] }]), "system: Be brief.\nuser: Fever?\nassistant:");
});

test("the official openai SDK, unchanged, gets a chat completion with the privacy fields in its body and headers", async () => {
  const server = await startServer();
  try {
    const openai = client(server.url, await tokenFor("dr-smith", "doctor", "emergency"));
    const { data, response } = await openai.chat.completions.create({
      model: DEFAULT_MODEL_ID, max_tokens: 16, temperature: 0.2,
      messages: [{ role: "system", content: "You are a careful clinician." }, { role: "user", content: "Fever and cough for three days?" }],
      // @ts-expect-error privacy fields travel as extra body fields
      privacy_budget: 0.2, require_consensus: true,
    }).withResponse();
    assert.equal(data.object, "chat.completion");
    assert.equal(data.model, DEFAULT_MODEL_ID);
    assert.equal(data.choices[0]!.message.role, "assistant");
    assert.equal(data.choices[0]!.message.content, ANSWER.join(""));
    assert.equal(data.choices[0]!.finish_reason, "stop");
    assert.deepEqual(data.usage, { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
    const extra = data as unknown as Record<string, unknown>;
    assert.equal(extra.privacy_cost, 0.2);
    assert.equal(extra.remaining_budget, 0.8);
    assert.equal(extra.consensus_reached, true);
    assert.equal(response.headers.get("x-fedrouter-privacy-cost"), "0.2");
    assert.equal(response.headers.get("x-fedrouter-remaining-budget"), "0.8");
    const seen = server.service.requests[0]!.request;
    assert.equal(seen.prompt, "system: You are a careful clinician.\nuser: Fever and cough for three days?\nassistant:");
    assert.deepEqual([seen.model, seen.maxTokens, seen.temperature, seen.privacyBudget, seen.requireConsensus], [DEFAULT_MODEL_ID, 16, 0.2, 0.2, true]);
    assert.equal(data.id, `chatcmpl-${seen.requestId}`);
  } finally {
    await server.close();
  }
});

test("the openai SDK streams a chat completion: OpenAI's chunks, the text in order, the cost in the last chunk, ending with [DONE]", async () => {
  const server = await startServer();
  try {
    const openai = client(server.url, await tokenFor("dr-smith"));
    const stream = await openai.chat.completions.create({ model: DEFAULT_MODEL_ID, messages: [{ role: "user", content: "Fever?" }], stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk"), "every chunk is a chat.completion.chunk");
    assert.equal(chunks[0]!.choices[0]!.delta.role, "assistant");
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), ANSWER.join(""));
    const last = chunks.at(-2)!;
    assert.equal(last.choices[0]!.finish_reason, "stop");
    assert.equal((last as unknown as Record<string, unknown>).privacy_cost, 0.1);
    assert.equal((last as unknown as Record<string, unknown>).remaining_budget, 0.9);
    assert.deepEqual(chunks.at(-1)!.usage, { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
    assert.equal(server.service.streamClosed, 1, "the service's stream was finished");

    const raw = await call(server.url, "POST", "/v1/chat/completions", { token: await tokenFor("dr-smith"), body: { model: DEFAULT_MODEL_ID, messages: [{ role: "user", content: "hi" }], stream: true } });
    assert.equal(raw.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.match(raw.text, /\n\ndata: \[DONE\]\n\n$/);
    assert.ok(raw.text.split("\n\n").filter(Boolean).every((event) => event.startsWith("data: ")), "only data: events");
  } finally {
    await server.close();
  }
});

test("the openai SDK gets text completions, non-streaming and streaming", async () => {
  const server = await startServer();
  try {
    const openai = client(server.url, await tokenFor("dr-smith"));
    const completion = await openai.completions.create({ model: DEFAULT_MODEL_ID, prompt: "Fever and cough:", max_tokens: 8 });
    assert.equal(completion.object, "text_completion");
    assert.equal(completion.choices[0]!.text, ANSWER.join(""));
    assert.equal(completion.choices[0]!.finish_reason, "stop");
    assert.equal((completion as unknown as Record<string, unknown>).privacy_cost, 0.1);
    const stream = await openai.completions.create({ model: DEFAULT_MODEL_ID, prompt: "Fever and cough:", stream: true });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, "text_completion", "a completion chunk");
      text += chunk.choices[0]!.text;
      finish = chunk.choices[0]!.finish_reason ?? finish;
    }
    assert.equal(text, ANSWER.join(""));
    assert.equal(finish, "stop");
  } finally {
    await server.close();
  }
});

test("through the openai SDK, errors arrive as its typed errors with our body: 429 budget, 401, 400; a failure mid-stream is an APIError", async () => {
  const server = await startServer();
  try {
    server.service.limit = 0.05;
    const openai = client(server.url, await tokenFor("dr-smith"));
    const messages = [{ role: "user" as const, content: "Fever?" }];
    await assert.rejects(openai.chat.completions.create({ model: DEFAULT_MODEL_ID, messages }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.RateLimitError, `a RateLimitError, got ${String(error)}`);
      assert.equal((error.error as Record<string, unknown>).type, "privacy_budget_exceeded");
      assert.equal((error.error as Record<string, unknown>).remaining_budget, 0.05);
      return true;
    });
    await assert.rejects(openai.chat.completions.create({ model: DEFAULT_MODEL_ID, messages, stream: true }), (error: unknown) => error instanceof OpenAI.RateLimitError, "a refused stream is a plain 429");
    await assert.rejects(client(server.url, "not-a-jwt").chat.completions.create({ model: DEFAULT_MODEL_ID, messages }), (error: unknown) => error instanceof OpenAI.AuthenticationError);
    // @ts-expect-error a wrong type on purpose
    await assert.rejects(openai.chat.completions.create({ model: DEFAULT_MODEL_ID, messages, max_tokens: "many" }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError, "a BadRequestError");
      assert.match(error.message, /max_tokens: /);
      return true;
    });
    server.service.limit = 1;
    server.service.failMidStream = true;
    const stream = await openai.chat.completions.create({ model: DEFAULT_MODEL_ID, messages, stream: true });
    const texts: string[] = [];
    await assert.rejects(async () => {
      for await (const chunk of stream) texts.push(chunk.choices[0]?.delta.content ?? "");
    }, (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError, `an APIError, got ${String(error)}`);
      assert.match(error.message, /hospital-b went away mid-generation/);
      return true;
    });
    assert.equal(texts.join(""), ANSWER[0], "what was generated before the failure arrived");
  } finally {
    await server.close();
  }
});

test("a client that hangs up mid-stream ends the service's stream (its iterator is returned), and the server keeps serving", async () => {
  const server = await startServer();
  try {
    server.service.streamDelayMs = 200;
    const abort = new AbortController();
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST", signal: abort.signal,
      headers: { authorization: `Bearer ${await tokenFor("dr-smith")}`, "content-type": "application/json" },
      body: JSON.stringify({ model: DEFAULT_MODEL_ID, messages: [{ role: "user", content: "hi" }], stream: true }),
    });
    const reader = response.body!.getReader();
    await reader.read();
    abort.abort();
    const deadline = Date.now() + 5_000;
    while (server.service.streamClosed === 0 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 20));
    assert.equal(server.service.streamClosed, 1, "the service's generator was closed");
    server.service.streamDelayMs = 0;
    assert.equal((await call(server.url, "POST", "/v1/completions", { token: await tokenFor("dr-smith"), body: { model: DEFAULT_MODEL_ID, prompt: "q" } })).status, 200, "still serving");
  } finally {
    await server.close();
  }
});

test("stop (a string, or up to 4) reaches the service from both OpenAI endpoints and /v1/inference; n > 1 and penalties are refused as not supported, naming the field", async () => {
  const server = await startServer();
  try {
    const token = await tokenFor("dr-smith");
    const openai = client(server.url, token);
    const messages = [{ role: "user" as const, content: "Fever?" }];
    await openai.chat.completions.create({ model: DEFAULT_MODEL_ID, messages, stop: "\n" });
    await openai.completions.create({ model: DEFAULT_MODEL_ID, prompt: "Fever?", stop: ["\n\n", "END"] });
    await openai.chat.completions.create({ model: DEFAULT_MODEL_ID, messages, stop: null, n: 1, presence_penalty: 0, frequency_penalty: 0 });
    assert.equal((await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "Fever?", stop: ["###"] } })).status, 200);
    assert.deepEqual(server.service.requests.map((r) => r.request.stop), [["\n"], ["\n\n", "END"], undefined, ["###"]]);

    const refusals: [Record<string, unknown>, string, RegExp][] = [
      [{ n: 2 }, "n", /^n: 2 choices are not supported: one choice per request \(send n: 1, or leave n out\)$/],
      [{ stop: ["a", "b", "c", "d", "e"] }, "stop", /^stop: at most 4 stop sequences/],
      [{ stop: "" }, "stop", /^stop: a stop sequence must not be empty/],
      [{ presence_penalty: 0.5 }, "presence_penalty", /^presence_penalty: is not supported \(only 0\)/],
      [{ frequency_penalty: -1 }, "frequency_penalty", /^frequency_penalty: is not supported \(only 0\)/],
    ];
    for (const [extra, param, message] of refusals) {
      await assert.rejects(openai.chat.completions.create({ model: DEFAULT_MODEL_ID, messages, ...extra }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError, `${JSON.stringify(extra)}: a BadRequestError, got ${String(error)}`);
        const body = error.error as { param: string; message: string };
        assert.equal(body.param, param);
        assert.match(body.message, message);
        assert.doesNotMatch(body.message, /unknown field/);
        return true;
      });
    }
    const native = await call(server.url, "POST", "/v1/inference", { token, body: { prompt: "q", stop: ["1", "2", "3", "4", "5"] } });
    assert.equal(native.status, 400);
    assert.equal(native.json.error.param, "stop");
    assert.equal(server.service.requests.length, 4, "the service saw none of the refused");
  } finally {
    await server.close();
  }
});

/**
 * `GET /v1/models` and `GET /v1/models/{id}` as OpenAI defines them (issue 14: "the SDK's
 * `models.list()` 404s today"), through the official openai SDK; the ids listed are the ones the
 * completion endpoints accept as `model`, and another is OpenAI's 404 in our error table's shape.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { DEFAULT_MODEL_ID } from "../../../../actors/router/http/index.ts";
import { call, startServer, tokenFor } from "./fake-service.ts";

const client = (baseURL: string, apiKey: string) => new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0, timeout: 10_000 });

test("the openai SDK lists and retrieves the served model; an unknown id is a 404 not_found naming the served ones", async () => {
  const server = await startServer();
  try {
    const openai = client(server.url, await tokenFor("dr-smith"));
    const models = [];
    for await (const model of openai.models.list()) models.push(model);
    assert.equal(models.length, 1);
    const [model] = models;
    assert.deepEqual(Object.keys(model!).sort(), ["created", "id", "object", "owned_by"]);
    assert.equal(model!.id, DEFAULT_MODEL_ID);
    assert.equal(model!.object, "model");
    assert.ok(Number.isInteger(model!.created) && model!.created > 1_600_000_000, `created is Unix seconds: ${model!.created}`);
    assert.equal(model!.owned_by, "fedrouter");
    const raw = await call(server.url, "GET", "/v1/models", { token: await tokenFor("dr-smith") });
    assert.deepEqual(Object.keys(raw.json).sort(), ["data", "object"]);
    assert.equal(raw.json.object, "list");

    assert.deepEqual(await openai.models.retrieve(DEFAULT_MODEL_ID), model);
    await assert.rejects(openai.models.retrieve("gpt-4o"), (error: unknown) => {
      assert.ok(error instanceof OpenAI.NotFoundError, `a NotFoundError, got ${String(error)}`);
      assert.deepEqual(error.error, {
        type: "not_found", param: "model", code: "model_not_found",
        message: `model "gpt-4o" is not served here; GET /v1/models lists the ones that are: ${DEFAULT_MODEL_ID}`,
      });
      return true;
    });
    assert.equal((await call(server.url, "GET", "/v1/models")).status, 401, "a token is needed, as at OpenAI");
  } finally {
    await server.close();
  }
});

test("the completion endpoints accept the ids /v1/models lists, and answer another with the same 404", async () => {
  const server = await startServer({ models: [{ id: "gpt2-federation", createdSeconds: 1_700_000_000, ownedBy: "local-dev" }] });
  try {
    const openai = client(server.url, await tokenFor("dr-smith"));
    const listed = (await openai.models.list()).data;
    assert.deepEqual(listed, [{ id: "gpt2-federation", object: "model", created: 1_700_000_000, owned_by: "local-dev" }]);
    const answer = await openai.chat.completions.create({ model: "gpt2-federation", messages: [{ role: "user", content: "Fever?" }] });
    assert.equal(answer.model, "gpt2-federation");
    for (const create of [
      () => openai.chat.completions.create({ model: DEFAULT_MODEL_ID, messages: [{ role: "user", content: "Fever?" }] }),
      () => openai.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Fever?" }),
      () => openai.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "Fever?" }], stream: true }),
    ]) {
      await assert.rejects(create(), (error: unknown) => error instanceof OpenAI.NotFoundError && (error.error as { code?: string }).code === "model_not_found");
    }
    assert.equal(server.service.requests.length, 1, "an unknown model reaches no service");
  } finally {
    await server.close();
  }
});

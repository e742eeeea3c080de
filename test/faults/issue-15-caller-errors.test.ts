/**
 * Issue 15, finding 1: one ordinary user could take the whole API down. A prompt longer than the
 * model's context (about 200 tokens against 64 positions here, 1,000 characters: far under the
 * 16,000-character limit) answered 503 instead of 400, after being tried on every hospital, and
 * every such request counted as a failure of each hospital's breaker: a few of them opened all
 * the breakers and everyone got 503 for 10 s, renewable. With it, issue 14's missing max_tokens:
 * the default (256) or any max_tokens past what the context leaves ran into CONTEXT_EXCEEDED
 * mid-answer and was a 503, after charging for the tokens released.
 *
 * Here on real parts (router-node.ts: the Accountant on LMDB in a temp dir, the Aggregator, a
 * ShardExecutor of a small random GPT-2 with 64 positions), three "hospitals" routing to it, over
 * real HTTP on 127.0.0.1. A caller's error is the caller's: a 400 before anything is reserved or
 * routed, never retried on another hospital, never counted against a breaker; a max_tokens past
 * the context is clamped to it (finish_reason "length") and reserved, so charged, at the clamp.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ensembleCharge, ensembleReservation } from "../../actors/aggregator/index.ts";
import { Gpt2Tokenizer } from "../../actors/shard-executor/index.ts";
import type { HospitalRoute, RouterService } from "../../actors/router/service.ts";
import { DEPARTMENT, SIGMA, startRouterNode, type RouterNode } from "../actors/router/router-node.ts";
import { call, tokenFor } from "../actors/router/http/fake-service.ts";
import { tempDir } from "../fixtures/node-store.ts";

const CONTEXT = 64; // router-node.ts's model: positions 64
const HOSPITALS = ["h-a", "h-b", "h-c"];
/** 1,000 characters: about 200 tokens, far past the 64 positions. */
const LONG_PROMPT = "word ".repeat(200);
const REQUESTS = 8; // twice what opened every breaker (minimumCalls 3 of a window of 10)

type Response = Awaited<ReturnType<typeof call>>;

function hospitalsOf(node: RouterNode): HospitalRoute[] {
  return HOSPITALS.map((id) => ({ id, region: "eu", route: [{ path: node.executorPath }] }));
}

function describe(response: Response): string {
  return `${response.status} ${response.text.slice(0, 400)}`;
}

async function chargesOf(node: RouterNode, user: string) {
  const history = await node.accountant.history(user);
  if (history.type !== "history") throw new Error(history.message);
  return history.charges;
}

async function assertBreakersClosed(service: RouterService): Promise<void> {
  const health = await service.health();
  for (const id of HOSPITALS) assert.equal(health.checks[`breaker:${id}`]?.detail, "closed", `${id}'s breaker stays closed: ${JSON.stringify(health.checks)}`);
  assert.equal(health.ready, true, "the API stays ready");
}

/** A lookup that counts the steps asked of the executor (every hospital here routes to it). */
function countingLookup(node: RouterNode): { lookup: (path: string) => ReturnType<RouterNode["system"]["ref"]>; asks: () => number } {
  let asks = 0;
  return {
    asks: () => asks,
    lookup: (path) => {
      const ref = node.system.ref(path);
      return new Proxy(ref, {
        get(target, key) {
          if (key === "ask") asks++;
          const value = Reflect.get(target, key);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    },
  };
}

test("issue 15: over-long prompts are 400 invalid_request before anything runs and open no breaker; a normal request right after is answered", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-issue-15-caller-"));
  try {
    const tokenizer = await Gpt2Tokenizer.fromDirectory(node.modelDir);
    const promptTokens = tokenizer.encode(LONG_PROMPT).length;
    assert.ok(promptTokens > CONTEXT && LONG_PROMPT.length === 1_000, `the finding's prompt: ${promptTokens} tokens in ${LONG_PROMPT.length} characters`);
    const counted = countingLookup(node);
    const service = await node.router({ hospitals: hospitalsOf(node), ensemble: { sigma: SIGMA, k: 3 }, lookup: counted.lookup, duplicateWaitMs: 0 });
    const url = await node.serve(service);
    const user = "dr-long";
    const token = await tokenFor(user, "doctor", DEPARTMENT);

    for (let i = 0; i < REQUESTS; i++) {
      const requests = [
        call(url, "POST", "/v1/inference", { token, body: { prompt: LONG_PROMPT, max_tokens: 16, require_consensus: i % 2 === 0 } }),
        call(url, "POST", "/v1/chat/completions", { token, body: { model: "fedrouter", messages: [{ role: "user", content: LONG_PROMPT }] } }), // no max_tokens, as LangChain sends
        call(url, "POST", "/v1/completions", { token, body: { model: "fedrouter", prompt: LONG_PROMPT, stream: true } }),
      ];
      for (const response of await Promise.all(requests)) {
        assert.equal(response.status, 400, `a prompt that cannot fit is the caller's error: ${describe(response)}`);
        assert.equal(response.json.error.type, "invalid_request");
        assert.equal(response.json.error.param, "prompt");
        const named = /encodes to (\d+) tokens, the model's context is (\d+) positions/.exec(response.json.error.message);
        assert.ok(named !== null && Number(named[1]) >= promptTokens && Number(named[2]) === CONTEXT, `naming the prompt's tokens and the context: ${response.json.error.message}`);
      }
    }
    assert.equal(counted.asks(), 0, "nothing was sent to any hospital");
    assert.deepEqual(await chargesOf(node, user), [], "nothing was reserved");
    await assertBreakersClosed(service);

    const single = await call(url, "POST", "/v1/inference", { token, body: { prompt: "The patient was", max_tokens: 3 } });
    assert.equal(single.status, 200, `a normal request right after is answered: ${describe(single)}`);
    const consensus = await call(url, "POST", "/v1/inference", { token, body: { prompt: "The patient was", max_tokens: 3, require_consensus: true } });
    assert.equal(consensus.status, 200, `and a consensus one: ${describe(consensus)}`);
    assert.ok(consensus.json.privacy_cost > 0);
  } finally {
    await node.stop();
  }
});

test("issue 15: a router that does not know the context answers the executor's CONTEXT_EXCEEDED as 400 before the first token (asked of one hospital only) and as finish_reason length after it, never counted against a breaker", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-issue-15-unknown-context-"));
  try {
    const counted = countingLookup(node);
    const service = await node.router({ hospitals: hospitalsOf(node), ensemble: { sigma: SIGMA, k: 3 }, lookup: counted.lookup, contextTokens: undefined, duplicateWaitMs: 0 });
    const url = await node.serve(service);
    const user = "dr-unknown";
    const token = await tokenFor(user, "doctor", DEPARTMENT);
    for (let i = 0; i < REQUESTS; i++) {
      const response = await call(url, "POST", "/v1/inference", { token, body: { prompt: LONG_PROMPT, max_tokens: 4 } });
      assert.equal(response.status, 400, describe(response));
      assert.equal(response.json.error.type, "invalid_request");
      assert.match(response.json.error.message, /context of 64/);
    }
    assert.equal(counted.asks(), REQUESTS, "each was asked of one hospital: a caller's error is not retried elsewhere");
    const consensus = await call(url, "POST", "/v1/inference", { token, body: { prompt: LONG_PROMPT, max_tokens: 4, require_consensus: true } });
    assert.equal(consensus.status, 400, `a consensus request too: ${describe(consensus)}`);
    assert.deepEqual((await chargesOf(node, user)).map((c) => c.state), ["released"], "the consensus reservation was released: nothing was generated");
    // Past the context mid-answer: the executors' CONTEXT_EXCEEDED ends the answer, as "length".
    const tokenizer = await Gpt2Tokenizer.fromDirectory(node.modelDir);
    // A consensus request reserves its max_tokens unclamped here (1,000 votes are past 20 ε): a prompt near the context.
    let near = "";
    while (tokenizer.encode(near).length < CONTEXT - 3) near += "note ";
    for (const [prompt, maxTokens, require_consensus] of [["The patient was", 1_000, false], [near, 12, true]] as const) {
      const room = CONTEXT - tokenizer.encode(prompt).length + 1; // the executors sample one token past prompt + completion = context
      const full = await call(url, "POST", "/v1/completions", { token, body: { model: "fedrouter", prompt, max_tokens: maxTokens, require_consensus } });
      assert.equal(full.status, 200, `consensus ${require_consensus}: answered up to the context, ${describe(full)}`);
      assert.equal(full.json.choices[0].finish_reason, "length");
      assert.equal(full.json.usage.completion_tokens, room);
    }
    await assertBreakersClosed(service);
    const after = await call(url, "POST", "/v1/inference", { token, body: { prompt: "The patient was", max_tokens: 3 } });
    assert.equal(after.status, 200, describe(after));
  } finally {
    await node.stop();
  }
});

test("issue 14: a max_tokens past the context (or none) is clamped to what the context leaves: finish_reason length, never a 503, reserved and charged at the clamp", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-issue-14-clamp-"));
  try {
    const tokenizer = await Gpt2Tokenizer.fromDirectory(node.modelDir);
    const service = await node.router({ hospitals: hospitalsOf(node), ensemble: { sigma: SIGMA, k: 3 } });
    const url = await node.serve(service);
    const user = "dr-clamp";
    const token = await tokenFor(user, "doctor", DEPARTMENT);

    const chat = await call(url, "POST", "/v1/chat/completions", { token, body: { model: "fedrouter", messages: [{ role: "user", content: "The patient was" }] } });
    assert.equal(chat.status, 200, `no max_tokens (the default 256 > 64 positions): answered, ${describe(chat)}`);
    assert.equal(chat.json.choices[0].finish_reason, "length");
    assert.equal(chat.json.usage.prompt_tokens + chat.json.usage.completion_tokens, CONTEXT, "the answer fills the context, no more");

    const completion = await call(url, "POST", "/v1/completions", { token, body: { model: "fedrouter", prompt: "The patient was", max_tokens: 1_000 } });
    assert.equal(completion.status, 200, describe(completion));
    assert.equal(completion.json.choices[0].finish_reason, "length");
    assert.equal(completion.json.usage.completion_tokens, CONTEXT - tokenizer.encode("The patient was").length);

    const streamed = await call(url, "POST", "/v1/chat/completions", { token, body: { model: "fedrouter", messages: [{ role: "user", content: "The patient was" }], max_tokens: 1_000, stream: true } });
    assert.equal(streamed.status, 200);
    assert.match(streamed.text, /"finish_reason":"length"/, "a streamed answer ends with length");
    assert.doesNotMatch(streamed.text, /"error"/, "and no error event");

    // Consensus: a prompt that leaves a few positions, with max_tokens 1,000. The worst case of
    // 1,000 votes is more than the user's 20 ε; the clamp's few are what is reserved.
    let prompt = "";
    while (tokenizer.encode(prompt).length < CONTEXT - 5) prompt += "note ";
    const room = CONTEXT - tokenizer.encode(prompt).length;
    assert.ok(room >= 2 && room <= 5, `room for ${room} tokens`);
    const voted = await call(url, "POST", "/v1/completions", { token, headers: { "idempotency-key": "q-clamped" }, body: { model: "fedrouter", prompt, max_tokens: 1_000, require_consensus: true } });
    assert.equal(voted.status, 200, `a consensus answer is clamped, not refused for 1,000 votes: ${describe(voted)}`);
    assert.equal(voted.json.choices[0].finish_reason, "length");
    assert.equal(voted.json.usage.completion_tokens, room);
    const charge = (await chargesOf(node, user)).find((c) => c.key === `${user}:q-clamped`);
    assert.ok(charge !== undefined && charge.state === "committed", `one committed charge: ${JSON.stringify(charge)}`);
    assert.deepEqual(charge.event, ensembleReservation(SIGMA, room), "reserved for the clamped max_tokens, not 1,000");
    assert.deepEqual(charge.actual, ensembleCharge(SIGMA, voted.json.usage.completion_tokens), "committed for the tokens released");
    const budget = await node.accountant.budget(user, DEPARTMENT);
    assert.ok(budget.type === "budget" && Math.abs(budget.user.spent - voted.json.privacy_cost) < 1e-9, "the ledger holds exactly the answer's privacy_cost");

    // A privacy_budget is weighed against the clamped worst case too (1,000 votes' is past 20 ε).
    assert.ok(voted.json.privacy_cost < 10, `the clamped answer cost ε ${voted.json.privacy_cost}`);
    const capped = await call(url, "POST", "/v1/completions", { token, body: { model: "fedrouter", prompt, max_tokens: 1_000, require_consensus: true, privacy_budget: 10 } });
    assert.equal(capped.status, 200, `within its privacy_budget once clamped: ${describe(capped)}`);
    await assertBreakersClosed(service);
  } finally {
    await node.stop();
  }
});

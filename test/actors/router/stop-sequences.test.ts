/**
 * Stop sequences (issue 14: "`stop` sequences supported (or refused with "not supported", not
 * "unknown field")"). The filter alone, then the Router's service on real parts: the answer ends
 * before the first occurrence, finish_reason "stop", nothing after it is released (not even the
 * first characters of a stop sequence split across pieces), generation ends there, and a consensus
 * answer is charged only the tokens drawn up to the stop.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spendOf } from "../../../actors/accountant/index.ts";
import { ensembleCharge, type EnsembleVote } from "../../../actors/aggregator/index.ts";
import { StopFilter } from "../../../actors/router/stop-sequences.ts";
import { InvalidRequestError } from "../../../actors/router/http/errors.ts";
import type { Caller, InferenceRequest, InferenceResult } from "../../../actors/router/http/service.ts";
import type { RouterService } from "../../../actors/router/service.ts";
import { tempDir } from "../../fixtures/node-store.ts";
import { DEPARTMENT, startRouterNode } from "./router-node.ts";

test("the filter releases text up to the first stop sequence, holding back what may begin one", () => {
  const filter = new StopFilter(["\n\n", "END"]);
  assert.deepEqual(filter.push("Rest.\n"), { text: "Rest.", stopped: false }, "a lone newline may begin \\n\\n: held");
  assert.deepEqual(filter.push("Fluids. E"), { text: "\nFluids. ", stopped: false }, "not a stop after all: released; E held");
  assert.deepEqual(filter.push("NDless"), { text: "", stopped: true }, "E + ND completes END: nothing of it is released");
  assert.deepEqual(filter.push("more"), { text: "", stopped: true }, "nothing after a stop");
  assert.equal(filter.flush(), "");

  const first = new StopFilter(["b", "ab"]);
  assert.deepEqual(first.push("xxabyy"), { text: "xx", stopped: true }, "the earliest occurrence of any stop sequence wins");

  const none = new StopFilter([]);
  assert.deepEqual(none.push("a\n"), { text: "a\n", stopped: false }, "no stop sequences: everything passes at once");

  const open = new StopFilter(["###"]);
  assert.deepEqual(open.push("x ##"), { text: "x ", stopped: false });
  assert.equal(open.flush(), "##", "an answer that ends without the stop releases what was held");
  assert.throws(() => new StopFilter([""]), (e: Error) => e instanceof InvalidRequestError && e.field === "stop");
  assert.throws(() => new StopFilter(["a", "b", "c", "d", "e"]), (e: Error) => e instanceof InvalidRequestError && /at most 4/.test(e.message));
});

const BIG_SIGMA = 50; // a cheap accounting parameter: the vote below is deterministic anyway
const caller: Caller = { userId: "dr-stop", role: "doctor", department: DEPARTMENT, issuer: "test" };
const ask = (fields: Partial<InferenceRequest>): InferenceRequest => ({
  requestId: `s-${Math.random()}`, prompt: "The patient was", maxTokens: 12, temperature: 0, requireConsensus: false, priority: 3, department: DEPARTMENT, ...fields,
});
/** The single proposer's token wins every vote: a consensus answer is the greedy answer, whose text the test knows. */
const unanimous: EnsembleVote = (votes) => ({ token: votes[0]!, margin: 1, consensusReached: true });

async function pieces(service: RouterService, request: InferenceRequest): Promise<{ texts: string[]; result: InferenceResult }> {
  const texts: string[] = [];
  let result: InferenceResult | undefined;
  for await (const event of service.inferStream(request, caller)) {
    if (event.type === "text") texts.push(event.text);
    else result = { response: texts.join(""), ...event.summary };
  }
  return { texts, result: result! };
}

test("a stop sequence ends the answer before it, finish_reason stop, generation ends there and a consensus answer is charged only the tokens drawn", { timeout: 180_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-stop-"));
  try {
    const service = await node.router({ vote: unanimous, ensemble: { sigma: BIG_SIGMA, k: 1 } });
    const full = await pieces(service, ask({}));
    assert.ok(full.texts.length >= 3, `the greedy answer streams in pieces: ${JSON.stringify(full.texts)}`);
    assert.equal(full.result.usage!.completionTokens, 12);
    // A stop sequence across the boundary of two pieces: its first character arrives before we know.
    const [, second, third] = full.texts as [string, string, string];
    const stop = `${second.at(-1)}${third[0]}`;
    const expected = full.result.response.slice(0, full.result.response.indexOf(stop));
    // The fewest tokens whose text holds the stop sequence: where generation must end.
    let drawn = 0;
    for (let m = 1; m <= 12 && drawn === 0; m++) if ((await service.infer(ask({ maxTokens: m }), caller)).response.includes(stop)) drawn = m;
    assert.ok(drawn >= 2 && drawn < 12, `the stop sequence completes at token ${drawn}`);

    const single = await pieces(service, ask({ stop: [stop] }));
    assert.equal(single.result.response, expected, "the answer ends before the stop sequence");
    assert.equal(single.texts.join(""), expected, "and no piece released anything of it or after it");
    assert.equal(single.result.finishReason, "stop");
    assert.equal(single.result.usage!.completionTokens, drawn, "generation ended at the token that completed the stop sequence");

    const before = (await service.budget(caller.userId, DEPARTMENT)).consumed;
    const voted = await pieces(service, ask({ requireConsensus: true, stop: ["never appears \u0000", stop] }));
    assert.equal(voted.texts.join(""), expected);
    assert.equal(voted.result.finishReason, "stop");
    assert.equal(voted.result.usage!.completionTokens, drawn);
    const charged = spendOf([ensembleCharge(BIG_SIGMA, drawn)!], 1e-5);
    assert.ok(Math.abs(voted.result.privacyCost - charged) < 1e-9, `charged ${voted.result.privacyCost}: the ε of ${drawn} votes (${charged}), not of 12`);
    assert.ok(Math.abs((await service.budget(caller.userId, DEPARTMENT)).consumed - before - charged) < 1e-9, "the budget went down by that alone");

    const again = await service.infer(ask({ stop: ["no such text \u0000"] }), caller);
    assert.equal(again.response, full.result.response, "a stop sequence that never occurs changes nothing");
    assert.equal(again.finishReason, "length");
  } finally {
    await node.stop();
  }
});

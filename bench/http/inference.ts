/**
 * `POST /v1/inference` of 16-token completions (temperature 0) on the tiny model, without and
 * with consensus (require_consensus: k = 3 hospitals, σ from the RouterService's options), each
 * against its model-only floor: the same executors driven directly (./model-floor.ts) in the
 * same process and run.
 * - Throughput and p50/p99 latency with CONNECTIONS requests in flight (autocannon, closed
 *   loop), against the floor run as the same closed loop; and `Router.infer` without HTTP at
 *   the same concurrency, to tell the HTTP side's cost from the Router's.
 * - Where a request's time goes, at concurrency 1: the HTTP request (one kept-alive
 *   connection), the same request through `Router.infer` without HTTP (routing + accounting +
 *   model), the model alone, and the Accountant's part alone (a durable reserve + commit for
 *   consensus; the one budget ask of a free single answer), interleaved request by request. The
 *   share outside the model is 1 − model ÷ request (target < 10%).
 * Every consensus request carries a fresh request id (autocannon's `[<id>]` replacement): a
 * repeated id is refused by design. Rounds alternate between the contenders; throughputs are
 * median rounds, latency percentiles are over every round's requests, concurrency-1 latencies
 * medians over the interleaved requests.
 */
import { randomUUID } from "node:crypto";
import type { AutocannonOptions } from "autocannon";
import { compared, type BenchResult } from "../report.ts";
import type { InferenceRequest } from "../../actors/router/http/index.ts";
import { BENCH_CALLER, SIGMA, type Federation } from "./federation.ts";
import { ensembleCharge, ensembleReservation } from "../../actors/aggregator/index.ts";
import { directLoad, httpLoad, interleaved, keepAliveClient, median, percentile, type LoadResult } from "./load.ts";
import { ensembleAnswer, roundRobin, singleAnswer } from "./model-floor.ts";

const PROMPT = "The patient was";
const MAX_TOKENS = 16;
const CONNECTIONS = 8;
const ROUND_S = 3;
const ROUNDS = 3;
/** Requests per contender and round at concurrency 1. */
const SEQUENTIAL = 50;
const SEQUENTIAL_CONSENSUS = 30;

interface Kind {
  readonly label: string;
  readonly consensus: boolean;
  readonly floorName: string;
  /** One answer from the model alone; resolves to its token count. */
  readonly model: () => Promise<number>;
}

const us = (ms: number) => ms * 1_000;

export async function inferenceFigures(fed: Federation, url: string, token: string, log: (line: string) => void): Promise<BenchResult[]> {
  const prompt = fed.tokenizer.encode(PROMPT);
  const nextPipeline = roundRobin(fed.pipelines);
  const vote = fed.aggregator.voter();
  const kinds: Kind[] = [
    { label: "single answer", consensus: false, floorName: "model only: one Pipeline session", model: () => singleAnswer(nextPipeline(), prompt, MAX_TOKENS) },
    { label: `consensus (k 3, σ ${SIGMA})`, consensus: true, floorName: "model only: 3 Pipeline sessions + Aggregator vote", model: () => ensembleAnswer(fed.pipelines, vote, prompt, MAX_TOKENS) },
  ];
  const results: BenchResult[] = [];
  for (const kind of kinds) {
    const http = (bound: { connections: number; duration?: number; amount?: number }): AutocannonOptions => ({
      url: `${url}/v1/inference`, method: "POST", ...bound, idReplacement: true,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0, require_consensus: kind.consensus, request_id: "[<id>]" }),
    });
    let serviceTokens = 0;
    let serviceAnswers = 0;
    const viaService = async () => {
      const request: InferenceRequest = {
        requestId: randomUUID(), prompt: PROMPT, maxTokens: MAX_TOKENS, temperature: 0, requireConsensus: kind.consensus, priority: 3, department: BENCH_CALLER.department,
      };
      const answer = await fed.service.infer(request, BENCH_CALLER);
      serviceTokens += answer.usage?.completionTokens ?? 0;
      serviceAnswers++;
    };
    const viaInPlace = async () => {
      await fed.inPlace.infer({ requestId: randomUUID(), prompt: PROMPT, maxTokens: MAX_TOKENS, temperature: 0, requireConsensus: kind.consensus, priority: 3, department: BENCH_CALLER.department }, BENCH_CALLER);
    };
    let modelTokens = 0;
    let modelAnswers = 0;
    const viaModel = async () => {
      const generated = await kind.model();
      modelTokens += generated;
      modelAnswers++;
    };

    log(`${kind.label}: warming up…`);
    await httpLoad(http({ connections: CONNECTIONS, duration: 2 }));
    await directLoad(viaModel, CONNECTIONS, { durationMs: 2_000 });
    await directLoad(viaService, 1, { amount: 5 });

    const loaded: LoadResult[] = [];
    const serviceLoaded: LoadResult[] = [];
    const floorLoaded: LoadResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      loaded.push(await httpLoad(http({ connections: CONNECTIONS, duration: ROUND_S })));
      serviceLoaded.push(await directLoad(viaService, CONNECTIONS, { durationMs: ROUND_S * 1_000 }));
      floorLoaded.push(await directLoad(viaModel, CONNECTIONS, { durationMs: ROUND_S * 1_000 }));
      log(`${kind.label} round ${round + 1}/${ROUNDS}, ${CONNECTIONS} in flight: HTTP ${loaded.at(-1)!.requestsPerS.toFixed(1)} req/s, ` +
        `Router.infer ${serviceLoaded.at(-1)!.requestsPerS.toFixed(1)} answers/s, model only ${floorLoaded.at(-1)!.requestsPerS.toFixed(1)} answers/s`);
    }
    const all = (runs: LoadResult[]) => runs.flatMap((r) => r.latenciesMs);
    const floorName = `${kind.floorName}, ${CONNECTIONS} in flight`;
    results.push(
      compared(`${kind.label}: POST /v1/inference, ${MAX_TOKENS} tokens, ${CONNECTIONS} connections`, "req/s", median(loaded.map((r) => r.requestsPerS)), { name: floorName, value: median(floorLoaded.map((r) => r.requestsPerS)) }),
      compared(`${kind.label}: Router.infer (the actor) without HTTP, ${CONNECTIONS} in flight`, "req/s", median(serviceLoaded.map((r) => r.requestsPerS)), { name: floorName, value: median(floorLoaded.map((r) => r.requestsPerS)) }),
      compared(`${kind.label}: p50 latency, ${CONNECTIONS} connections`, "µs", us(percentile(all(loaded), 50)), { name: floorName, value: us(percentile(all(floorLoaded), 50)) }),
      compared(`${kind.label}: p99 latency, ${CONNECTIONS} connections`, "µs", us(percentile(all(loaded), 99)), { name: floorName, value: us(percentile(all(floorLoaded), 99)) }),
    );

    // Concurrency 1, request by request in rotating order: the HTTP request, Router.infer, the
    // model alone, and the Accountant's own part (what routing + accounting adds is mostly that).
    const client = keepAliveClient(url, { authorization: `Bearer ${token}`, "content-type": "application/json" });
    try {
      const viaHttp = () => client.post("/v1/inference", JSON.stringify({ prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0, require_consensus: kind.consensus, request_id: randomUUID() }));
      const accounting = kind.consensus
        ? async () => {
          const reserved = await fed.accountant.reserve({ key: `${BENCH_CALLER.userId}:${randomUUID()}`, user: BENCH_CALLER.userId, department: BENCH_CALLER.department, event: ensembleReservation(SIGMA, MAX_TOKENS) });
          if (reserved.type !== "reserved") throw new Error(`the benchmark's reservation was ${reserved.type}`);
          await fed.accountant.commit(reserved.reservation, ensembleCharge(SIGMA, MAX_TOKENS)!);
        }
        : () => fed.accountant.budget(BENCH_CALLER.userId, BENCH_CALLER.department);
      await interleaved({ http: viaHttp, service: viaService, inPlace: viaInPlace, model: viaModel, accounting }, 3);
      const one = await interleaved({ http: viaHttp, service: viaService, inPlace: viaInPlace, model: viaModel, accounting }, kind.consensus ? SEQUENTIAL_CONSENSUS : SEQUENTIAL);
      const request = median(one.http);
      const service = median(one.service);
      const model = median(one.model);
      const inPlace = median(one.inPlace);
      log(`${kind.label}, concurrency 1 (${one.http.length} requests each, medians): HTTP ${request.toFixed(2)} ms, Router.infer ${service.toFixed(2)} ms, RouterService in place ${inPlace.toFixed(2)} ms, model only ${model.toFixed(2)} ms; ` +
        `the Accountant's part alone (${kind.consensus ? "durable reserve + commit" : "one budget ask"}) ${median(one.accounting).toFixed(2)} ms`);
      log(`${kind.label}: tokens per answer — Router.infer ${(serviceTokens / serviceAnswers).toFixed(2)}, model only ${(modelTokens / modelAnswers).toFixed(2)} (max_tokens ${MAX_TOKENS})`);
      const floorOne = `${kind.floorName}, concurrency 1`;
      results.push(
        compared(`${kind.label}: latency at concurrency 1, HTTP request`, "µs", us(request), { name: floorOne, value: us(model) }, "≤ 1.11"),
        compared(`${kind.label}: latency at concurrency 1, Router.infer (the actor) without HTTP`, "µs", us(service), { name: floorOne, value: us(model) }),
        compared(`${kind.label}: the actor boundary, concurrency 1: Router.infer`, "µs", us(service), { name: "RouterService.infer called in place (same durable answer store)", value: us(inPlace) }, "≤ 1.05"),
        compared(`${kind.label}: time outside the model (routing + accounting + HTTP), share of the request`, "µs", us(request - model), { name: "the whole HTTP request at concurrency 1", value: us(request) }, "≤ 0.1"),
      );
    } finally {
      client.close();
    }
  }
  return results;
}

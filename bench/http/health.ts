/**
 * `/v1/health` req/s of the front door (createHttpApi over the real RouterService: its hooks,
 * rate-limit plugin, metrics, and a health check that asks the Accountant and reads every
 * breaker) against a bare fastify hello-world (`fastify()`, one GET route returning a small
 * JSON) listening in this same process, both hit by the same autocannon settings on loopback.
 * Rounds alternate between the two; each figure is the median round.
 */
import fastify from "fastify";
import { compared, type BenchResult } from "../report.ts";
import { httpLoad, median } from "./load.ts";

const CONNECTIONS = 10;
const ROUND_S = 3;
const ROUNDS = 3;

export async function healthFigures(frontDoorUrl: string, log: (line: string) => void): Promise<BenchResult[]> {
  const bare = fastify({ logger: false });
  bare.get("/hello", async () => ({ status: "healthy" }));
  const bareUrl = await bare.listen({ host: "127.0.0.1", port: 0 });
  try {
    const ours = `${frontDoorUrl}/v1/health`;
    const floor = `${bareUrl}/hello`;
    // Warm-up: JIT, connection pools, the health check's first asks.
    await httpLoad({ url: ours, connections: CONNECTIONS, duration: 2 });
    await httpLoad({ url: floor, connections: CONNECTIONS, duration: 2 });
    const oursRounds: number[] = [];
    const floorRounds: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      oursRounds.push((await httpLoad({ url: ours, connections: CONNECTIONS, duration: ROUND_S })).requestsPerS);
      floorRounds.push((await httpLoad({ url: floor, connections: CONNECTIONS, duration: ROUND_S })).requestsPerS);
      log(`health round ${round + 1}/${ROUNDS}: /v1/health ${oursRounds.at(-1)!.toFixed(0)} req/s, bare fastify ${floorRounds.at(-1)!.toFixed(0)} req/s`);
    }
    return [compared(
      `GET /v1/health, ${CONNECTIONS} connections (auth hooks, rate limit, Accountant ask, breakers)`, "req/s", median(oursRounds),
      { name: "bare fastify hello-world, same autocannon settings", value: median(floorRounds) },
    )];
  } finally {
    await bare.close();
  }
}

/**
 * Load generation for the http suite: autocannon on loopback (closed loop, `connections`
 * requests in flight), and the same closed loop over a plain async function, so a figure over
 * HTTP and its floor driven directly are measured the same way. Latencies are taken per request
 * (autocannon's `response` event carries the hrtime latency; its histogram rounds to whole ms).
 * For one request at a time, `interleaved` runs the contenders request by request in rotating
 * order (a slow spell of this shared machine then hits all of them alike), and `keepAliveClient`
 * is a lean node:http client on one kept-alive connection, as autocannon's is.
 * Never measures anything by itself: callers alternate the contenders and take medians.
 */
import { Agent, request } from "node:http";
import autocannon, { type AutocannonOptions } from "autocannon";

export interface LoadResult {
  /** Successful (2xx) answers per second over the run. */
  requestsPerS: number;
  /** Per-request latencies of the successful answers, ms. */
  latenciesMs: number[];
  /** Non-2xx answers, connection errors and timeouts: a benchmark with any is void. */
  failures: number;
}

/** One autocannon run; rejects when any request failed (a refused request would flatter the figure). */
export function httpLoad(options: AutocannonOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const latenciesMs: number[] = [];
    const statuses = new Map<number, number>();
    const instance = autocannon({ timeout: 30, ...options }, (error, result) => {
      if (error !== null) return reject(error);
      const failures = result.non2xx + result.errors + result.timeouts;
      if (failures > 0) {
        const codes = [...statuses].filter(([code]) => code < 200 || code >= 300).map(([code, n]) => `${n} × ${code}`).join(", ");
        return reject(new Error(`${options.method ?? "GET"} ${options.url}: ${failures} of ${result.requests.total} requests failed (${codes || `${result.errors} errors, ${result.timeouts} timeouts`})`));
      }
      resolve({ requestsPerS: result["2xx"] / result.duration, latenciesMs, failures });
    });
    instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
      statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
      if (statusCode >= 200 && statusCode < 300) latenciesMs.push(responseTimeMs);
    });
  });
}

/** `concurrency` loops calling `run` back to back until `durationMs` (or `amount` calls in all) have passed. */
export async function directLoad(run: () => Promise<unknown>, concurrency: number, bound: { durationMs: number } | { amount: number }): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const started = performance.now();
  let issued = 0;
  const more = () => ("amount" in bound ? issued < bound.amount : performance.now() - started < bound.durationMs);
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (more()) {
      issued++;
      const t0 = performance.now();
      await run();
      latenciesMs.push(performance.now() - t0);
    }
  }));
  return { requestsPerS: latenciesMs.length / ((performance.now() - started) / 1_000), latenciesMs, failures: 0 };
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new RangeError("no samples");
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const median = (xs: readonly number[]): number => percentile(xs, 50);

/**
 * `rounds` × one call of each contender, the order rotating every round; the latencies (ms)
 * of each contender's calls.
 */
export async function interleaved<K extends string>(contenders: Record<K, () => Promise<unknown>>, rounds: number): Promise<Record<K, number[]>> {
  const names = Object.keys(contenders) as K[];
  const latencies = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(round + i) % names.length]!;
      const t0 = performance.now();
      await contenders[name]();
      latencies[name].push(performance.now() - t0);
    }
  }
  return latencies;
}

/** POSTs JSON bodies one at a time over one kept-alive connection; rejects on a non-2xx answer. */
export function keepAliveClient(url: string, headers: Record<string, string>): { post(path: string, body: string): Promise<string>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const base = new URL(url);
  return {
    post: (path, body) => new Promise((resolve, reject) => {
      const req = request({ host: base.hostname, port: base.port, path, method: "POST", agent, headers: { ...headers, "content-length": Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode >= 300) reject(new Error(`POST ${path}: ${res.statusCode} ${text.slice(0, 300)}`));
          else resolve(text);
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    }),
    close: () => agent.destroy(),
  };
}

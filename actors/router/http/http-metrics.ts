/**
 * Prometheus metrics of the HTTP layer itself, in its own prom-client registry: requests by
 * route, method and status, and their latency. Labels are route patterns (`/v1/privacy/budget/:user_id`),
 * never concrete URLs, so no user id or other request content becomes a label.
 *
 * Counted by hand, exposed through prom-client: prom-client's `inc`/`observe` validate and hash
 * the label object and build a closure on every call, which cost `/v1/health` about a tenth of
 * its req/s (issue 14's bench). Here each (route, method[, status]) has its counts resolved once
 * (routes are patterns, so the set is small and bounded), an observation is a few additions, and
 * the two metrics are prom-client metric objects (`get()` in its MetricObject shape) that the
 * registry formats at scrape time as it formats its own: same names, labels and text.
 */
import { Registry, type Metric } from "prom-client";

/** The latency buckets (seconds), as before: prom-client's `le` values. */
export const HTTP_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

interface Requests {
  readonly labels: { readonly route: string; readonly method: string; readonly status: string };
  count: number;
}

interface Durations {
  readonly labels: { readonly route: string; readonly method: string };
  /** Per bucket (not cumulative), then one past the last bound (+Inf). */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

type MetricValue = { readonly labels: Record<string, string | number>; readonly value: number; readonly metricName?: string };

export class HttpMetrics {
  readonly registry = new Registry();
  /** route → method → status → counts, and route → method → durations: no key string built per request. */
  readonly #requests = new Map<string, Map<string, Map<number, Requests>>>();
  readonly #durations = new Map<string, Map<string, Durations>>();
  /** The same, in the order first seen: the exposition's order, as prom-client's. */
  readonly #requestList: Requests[] = [];
  readonly #durationList: Durations[] = [];

  constructor() {
    const requests = this.#requestList;
    const durations = this.#durationList;
    const counter = {
      name: "fedrouter_http_requests_total", help: "HTTP requests answered, by route pattern, method and status", type: "counter", aggregator: "sum",
      async get() {
        const values: MetricValue[] = [];
        for (const r of requests) values.push({ labels: { ...r.labels }, value: r.count });
        return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
      },
    };
    const histogram = {
      name: "fedrouter_http_request_duration_seconds", help: "Time from the request's arrival to the end of its response (streams included)", type: "histogram", aggregator: "sum",
      async get() {
        const values: MetricValue[] = [];
        for (const d of durations) {
          let cumulative = 0;
          for (let i = 0; i <= HTTP_DURATION_BUCKETS.length; i++) {
            cumulative += d.buckets[i]!;
            values.push({ metricName: `${this.name}_bucket`, labels: { le: i < HTTP_DURATION_BUCKETS.length ? HTTP_DURATION_BUCKETS[i]! : "+Inf", ...d.labels }, value: cumulative });
          }
          values.push({ metricName: `${this.name}_sum`, labels: { ...d.labels }, value: d.sum });
          values.push({ metricName: `${this.name}_count`, labels: { ...d.labels }, value: d.count });
        }
        return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
      },
    };
    this.registry.registerMetric(counter as unknown as Metric);
    this.registry.registerMetric(histogram as unknown as Metric);
  }

  observe(route: string, method: string, status: number, seconds: number): void {
    let byMethod = this.#requests.get(route);
    if (byMethod === undefined) this.#requests.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let requests = byStatus.get(status);
    if (requests === undefined) {
      byStatus.set(status, (requests = { labels: { route, method, status: String(status) }, count: 0 }));
      this.#requestList.push(requests);
    }
    requests.count++;

    let timed = this.#durations.get(route);
    if (timed === undefined) this.#durations.set(route, (timed = new Map()));
    let durations = timed.get(method);
    if (durations === undefined) {
      timed.set(method, (durations = { labels: { route, method }, buckets: new Float64Array(HTTP_DURATION_BUCKETS.length + 1), sum: 0, count: 0 }));
      this.#durationList.push(durations);
    }
    let bucket = 0;
    while (bucket < HTTP_DURATION_BUCKETS.length && seconds > HTTP_DURATION_BUCKETS[bucket]!) bucket++;
    durations.buckets[bucket]!++;
    durations.sum += seconds;
    durations.count++;
  }
}

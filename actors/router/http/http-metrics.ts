/**
 * Prometheus metrics of the HTTP layer itself, in its own prom-client registry: requests by
 * route, method and status, and their latency. Labels are route patterns (`/v1/privacy/budget/:user_id`),
 * never concrete URLs, so no user id or other request content becomes a label.
 */
import { Counter, Histogram, Registry } from "prom-client";

export class HttpMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: "fedrouter_http_requests_total", help: "HTTP requests answered, by route pattern, method and status",
    labelNames: ["route", "method", "status"] as const, registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: "fedrouter_http_request_duration_seconds", help: "Time from the request's arrival to the end of its response (streams included)",
    labelNames: ["route", "method"] as const, registers: [this.registry],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });

  observe(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.duration.observe({ route, method }, seconds);
  }
}

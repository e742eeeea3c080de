/**
 * A Prometheus histogram for the per-message hot path. prom-client's Histogram hashes the
 * label set on every observe, which cost more than the message itself in the same-thread
 * benchmark; here each actor owns a plain bucket array (one search, two adds per message)
 * and the registry reads the arrays at scrape time through prom-client's collector contract
 * (`get()` returning the metric object that `Registry#metrics()` formats).
 */
import type { Registry } from "prom-client";

export class BucketCounts {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

export class LatencyHistogram {
  readonly type = "histogram";
  private readonly series = new Map<string, BucketCounts>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The bucket array for one label value, created once; observe on it directly. */
  seriesOf(labelValue: string): BucketCounts {
    let counts = this.series.get(labelValue);
    if (counts === undefined) {
      counts = new BucketCounts(this.bounds);
      this.series.set(labelValue, counts);
    }
    return counts;
  }

  /** prom-client's collector contract: the metric object with cumulative buckets. */
  get(): { name: string; help: string; type: string; values: MetricValue[]; aggregator: string } {
    const values: MetricValue[] = [];
    for (const [labelValue, s] of this.series) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { le, [this.labelName]: labelValue }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: "+Inf", [this.labelName]: labelValue }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { [this.labelName]: labelValue }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { [this.labelName]: labelValue }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: "sum" };
  }

  remove(labelValue: string): void {
    this.series.delete(labelValue);
  }

  reset(): void {
    this.series.clear();
  }
}

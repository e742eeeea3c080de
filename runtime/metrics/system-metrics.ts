/**
 * Prometheus metrics of one actor system, in its own prom-client registry. Hot-path counts
 * live as plain numbers on the cells and are read at scrape time (collect), so a message
 * costs no label lookup; only the processing-time histogram is observed per message.
 */
import { Counter, Gauge, Registry } from "prom-client";
import { LatencyHistogram } from "./latency-histogram.ts";
import type { DeadLetterReason } from "../events.ts";

export interface ActorSample {
  path: string;
  placement: string;
  received: number;
  processed: number;
  mailboxDepth: number;
  restarts: number;
}

export interface BreakerSample {
  target: string;
  /** 0 closed, 1 half-open, 2 open (forced states count as their effect). */
  state: number;
}

export interface MetricsSources {
  /** Brings samples of actors in other threads up to date before a scrape. */
  refresh?(): Promise<void>;
  actors(): Iterable<ActorSample>;
  breakers(): Iterable<BreakerSample>;
}

const PER_ACTOR: readonly { name: string; help: string; kind: "counter" | "gauge"; read(a: ActorSample): number }[] = [
  { name: "fedrouter_actor_messages_in_total", help: "Messages accepted into an actor's mailbox", kind: "counter", read: (a) => a.received },
  { name: "fedrouter_actor_messages_out_total", help: "Messages taken out of an actor's mailbox and handled", kind: "counter", read: (a) => a.processed },
  { name: "fedrouter_actor_mailbox_depth", help: "Messages waiting in an actor's mailbox", kind: "gauge", read: (a) => a.mailboxDepth },
  { name: "fedrouter_actor_restarts_total", help: "Restarts of an actor by its supervisor", kind: "counter", read: (a) => a.restarts },
];

export class SystemMetrics {
  readonly registry = new Registry();
  private readonly processing: LatencyHistogram;
  private readonly deadLetters: Counter<"reason">;
  private readonly peerRefusals: Counter<"peer">;

  constructor(node: string, sources: MetricsSources) {
    this.registry.setDefaultLabels({ node });
    const registers = [this.registry];
    for (const metric of PER_ACTOR) {
      const config = {
        name: metric.name,
        help: metric.help,
        labelNames: ["actor", "placement"] as const,
        registers,
        // Read at scrape time from the plain counts the cells keep.
        async collect(this: Counter<"actor" | "placement"> | Gauge<"actor" | "placement">) {
          await sources.refresh?.();
          this.reset();
          for (const a of sources.actors()) {
            const labels = { actor: a.path, placement: a.placement };
            if (this instanceof Gauge) this.set(labels, metric.read(a));
            else this.inc(labels, metric.read(a));
          }
        },
      };
      if (metric.kind === "counter") new Counter(config);
      else new Gauge(config);
    }
    new Gauge({
      name: "fedrouter_breaker_state",
      help: "Circuit breaker state: 0 closed, 1 half-open, 2 open",
      labelNames: ["target"],
      registers,
      collect() {
        this.reset();
        for (const b of sources.breakers()) this.set({ target: b.target }, b.state);
      },
    });
    this.deadLetters = new Counter({
      name: "fedrouter_dead_letters_total",
      help: "Messages that could not be delivered, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.peerRefusals = new Counter({
      name: "fedrouter_peer_refusals_total",
      help: "Federation streams refused or closed for cause (bad certificate, protocol violation, foreign reference…), by peer (\"unknown\" when it named no node of the cluster)",
      labelNames: ["peer"],
      registers,
    });
    this.processing = new LatencyHistogram(
      "fedrouter_actor_processing_seconds",
      "Time an actor spent handling one message (main-thread actors)",
      "actor",
      [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10],
      this.registry,
    );
  }

  /** A per-actor observer for the cell's hot path (the labelled child is resolved once). */
  processingObserver(actorPath: string): (ms: number) => void {
    const series = this.processing.seriesOf(actorPath);
    return (ms) => series.observe(ms / 1_000);
  }

  /** Drops an actor's own series (the sources stop listing it by themselves). */
  forgetActor(actorPath: string): void {
    this.processing.remove(actorPath);
  }

  deadLetter(reason: DeadLetterReason, count = 1): void {
    this.deadLetters.inc({ reason }, count);
  }

  /** A stream refused for cause; `peer` is a node of the cluster or "unknown" (a bounded label). */
  peerRefused(peer: string): void {
    this.peerRefusals.inc({ peer });
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

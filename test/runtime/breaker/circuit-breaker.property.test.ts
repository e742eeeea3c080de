import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Subscription, VirtualTimeScheduler, type SchedulerLike } from "rxjs";
import { CircuitBreaker, type BreakerConfig, type Permit } from "../../../runtime/breaker/index.ts";

type Command =
  | { readonly kind: "acquire" }
  | { readonly kind: "succeed" | "fail"; readonly pick: number; readonly durationMs: number }
  | { readonly kind: "release"; readonly pick: number }
  | { readonly kind: "wait"; readonly ms: number }
  | { readonly kind: "force-open" | "force-close" | "reset" };

const configs = fc
  .record({
    size: fc.integer({ min: 1, max: 8 }),
    minimumFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    failureRateThreshold: fc.constantFrom(0.1, 0.25, 0.5, 0.75, 1),
    slowCallRateThreshold: fc.constantFrom(0.3, 0.5, 1),
    slowCallDurationMs: fc.integer({ min: 1, max: 20 }),
    openDurationMs: fc.integer({ min: 1, max: 40 }),
    halfOpenProbes: fc.integer({ min: 1, max: 4 }),
  })
  .map(({ size, minimumFraction, ...rest }): BreakerConfig => ({
    ...rest,
    window: { kind: "count", size },
    minimumCalls: Math.max(1, Math.ceil(size * minimumFraction)),
  }));

const outcomes = fc.record({ kind: fc.constantFrom("succeed", "fail"), pick: fc.nat(), durationMs: fc.nat({ max: 30 }) });

const commands: fc.Arbitrary<Command[]> = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.constant({ kind: "acquire" } as const) },
    { weight: 6, arbitrary: outcomes },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 1, max: 50 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom("force-open", "force-close", "reset") }) },
  ),
  { minLength: 20, maxLength: 120 },
);

const claim = "whatever the outcomes, a breaker admits at most halfOpenProbes at once while half-open, and nothing while open before retryAtMs";

test(claim, () => {
  fc.assert(
    fc.property(configs, commands, fc.boolean(), (config, script, timersFire) => {
      const scheduler = new VirtualTimeScheduler();
      // Without its timer, the breaker must turn half-open lazily, on the next call.
      const timerless = { now: () => scheduler.now(), schedule: () => Subscription.EMPTY } as unknown as SchedulerLike;
      const clock = timersFire ? scheduler : timerless;
      const breaker = new CircuitBreaker("fed://peer", config, clock);
      // What state$ said, kept independently of the breaker's own bookkeeping.
      let reported = "closed";
      let retryAtMs = Number.NaN;
      let spell = 0;
      breaker.state$.subscribe((change) => {
        reported = change.to;
        if (change.to === "open") retryAtMs = change.atMs + config.openDurationMs;
        if (change.to === "half-open") spell += 1;
      });
      const inFlight: { permit: Permit; spell: number | null }[] = [];
      const take = (pick: number) => inFlight.splice(pick % inFlight.length, 1)[0]!.permit;

      for (const command of script) {
        const nowMs = scheduler.now();
        switch (command.kind) {
          case "acquire": {
            const wasShut = reported === "forced-open" || (reported === "open" && nowMs < retryAtMs);
            const wasDue = reported === "open" && nowMs >= retryAtMs;
            const admission = breaker.tryAcquire();
            if (wasShut) {
              assert.equal(admission.type, "refused", `admitted while ${reported} at ${nowMs}, before ${retryAtMs}`);
              if (reported === "open" && admission.type === "refused") assert.equal(admission.error.retryAtMs, retryAtMs);
            }
            if (wasDue) assert.equal(admission.type, "permitted", "an open breaker past retryAtMs must admit a probe");
            if (admission.type === "permitted") {
              assert.equal(admission.permit.probe, reported === "half-open");
              inFlight.push({ permit: admission.permit, spell: reported === "half-open" ? spell : null });
            }
            break;
          }
          case "succeed":
            if (inFlight.length > 0) breaker.onSuccess(take(command.pick), command.durationMs);
            break;
          case "fail":
            if (inFlight.length > 0) breaker.onError(take(command.pick), command.durationMs);
            break;
          case "release":
            if (inFlight.length > 0) breaker.release(take(command.pick));
            break;
          case "wait": {
            scheduler.maxFrames = nowMs + command.ms;
            scheduler.flush();
            scheduler.frame = nowMs + command.ms;
            break;
          }
          case "force-open":
            breaker.forceOpen();
            break;
          case "force-close":
            breaker.forceClose();
            break;
          case "reset":
            breaker.reset();
            break;
        }
        if (reported === "half-open") {
          const probesAtOnce = inFlight.filter((call) => call.spell === spell).length;
          assert.ok(probesAtOnce <= config.halfOpenProbes, `${probesAtOnce} probes in flight, ${config.halfOpenProbes} allowed`);
        }
        // Reading the state applies a due transition, which would spare tryAcquire the lazy path.
        if (timersFire) assert.equal(breaker.snapshot().state, reported, "state and state$ agree");
      }
      breaker.dispose();
    }),
    { numRuns: 1_000 },
  );
});

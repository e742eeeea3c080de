/**
 * One structural check of a privacy event, shared by every accountant: each number is
 * validated (a malformed one throws InvalidPrivacyParameter naming its path, e.g.
 * `composed.events[2].sigma`), and the first sub-event the accountant cannot count comes back
 * as Unsupported. Accountants differ only in which mechanisms they amplify by sampling.
 */
import { requireParameter } from "./errors.ts";
import type { PrivacyEvent, Unsupported } from "./events.ts";

/** Why an accountant cannot amplify `inner` by Poisson sampling, or null when it can. */
export type SamplingRule = (inner: PrivacyEvent) => string | null;

const finiteNonNegative = (value: number, field: string): void =>
  requireParameter(Number.isFinite(value) && value >= 0, field, value, "must be a finite number ≥ 0");

export function findUnsupported(event: PrivacyEvent, sampling: SamplingRule, path: string = event.kind): Unsupported | null {
  switch (event.kind) {
    case "gaussian":
      finiteNonNegative(event.sigma, `${path}.sigma`);
      finiteNonNegative(event.sensitivity, `${path}.sensitivity`);
      return null;
    case "laplace":
      finiteNonNegative(event.scale, `${path}.scale`);
      finiteNonNegative(event.sensitivity, `${path}.sensitivity`);
      return null;
    case "gnmax":
    case "thresholdCheck":
      finiteNonNegative(event.sigma, `${path}.sigma`);
      return null;
    case "exponential":
      requireParameter(event.epsilon >= 0, `${path}.epsilon`, event.epsilon, "must be a number ≥ 0 (Infinity allowed)");
      return null;
    case "poissonSampled": {
      const rate = event.samplingRate;
      requireParameter(rate >= 0 && rate <= 1, `${path}.samplingRate`, rate, "a sampling rate must lie in [0, 1] (batch size / dataset size)");
      const inner = findUnsupported(event.event, sampling, `${path}.event`);
      if (inner !== null) return inner;
      const reason = sampling(event.event);
      return reason === null ? null : { kind: "unsupported", event, reason };
    }
    case "selfComposed":
      requireParameter(Number.isSafeInteger(event.count) && event.count >= 1, `${path}.count`, event.count, "must be a positive integer");
      return findUnsupported(event.event, sampling, `${path}.event`);
    case "composed":
      for (const [i, inner] of event.events.entries()) {
        const found = findUnsupported(inner, sampling, `${path}.events[${i}]`);
        if (found !== null) return found;
      }
      return null;
    default: {
      const unknown: { kind: string } = event;
      return { kind: "unsupported", event, reason: `unknown event kind "${unknown.kind}"` };
    }
  }
}

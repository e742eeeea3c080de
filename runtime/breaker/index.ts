/**
 * Circuit breakers around remote peers and marked actors: the public face of `runtime/breaker`.
 * The pure transitions stay in `state-machine.ts`, for tests and for whoever needs them unwrapped.
 */
export {
  CircuitBreaker,
  withBreaker,
  type BreakerAdmission,
  type BreakerSnapshot,
  type BreakerStateChange,
} from "./circuit-breaker.ts";
export { BreakerRegistry, type BreakerRegistryOptions } from "./registry.ts";
export {
  DEFAULT_BREAKER,
  resolveBreakerConfig,
  type BreakerConfig,
  type BreakerStateName,
  type BreakerTransition,
  type BreakerWindow,
  type Permit,
  type TransitionReason,
} from "./state-machine.ts";

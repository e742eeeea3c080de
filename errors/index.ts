/**
 * The error base every layer shares (runtime, actors, privacy, native bindings, cluster): one
 * class with a stable `code`, and the table that rebuilds coded failures after they crossed a
 * thread or the network. Imports nothing of ours, so nothing below it is needed to throw one.
 */
export { FedrouterError, type WireError } from "./fedrouter-error.ts";
export { RemoteError, InvalidErrorRegistration, WireFields, registerErrors, registeredErrorCodes, errorFromWire, type ErrorFactory } from "./wire.ts";

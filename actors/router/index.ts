/**
 * The Router's public face: the routing strategies and whose fault a failure is (both pure), the RouterService that answers the
 * front door (routing, budget charging, DP ensemble decoding through the Aggregator) and the
 * HTTP API itself (`createHttpApi`, auth, the user store).
 */
export * from "./strategies.ts";
export { classifyFailure, STAGE_FAILURE_CLASS, type FailureClass } from "./failures.ts";
export { RouterService, DEFAULT_ROUTER, type HospitalRoute, type RouterServiceOptions } from "./service.ts";
export * from "./http/index.ts";

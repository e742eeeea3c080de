/**
 * The Router's public face: the routing strategies (pure), the RouterService that answers the
 * front door (routing, budget charging, DP ensemble decoding through the Aggregator) and the
 * HTTP API itself (`createHttpApi`, auth, the user store).
 */
export * from "./strategies.ts";
export { RouterService, DEFAULT_ROUTER, type HospitalRoute, type RouterServiceOptions } from "./service.ts";
export * from "./http/index.ts";

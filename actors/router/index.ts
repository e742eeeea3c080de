/**
 * The Router's public face: the Router actor (`router`, its protocol and the HTTP edge's
 * RouterClient), the routing strategies and whose fault a failure is (both pure), the
 * RouterService the actor runs (routing, budget charging, DP ensemble decoding through the
 * Aggregator) and the HTTP API itself (`createHttpApi`, auth, the user store).
 */
export * from "./strategies.ts";
export * from "./protocol.ts";
export { router, failureOf, DEFAULT_ROUTER_ACTOR, type RouterArgs, type RouterHospital, type RouterNodeFacilities } from "./behaviour.ts";
export { RouterClient, errorFromRouter, DEFAULT_ROUTER_CLIENT } from "./client.ts";
export { Admission } from "./admission.ts";
export { classifyFailure, STAGE_FAILURE_CLASS, type FailureClass } from "./failures.ts";
export { RouterService, DEFAULT_ROUTER, type HospitalRoute, type RouterServiceOptions } from "./service.ts";
export { ReleasedAnswers, nodeStoreSlots } from "./released-answers.ts";
export * from "./http/index.ts";

/**
 * The Accountant's public face: the actor (`accountant`, its protocol and a typed client), the
 * ledger and audit trail it keeps, and its privacy mathematics — events, accountants (RDP,
 * PLD), composition theorems, calibration, secure noise and budget periods.
 */
export { accountant, AuditTrailBroken } from "./behaviour.ts";
export { AccountantClient, type ReserveRequest as AccountantReserveRequest, type OperatorActionRequest } from "./client.ts";
export { randomReservationId, sequentialReservationIds, type ReservationIds } from "./reservation-id.ts";
export * from "./protocol.ts";
export { readAuditTrail, verifyStoredAudit, exportStoredAudit, streamStoredAudit, AuditStoreError, DEFAULT_AUDIT_ACTOR, type AuditAnchor } from "./audit-store.ts";
export * from "./events.ts";
export { InvalidPrivacyParameter, UnsupportedPrivacyEvent, InvalidAuditEntry } from "./errors.ts";
export { RdpAccountant, DEFAULT_RDP_ORDERS, computeRdp, rdpToEpsilon, rdpToDelta, rdpGaussian, rdpSubsampledGaussian } from "./rdp.ts";
export { PldAccountant, DEFAULT_PLD_OPTIONS, type PldAccountantOptions } from "./pld.ts";
export { basicComposition, advancedComposition, optimalHomogeneousComposition } from "./composition.ts";
export { analyticGaussianSigma, classicGaussianSigma, gaussianDelta, laplaceScale, noiseMultiplierFor, DEFAULT_NOISE_SEARCH } from "./calibration.ts";
export { addGaussianNoise, addLaplaceNoise, discreteGaussian, discreteLaplace, cryptoRandomSource, DEFAULT_NOISE_OPTIONS, type RandomSource } from "./noise.ts";
export { periodOf, DEFAULT_DEPARTMENT_BUDGETS, DEFAULT_DELTA, RESET_SCHEDULES, type BudgetPeriod, type ResetSchedule } from "./periods.ts";
export * from "./ledger.ts";
export { appendAudit, verifyAudit, toJsonLines, hashEntry, GENESIS_HASH, AUDIT_ACTIONS, type AuditEntry, type AuditFields, type AuditVerdict, type AuditAction } from "./audit.ts";

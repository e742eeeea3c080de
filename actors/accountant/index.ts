/**
 * The Accountant's public face: the actor (`accountant`, its protocol and a typed client), the
 * ledger and audit trail it keeps, and budget periods. The privacy events its protocol carries
 * and the error classes behind its INVALID_PRIVACY_PARAMETER and UNSUPPORTED_PRIVACY_EVENT
 * answers are re-exported from privacy/, so its callers need one import; the rest of the
 * mathematics (accountants, composition, calibration, noise) is privacy/'s own.
 */
export { accountant, AuditTrailBroken } from "./behaviour.ts";
export { AccountantClient, type ReserveRequest as AccountantReserveRequest, type OperatorActionRequest } from "./client.ts";
export { randomReservationId, sequentialReservationIds, type ReservationIds } from "./reservation-id.ts";
export * from "./protocol.ts";
export { readAuditTrail, verifyStoredAudit, exportStoredAudit, streamStoredAudit, AuditStoreError, DEFAULT_AUDIT_ACTOR, type AuditAnchor } from "./audit-store.ts";
export {
  gaussian, laplace, exponential, gnmax, poissonSampled, selfComposed, composed, dpSgd,
  InvalidPrivacyParameter, UnsupportedPrivacyEvent,
  type PrivacyEvent, type PrivacyEventKind, type Unsupported, type EpsilonDelta, type Accountant,
} from "../../privacy/index.ts";
export { InvalidAuditEntry } from "./errors.ts";
export { periodOf, DEFAULT_DEPARTMENT_BUDGETS, DEFAULT_DELTA, RESET_SCHEDULES, type BudgetPeriod, type ResetSchedule } from "./periods.ts";
export * from "./ledger.ts";
export { appendAudit, verifyAudit, toJsonLines, hashEntry, GENESIS_HASH, AUDIT_ACTIONS, type AuditEntry, type AuditFields, type AuditVerdict, type AuditAction } from "./audit.ts";

/**
 * The HTTP front door as a library: `createHttpApi(service, options)` gives a fastify server
 * over any FrontDoorService (the Router implements it). The service throws the error classes
 * exported here; the local user store and token authority are exported for `fedrouter users`
 * and for embedding.
 */
export { createHttpApi, ADMIN_ROLES, type HttpApiOptions, type AuthRule } from "./server.ts";
export type {
  FrontDoorService, Caller, Principal, Role, InferenceRequest, InferenceResult, InferenceSummary, InferenceStreamEvent,
  BudgetStatus, ScopeBudget, HealthReport, HealthCheck, NodeSpec, ConfigUpdate,
} from "./service.ts";
export { ROLES } from "./service.ts";
export {
  FrontDoorError, BudgetExceededError, UnavailableError, InvalidRequestError, InProgressError, UnauthorizedError, ForbiddenError, RateLimitedError,
  NotFoundError, InternalError, HTTP_ERROR_TYPES, errorBody, type HttpErrorType,
} from "./errors.ts";
export { TokenAuthority, DEFAULT_AUTH, type AuthOptions, type LocalSigning, type ExternalIssuer } from "./auth.ts";
export { UserStore, UserStoreError, addUser, DEFAULT_SCRYPT, MIN_PASSWORD_CHARS, MAX_USER_ID_CHARS, type User } from "./users.ts";
export { DEFAULT_HTTP_LIMITS, MAX_REQUEST_ID_CHARS, type HttpLimits } from "./schemas.ts";
export { DEFAULT_INFERENCE } from "./inference-request.ts";
export { chatPrompt } from "./openai.ts";
export { DEFAULT_MODEL_ID, ModelNotFoundError, type ServedModel } from "./models.ts";

/**
 * Bearer tokens: the local issuer (HS256 with a shared secret, or EdDSA with a key pair) that
 * `POST /v1/auth/token` uses, and the verifier that accepts its tokens and those of any identity
 * provider whose JWKS URL is configured. Never accepts an unsigned token (`alg: none`), an
 * algorithm other than the issuer's, a token without `exp`, or one for another audience.
 */
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, SignJWT, type CryptoKey, type JWTPayload, type KeyObject } from "jose";
import { ROLES, type Caller, type Role } from "./service.ts";
import { UnauthorizedError } from "./errors.ts";
import { MAX_USER_ID_CHARS } from "./users.ts";

export type LocalSigning =
  | { readonly alg: "HS256"; readonly secret: string | Uint8Array }
  | { readonly alg: "EdDSA"; readonly privateKey: CryptoKey | KeyObject; readonly publicKey: CryptoKey | KeyObject };

/** A hospital identity provider whose tokens are accepted. */
export interface ExternalIssuer {
  /** Its `iss`, exactly. */
  readonly issuer: string;
  readonly jwksUrl: string;
  /** The `aud` its tokens must carry (default: the local audience). */
  readonly audience?: string;
  /** Claim names when they are not `role` and `department`. */
  readonly roleClaim?: string;
  readonly departmentClaim?: string;
  /** Default: RS256, PS256, ES256, EdDSA. */
  readonly algorithms?: readonly string[];
}

export interface AuthOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly signing: LocalSigning;
  readonly tokenTtlSeconds?: number;
  readonly externalIssuers?: readonly ExternalIssuer[];
  /** Tolerated clock difference. */
  readonly clockToleranceSeconds?: number;
}

export const DEFAULT_AUTH = Object.freeze({ tokenTtlSeconds: 3_600, clockToleranceSeconds: 5, externalAlgorithms: ["RS256", "PS256", "ES256", "EdDSA"] as readonly string[] });

const MAX_TOKEN_CHARS = 8_192;

export class TokenAuthority {
  private readonly localKey: Uint8Array | CryptoKey | KeyObject;
  private readonly verifyKey: Uint8Array | CryptoKey | KeyObject;
  private readonly external = new Map<string, { issuer: ExternalIssuer; keys: ReturnType<typeof createRemoteJWKSet> }>();

  constructor(readonly options: AuthOptions) {
    if (options.signing.alg === "HS256") {
      const secret = typeof options.signing.secret === "string" ? new TextEncoder().encode(options.signing.secret) : options.signing.secret;
      // RFC 7518 §3.2: an HS256 key is at least as long as the hash output.
      if (secret.byteLength < 32) throw new RangeError(`auth.signing.secret has ${secret.byteLength} bytes; HS256 needs at least 32`);
      this.localKey = secret;
      this.verifyKey = secret;
    } else {
      this.localKey = options.signing.privateKey;
      this.verifyKey = options.signing.publicKey;
    }
    for (const issuer of options.externalIssuers ?? []) {
      if (issuer.issuer === options.issuer) throw new RangeError(`auth.externalIssuers: "${issuer.issuer}" is the local issuer`);
      this.external.set(issuer.issuer, { issuer, keys: createRemoteJWKSet(new URL(issuer.jwksUrl)) });
    }
  }

  get ttlSeconds(): number {
    return this.options.tokenTtlSeconds ?? DEFAULT_AUTH.tokenTtlSeconds;
  }

  /** A token for `user` from the local issuer. */
  issue(user: { readonly id: string; readonly role: Role; readonly department: string }): Promise<string> {
    return new SignJWT({ role: user.role, department: user.department })
      .setProtectedHeader({ alg: this.options.signing.alg, typ: "JWT" })
      .setSubject(user.id)
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.localKey);
  }

  /** The caller of a bearer token, or UnauthorizedError saying why not (never echoing the token). */
  async verify(token: string): Promise<Caller> {
    if (token.length > MAX_TOKEN_CHARS) throw new UnauthorizedError(`the bearer token is longer than ${MAX_TOKEN_CHARS} characters`);
    let claimedIssuer: unknown;
    try {
      claimedIssuer = decodeJwt(token).iss;
    } catch {
      throw new UnauthorizedError("the bearer token is not a JWT");
    }
    const clockTolerance = this.options.clockToleranceSeconds ?? DEFAULT_AUTH.clockToleranceSeconds;
    let payload: JWTPayload;
    let roleClaim = "role";
    let departmentClaim = "department";
    try {
      if (claimedIssuer === this.options.issuer) {
        ({ payload } = await jwtVerify(token, this.verifyKey, {
          issuer: this.options.issuer, audience: this.options.audience, algorithms: [this.options.signing.alg], requiredClaims: ["exp", "sub"], clockTolerance,
        }));
      } else {
        const external = typeof claimedIssuer === "string" ? this.external.get(claimedIssuer) : undefined;
        if (external === undefined) throw new UnauthorizedError(`the token's issuer ${typeof claimedIssuer === "string" ? JSON.stringify(claimedIssuer.slice(0, 80)) : "(none)"} is not trusted here`);
        roleClaim = external.issuer.roleClaim ?? roleClaim;
        departmentClaim = external.issuer.departmentClaim ?? departmentClaim;
        ({ payload } = await jwtVerify(token, external.keys, {
          issuer: external.issuer.issuer, audience: external.issuer.audience ?? this.options.audience,
          algorithms: [...(external.issuer.algorithms ?? DEFAULT_AUTH.externalAlgorithms)], requiredClaims: ["exp", "sub"], clockTolerance,
        }));
      }
    } catch (error) {
      throw error instanceof UnauthorizedError ? error : new UnauthorizedError(describeJoseError(error));
    }
    const role = payload[roleClaim];
    if (typeof role !== "string" || !(ROLES as readonly string[]).includes(role)) {
      throw new UnauthorizedError(`the token's "${roleClaim}" claim must be one of ${ROLES.join(", ")}`);
    }
    const department = payload[departmentClaim];
    if (typeof department !== "string" || department.length === 0 || department.length > 64) {
      throw new UnauthorizedError(`the token has no "${departmentClaim}" claim (a department name)`);
    }
    if (typeof payload.sub !== "string" || payload.sub.length === 0 || payload.sub.length > MAX_USER_ID_CHARS) throw new UnauthorizedError(`the token's sub must be 1..${MAX_USER_ID_CHARS} characters`);
    return { userId: payload.sub, role: role as Role, department, issuer: payload.iss as string };
  }
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "the token has expired; get a new one from POST /v1/auth/token";
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "the token's algorithm is not accepted (unsigned tokens never are)";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) return "the token's signature does not verify";
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the token's "${error.claim}" claim is not accepted: ${error.reason}`;
  if (error instanceof joseErrors.JWKSTimeout || (error as { code?: string }).code === "ERR_JOSE_GENERIC") return "the issuer's keys could not be fetched";
  if (error instanceof joseErrors.JOSEError) return `the token is not valid (${error.code})`;
  return "the token could not be verified";
}

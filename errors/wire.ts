/**
 * Errors across a thread or the network: a failure travels as its `toJSON()` (code, message,
 * fields) and `errorFromWire` rebuilds it on the other side, into its own class when a module
 * registered the code, as a `RemoteError` keeping code, message and fields when none did. Never
 * turns a coded failure into a bare Error, and never trusts the fields: a factory that throws on
 * them, or rebuilds another message, yields a RemoteError.
 *
 * The table is per thread (each worker has its own): a module registers its classes where it
 * defines them, so any thread that can name a class can also rebuild it.
 */
import { FedrouterError, type WireError } from "./fedrouter-error.ts";

/** The fields of an error as they arrived, read leniently: a wrong type only makes the rebuilt message differ. */
export class WireFields {
  constructor(readonly raw: Readonly<Record<string, unknown>>) {}

  has(key: string): boolean {
    return Object.hasOwn(this.raw, key) && this.raw[key] !== undefined && this.raw[key] !== null;
  }

  value(key: string): unknown {
    return Object.hasOwn(this.raw, key) ? this.raw[key] : undefined;
  }

  string(key: string): string {
    const value = this.value(key);
    return typeof value === "string" ? value : String(value ?? "");
  }

  number(key: string): number {
    const value = this.value(key);
    return typeof value === "number" ? value : Number(value ?? 0);
  }

  optionalString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : undefined;
  }

  optionalNumber(key: string): number | undefined {
    return this.has(key) ? this.number(key) : undefined;
  }
}

/** Rebuilds one class from its wire fields; it may throw on fields it cannot take (the error arrives as a RemoteError). */
export type ErrorFactory = (fields: WireFields) => FedrouterError;

/** Codes are identifiers: SCREAMING_SNAKE for runtime and actors, snake_case for the HTTP API's types. */
const CODE_SHAPE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** A registration that would make a code ambiguous (two factories) or is not a code at all. */
export class InvalidErrorRegistration extends FedrouterError {
  readonly code = "INVALID_ERROR_REGISTRATION";
  constructor(readonly errorCode: string, readonly reason: string) {
    super(`cannot register error code ${JSON.stringify(errorCode)}: ${reason}`);
  }
}

/**
 * A failure whose code no module of this thread registered (or whose fields its class would not
 * take): the code, message and every field as they arrived. `toJSON()` gives them back unchanged,
 * so it crosses a further hop as what it was.
 */
export class RemoteError extends FedrouterError {
  readonly code: string;
  /** Every field as it arrived, code and message included. */
  readonly fields: Readonly<Record<string, unknown>>;
  constructor(code: string, message: string, fields: Readonly<Record<string, unknown>> = {}) {
    super(message);
    this.code = code;
    this.fields = Object.freeze({ ...fields, code, message });
  }
  override toJSON(): WireError {
    return this.fields as WireError;
  }
}

const factories = new Map<string, ErrorFactory>();

/**
 * Registers how to rebuild each code's class. Registering the same factory again is a no-op (two
 * modules may share one table, as the Accountant and the Aggregator share the privacy errors'); a
 * second factory for a code throws InvalidErrorRegistration, since callers could no longer tell
 * the two apart by code.
 * @example
 * registerErrors({ UNKNOWN_WARD: (f) => new UnknownWard(f.string("ward")) });
 */
export function registerErrors(table: Readonly<Record<string, ErrorFactory>>): void {
  for (const [code, factory] of Object.entries(table)) {
    if (!CODE_SHAPE.test(code)) throw new InvalidErrorRegistration(code, "a code is a letter then up to 63 letters, digits or underscores");
    const known = factories.get(code);
    if (known !== undefined && known !== factory) throw new InvalidErrorRegistration(code, "another class of this thread already registered it; give the new class its own code");
    factories.set(code, factory);
  }
}

/** The codes this thread can rebuild into their classes. */
export function registeredErrorCodes(): string[] {
  return [...factories.keys()];
}

/**
 * Rebuilds a failure that crossed a thread or the network: its registered class when the class
 * renders the same code and message from the fields, else a RemoteError with them. Only a value
 * without a code (never sent by fedrouter) becomes a plain Error, having no code to lose.
 */
export function errorFromWire(wire: unknown): Error {
  const raw = (wire !== null && typeof wire === "object" ? wire : {}) as Readonly<Record<string, unknown>>;
  const message = typeof raw.message === "string" ? raw.message : "remote failure";
  const code = raw.code;
  if (typeof code !== "string" || !CODE_SHAPE.test(code)) return new Error(message);
  const factory = factories.get(code);
  if (factory !== undefined) {
    try {
      const rebuilt = factory(new WireFields(raw));
      // A code two classes share (the Planner's FORBIDDEN is not the runtime's), or a peer of
      // another version, renders another message: keep what arrived rather than invent fields.
      if (rebuilt.code === code && rebuilt.message === message) return rebuilt;
    } catch {
      // Fields the class refuses: fall through and keep them as they are.
    }
  }
  return new RemoteError(code, message, raw);
}

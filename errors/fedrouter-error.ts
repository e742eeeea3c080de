/**
 * The one base class of every fedrouter error: a stable `code`, the class name as `name`, and a
 * wire form of code, message and the class's own fields. Imports nothing, so that every layer can
 * extend it — the runtime, the actors, the privacy mathematics and the native bindings alike,
 * which may not import one another (STYLE.md §1). Never holds a stack or a message payload in its
 * wire form.
 */

/** What an error is on the wire and in logs: its code, its message and its class's own fields. */
export type WireError = { readonly code: string; readonly message: string } & Readonly<Record<string, unknown>>;

/**
 * @example
 * class UnknownWard extends FedrouterError {
 *   readonly code = "UNKNOWN_WARD";
 *   constructor(readonly ward: string) {
 *     super(`no ward ${ward}; check the hospital's ward list`);
 *   }
 * }
 * new UnknownWard("7b").toJSON(); // { code: "UNKNOWN_WARD", message: "no ward 7b; …", ward: "7b" }
 */
export abstract class FedrouterError extends Error {
  /** Stable: tests, wire frames, HTTP bodies and docs/errors.md use it; callers branch on it, never on the message. */
  abstract readonly code: string;

  override get name(): string {
    return this.constructor.name;
  }

  /** Plain fields for the wire and for logs: code, message and the class's own fields (unset ones left out). */
  toJSON(): WireError {
    const fields: Record<string, unknown> = { code: this.code, message: this.message };
    for (const [key, value] of Object.entries(this)) {
      if (key !== "code" && value !== undefined && typeof value !== "function") fields[key] = value;
    }
    return fields as WireError;
  }
}

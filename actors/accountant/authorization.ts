/**
 * Who may ask the Accountant what, beyond the runtime's gate by sender kind (ACCOUNTANT_ACCESS):
 * a user reserves and reads for itself only, setBudget and report need role "admin" from a user,
 * and every sender maps to the `Owner` the ledger records and checks when a reservation is
 * settled. Pure: the runtime's sender in, a refusal or null out. Never takes who asks from a
 * field of the message.
 *
 * Department heads: no role says "head of a department" today, and the ledger holds no user's
 * department (only each charge's), so a user reads its own budget and history only.
 */
import { describeSender, type Sender } from "../../runtime/index.ts";
import type { Owner } from "./ledger-types.ts";
import type { AccountantMsg, Rejected } from "./protocol.ts";

/** The role that sets budgets and reads the report, and the roles that read anyone's budget and history. */
export const ADMIN_ROLE = "admin";
export const READ_ANYONE_ROLES: readonly string[] = [ADMIN_ROLE, "operator"];

/**
 * The owner a sender's reservations record, and that it settles as. Operators neither reserve nor
 * settle (ACCOUNTANT_ACCESS, checked by the runtime's gate first): asking for theirs is a defect.
 * @example ownerOf({ kind: "peer", node: "h-b" }); // "peer:h-b"
 */
export function ownerOf(sender: Sender): Owner {
  switch (sender.kind) {
    case "local":
      return `local:${sender.node}`;
    case "peer":
      return `peer:${sender.node}`;
    case "user":
      return `user:${sender.user}`;
    case "operator":
      throw new Error(`operator ${sender.operator} owns no reservations: refusalFor must have refused it`);
  }
}

/** Who set a budget, as the audit trail records it: the operator's CN, or "user:<id>" for an admin. */
export function setterOf(sender: Sender): string {
  return sender.kind === "operator" ? sender.operator : describeSender(sender);
}

/**
 * The FORBIDDEN rejection for `msg` from `sender`, or null when the rules above allow it. Which
 * sender kinds may send each type is not checked again here: the runtime's gate did that before
 * the message reached the Accountant (ACCOUNTANT_ACCESS). A reservation's owner is the ledger's
 * to check (it holds the charge).
 */
export function refusalFor(msg: AccountantMsg, sender: Sender): Rejected | null {
  if (sender.kind !== "user") return null;
  const who = describeSender(sender);
  switch (msg.type) {
    case "reserve":
      if (msg.user !== sender.user) return forbidden(`${who} may reserve only for itself, not for user ${msg.user}`, "user");
      if (msg.department !== sender.department) return forbidden(`${who} may reserve only in its own department ${sender.department}, not in ${msg.department}`, "department");
      return null;
    case "budget":
    case "history":
      if (READ_ANYONE_ROLES.includes(sender.role)) return null;
      if (msg.user !== sender.user) return forbidden(`${who} (role ${sender.role}) may read only its own ${msg.type}, not user ${msg.user}'s; roles ${READ_ANYONE_ROLES.join(", ")} read anyone's`, "user");
      if (msg.type === "budget" && msg.department !== undefined && msg.department !== sender.department) {
        return forbidden(`${who} (role ${sender.role}) may read only its own department ${sender.department}'s budget, not ${msg.department}'s`, "department");
      }
      return null;
    case "setBudget":
    case "report":
      return sender.role === ADMIN_ROLE ? null : forbidden(`${who} (role ${sender.role}) may not send ${msg.type}: it needs role ${ADMIN_ROLE}`, "type");
    case "commit":
    case "release":
    case "tick":
    case "operatorAction":
      return null;
  }
}

function forbidden(message: string, field: string): Rejected {
  return { type: "rejected", code: "FORBIDDEN", message: `FORBIDDEN: ${message}`, field };
}

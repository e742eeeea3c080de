/**
 * What the REPL prints: aligned tables (numbers to the right), the tree with its branches,
 * one line per event or dead letter. Pure functions of wire values; nothing here writes.
 */
import type { WireActorInfo, WireBreaker, WireDeadLetter, WireEvent } from "../../runtime/remote/admin-proto.ts";
import { displayPath, flattenTree } from "./paths.ts";

export type Cell = string | number;

/**
 * @example
 * formatTable(["path", "restarts"], [["counter", 1], ["core/inner", 12]]);
 * // PATH        RESTARTS
 * // counter            1
 * // core/inner        12
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const texts = [headers.map((h) => h.toUpperCase()), ...rows.map((row) => row.map((cell) => String(cell)))];
  // A column of numbers (blanks allowed) is right-aligned, so that digits line up.
  const numeric = headers.map((_, i) => rows.some((row) => typeof row[i] === "number") && rows.every((row) => typeof row[i] === "number" || row[i] === ""));
  const widths = headers.map((_, i) => Math.max(...texts.map((row) => (row[i] ?? "").length)));
  return texts
    .map((row) => row.map((text, i) => (numeric[i] ? text.padStart(widths[i]!) : text.padEnd(widths[i]!))).join("  ").trimEnd())
    .join("\n");
}

const ACTOR_COLUMNS = ["placement", "status", "restarts", "mailbox", "processed"] as const;

function actorCells(info: WireActorInfo): Cell[] {
  const actor = info.placement !== "supervisor";
  return [info.placement, info.status, info.restarts, actor ? info.mailbox_depth : "", actor ? info.processed : ""];
}

/** Every actor and supervisor under the root guardian, one row each. */
export function formatActors(root: WireActorInfo, node: string | undefined): string {
  const rows = flattenTree(root).slice(1).map(({ info }) => [displayPath(info.path, node), ...actorCells(info)]);
  if (rows.length === 0) return "no actors under the user guardian";
  return formatTable(["path", ...ACTOR_COLUMNS], rows);
}

/** The supervision tree, drawn with branches, with the same columns as `formatActors`. */
export function formatTree(root: WireActorInfo, node: string | undefined): string {
  const rows: Cell[][] = [];
  const visit = (info: WireActorInfo, prefix: string, branch: "" | "├─ " | "└─ ") => {
    const name = branch === "" ? displayPath(info.path, node) : info.path.slice(info.path.lastIndexOf("/") + 1);
    rows.push([`${prefix}${branch}${name}`, ...actorCells(info)]);
    const below = branch === "" ? prefix : `${prefix}${branch === "└─ " ? "   " : "│  "}`;
    const children = info.children ?? [];
    children.forEach((child, i) => visit(child, below, i === children.length - 1 ? "└─ " : "├─ "));
  };
  visit(root, "", "");
  return formatTable(["actor", ...ACTOR_COLUMNS], rows);
}

/** One actor's description as a two-column table. */
export function formatActor(info: WireActorInfo, node: string | undefined): string {
  const rows: Cell[][] = [
    ["path", info.path],
    ["short path", displayPath(info.path, node)],
    ["placement", info.placement],
    ["status", info.status],
    ["restarts", String(info.restarts)],
  ];
  if (info.placement === "supervisor") rows.push(["children", String(info.children?.length ?? 0)]);
  else rows.push(["mailbox depth", String(info.mailbox_depth)], ["processed", String(info.processed)]);
  if (info.placement === "worker" && info.worker_id > 0) rows.push(["worker thread", `#${info.worker_id}`]);
  return formatTable(["field", "value"], rows);
}

export function formatBreakers(breakers: readonly WireBreaker[]): string {
  if (breakers.length === 0) return "no circuit breakers yet (one is made per peer, and per actor an operator marks)";
  return formatTable(
    ["target", "state", "failure %", "slow %", "calls", "retry at"],
    breakers.map((b) => [b.target, b.state, percent(b.failure_rate), percent(b.slow_call_rate), b.calls_in_window, b.retry_at_ms > 0 ? clock(b.retry_at_ms) : ""]),
  );
}

export function formatEvent(event: WireEvent, node: string | undefined): string {
  const details: string[] = [];
  if (event.type === "started") details.push(`placement=${event.placement}`);
  if (event.type === "restarted") details.push(`restarts=${event.restarts}`, `delayMs=${event.delay_ms}`);
  if (event.reason) details.push(`reason=${JSON.stringify(event.reason)}`);
  if (event.code) details.push(`code=${event.code}`);
  return ["event", clock(event.at_ms), event.type.padEnd(10), displayPath(event.path, node), ...details].join("  ");
}

export function formatDeadLetter(letter: WireDeadLetter, node: string | undefined): string {
  const details = [letter.message_type ? `type=${letter.message_type}` : "", letter.detail ? `detail=${JSON.stringify(letter.detail)}` : ""].filter(Boolean);
  return ["dead letter", clock(letter.at_ms), letter.reason.padEnd(14), displayPath(letter.to, node), ...details].join("  ");
}

/** A reply for reading: short values on one line, objects indented. */
export function formatReply(json: string): string {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return json;
  }
  const line = JSON.stringify(value);
  return line.length <= 100 ? line : JSON.stringify(value, null, 2);
}

function percent(rate: number): number {
  return Math.round(rate * 1_000) / 10;
}

/** Local time of day with milliseconds: enough to order what an operator watches live. */
function clock(atMs: number): string {
  const at = new Date(atMs);
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}

/**
 * The values of a frame that carries envelopes, between threads and between nodes alike:
 * `[paths, ...rows]`, where `paths` lists the distinct target paths of the batch once and
 * each row is `[pathIndex, msg]`, or `[pathIndex, msg, ask, ackTo, fail, deadlineMs]` (nulls
 * for absent fields) when the envelope carries routing metadata, or that and a seventh column,
 * the sender, when it has one (between threads; between nodes the link leaves it out and the
 * receiving transport sets the peer's own identity). Writing each path once per
 * frame instead of once per message made encoding about 1.5× faster for small messages.
 * Reading trusts nothing: every row is checked before it becomes an envelope.
 */
import { envelopeProblem, type Envelope } from "./envelope.ts";

export function toRows(batch: readonly Envelope[], withSender = true): unknown[] {
  const paths: string[] = [];
  const index = new Map<string, number>();
  const values: unknown[] = [paths];
  for (const env of batch) {
    let i = index.get(env.to);
    if (i === undefined) {
      i = paths.length;
      paths.push(env.to);
      index.set(env.to, i);
    }
    const sender = withSender ? env.sender : undefined;
    values.push(sender !== undefined
      ? [i, env.msg, env.ask ?? null, env.ackTo ?? null, env.fail ?? null, env.deadlineMs ?? null, sender]
      : env.ask === undefined && env.ackTo === undefined && env.fail === undefined && env.deadlineMs === undefined
        ? [i, env.msg]
        : [i, env.msg, env.ask ?? null, env.ackTo ?? null, env.fail ?? null, env.deadlineMs ?? null]);
  }
  return values;
}

/** Turns decoded frame values into envelopes; anything else is reported with its reason. */
export function readRows(values: readonly unknown[], envelope: (env: Envelope) => void, malformed: (problem: string, row?: unknown) => void): void {
  const [paths, ...rows] = values;
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === "string")) {
    malformed("frame does not start with its path table");
    return;
  }
  for (const row of rows) {
    const env = fromRow(row, paths as string[]);
    const problem = typeof env === "string" ? env : envelopeProblem(env);
    if (problem !== undefined) malformed(problem, row);
    else envelope(env as Envelope);
  }
}

/** A row back into an envelope, or the reason it is not one. */
function fromRow(row: unknown, paths: readonly string[]): Envelope | string {
  if (!Array.isArray(row) || (row.length !== 2 && row.length !== 6 && row.length !== 7)) return "envelope row is not [path, msg] or [path, msg, ask, ackTo, fail, deadline(, sender)]";
  const to = Number.isInteger(row[0]) ? paths[row[0] as number] : undefined;
  if (to === undefined) return "envelope row names no path of the frame's table";
  if (row.length === 2) return { to, msg: row[1] };
  const env: Envelope = { to, msg: row[1] };
  if (row[2] !== null) env.ask = row[2];
  if (row[3] !== null) env.ackTo = row[3];
  if (row[4] !== null) env.fail = row[4];
  if (row[5] !== null) env.deadlineMs = row[5];
  if (row.length === 7) env.sender = row[6];
  return env;
}

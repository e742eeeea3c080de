/**
 * Structured logs: one JSON object per line on stderr. Fields are ids, paths, counts and
 * reasons — never message payloads, which may hold patient text.
 */
import type { ActorLogger } from "./actor/behavior.ts";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger extends ActorLogger {
  child(fields: Record<string, unknown>): Logger;
}

export function defaultLogLevel(): LogLevel {
  const level = process.env.FEDROUTER_LOG as LogLevel | undefined;
  return level !== undefined && level in RANK ? level : "warn";
}

export function createLogger(fields: Record<string, unknown> = {}, level: LogLevel = defaultLogLevel()): Logger {
  const write = (at: LogLevel, event: string, extra?: Record<string, unknown>) => {
    if (RANK[at] < RANK[level]) return;
    process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), level: at, event, ...fields, ...extra })}\n`);
  };
  return {
    info: (event, extra) => write("info", event, extra),
    warn: (event, extra) => write("warn", event, extra),
    error: (event, extra) => write("error", event, extra),
    child: (more) => createLogger({ ...fields, ...more }, level),
  };
}

/**
 * Budget periods: which daily, weekly (ISO, Monday first) or monthly period an instant falls
 * in, in a configured IANA time zone, and when that period starts and ends as UTC instants.
 * Pure: an instant in, a period out. Never assumes a day has 24 hours (DST days have 23 or 25).
 */
import { InvalidPrivacyParameter } from "../../privacy/index.ts";

export type ResetSchedule = "daily" | "weekly" | "monthly";

export const RESET_SCHEDULES: readonly ResetSchedule[] = ["daily", "weekly", "monthly"];

export interface BudgetPeriod {
  /** Stable name of the period: "2026-11-24", "2026-W48" or "2026-11". */
  readonly key: string;
  /** First instant of the period (inclusive), epoch ms. */
  readonly startMs: number;
  /** First instant of the next period (exclusive), epoch ms: when budgets reset. */
  readonly endMs: number;
}

interface LocalDate {
  year: number;
  month: number; // 1–12
  day: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" });
    } catch {
      throw new InvalidPrivacyParameter("timeZone", Number.NaN, `"${timeZone}" is not an IANA time zone (e.g. Europe/Berlin)`);
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Wall-clock fields of `atMs` in `timeZone`. */
function wallClock(atMs: number, timeZone: string): LocalDate & { hour: number; minute: number; second: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(atMs))) if (p.type !== "literal") parts[p.type] = Number(p.value);
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second! };
}

/** Offset of `timeZone` from UTC at `atMs`, in ms (positive east of Greenwich). */
function offsetMs(atMs: number, timeZone: string): number {
  const w = wallClock(atMs, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(atMs / 1_000) * 1_000;
}

/**
 * The UTC instant of local midnight at the start of `date` in `timeZone`. Where midnight
 * does not exist (a DST jump at 00:00), the first instant of that day.
 */
export function startOfLocalDay(date: LocalDate, timeZone: string): number {
  const guess = Date.UTC(date.year, date.month - 1, date.day);
  // Two passes settle the offset across a DST change between the guess and the answer.
  let atMs = guess - offsetMs(guess, timeZone);
  atMs = guess - offsetMs(atMs, timeZone);
  const local = wallClock(atMs, timeZone);
  if (local.day !== date.day) {
    // Midnight fell in a gap: step forward to the first instant of the day.
    atMs += (24 - local.hour) * 3_600_000 - local.minute * 60_000 - local.second * 1_000;
  }
  return atMs;
}

function addDays(date: LocalDate, days: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** ISO 8601 week-numbering year and week of a date. */
function isoWeek(date: LocalDate): { year: number; week: number } {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day));
  const weekday = (d.getUTCDay() + 6) % 7; // Monday 0
  d.setUTCDate(d.getUTCDate() - weekday + 3); // the Thursday of this week decides the year
  const year = d.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(year, 0, 4));
  const week = 1 + Math.round(((d.getTime() - firstThursday.getTime()) / 86_400_000 - 3 + ((firstThursday.getUTCDay() + 6) % 7)) / 7);
  return { year, week };
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/**
 * The period of `schedule` containing `atMs` in `timeZone`.
 * @example
 * periodOf(Date.UTC(2026, 10, 24, 23, 30), "daily", "Europe/Berlin").key // "2026-11-25" (already the 25th in Berlin)
 */
export function periodOf(atMs: number, schedule: ResetSchedule, timeZone: string): BudgetPeriod {
  if (!Number.isFinite(atMs)) throw new InvalidPrivacyParameter("atMs", atMs, "must be a finite epoch time in ms");
  const w = wallClock(atMs, timeZone);
  const today: LocalDate = { year: w.year, month: w.month, day: w.day };
  let first: LocalDate;
  let next: LocalDate;
  let key: string;
  switch (schedule) {
    case "daily":
      first = today;
      next = addDays(today, 1);
      key = `${today.year}-${pad(today.month)}-${pad(today.day)}`;
      break;
    case "weekly": {
      const weekday = (new Date(Date.UTC(today.year, today.month - 1, today.day)).getUTCDay() + 6) % 7;
      first = addDays(today, -weekday);
      next = addDays(first, 7);
      const { year, week } = isoWeek(today);
      key = `${year}-W${pad(week)}`;
      break;
    }
    case "monthly":
      first = { year: today.year, month: today.month, day: 1 };
      next = today.month === 12 ? { year: today.year + 1, month: 1, day: 1 } : { year: today.year, month: today.month + 1, day: 1 };
      key = `${today.year}-${pad(today.month)}`;
      break;
    default:
      throw new InvalidPrivacyParameter("reset", Number.NaN, `"${String(schedule)}" is not daily, weekly or monthly`);
  }
  return { key, startMs: startOfLocalDay(first, timeZone), endMs: startOfLocalDay(next, timeZone) };
}

/** Department budgets from the seeds (ε per period), with δ = 1e-5. */
export const DEFAULT_DEPARTMENT_BUDGETS = { emergency: 20, cardiology: 15, radiology: 10, general: 5, research: 2 } as const;
export const DEFAULT_DELTA = 1e-5;

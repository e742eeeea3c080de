import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { periodOf, type ResetSchedule } from "../../../actors/accountant/periods.ts";
import { InvalidPrivacyParameter } from "../../../privacy/index.ts";

const iso = (ms: number) => new Date(ms).toISOString();

test("a daily period is the local calendar day of the time zone", () => {
  const at = Date.UTC(2026, 10, 24, 23, 30); // 00:30 on the 25th in Berlin (UTC+1)
  const berlin = periodOf(at, "daily", "Europe/Berlin");
  assert.equal(berlin.key, "2026-11-25");
  assert.equal(iso(berlin.startMs), "2026-11-24T23:00:00.000Z");
  assert.equal(iso(berlin.endMs), "2026-11-25T23:00:00.000Z");
  const utc = periodOf(at, "daily", "UTC");
  assert.equal(utc.key, "2026-11-24");
  const la = periodOf(at, "daily", "America/Los_Angeles"); // 15:30 on the 24th
  assert.equal(la.key, "2026-11-24");
  assert.equal(iso(la.startMs), "2026-11-24T08:00:00.000Z");
});

test("days around DST changes last 23 and 25 hours", () => {
  const spring = periodOf(Date.UTC(2026, 2, 29, 12), "daily", "Europe/Berlin");
  assert.equal(spring.key, "2026-03-29");
  assert.equal((spring.endMs - spring.startMs) / 3_600_000, 23);
  const autumn = periodOf(Date.UTC(2026, 9, 25, 12), "daily", "Europe/Berlin");
  assert.equal((autumn.endMs - autumn.startMs) / 3_600_000, 25);
});

test("a midnight that does not exist starts the day at its first instant", () => {
  // Santiago, Chile: clocks jumped from 00:00 to 01:00 on 2026-09-06.
  const day = periodOf(Date.UTC(2026, 8, 6, 15), "daily", "America/Santiago");
  assert.equal(day.key, "2026-09-06");
  assert.equal(iso(day.startMs), "2026-09-06T04:00:00.000Z");
});

test("weeks are ISO weeks, Monday first, keyed by the ISO week-year", () => {
  const week = periodOf(Date.UTC(2026, 10, 24, 12), "weekly", "UTC"); // a Tuesday
  assert.equal(week.key, "2026-W48");
  assert.equal(iso(week.startMs), "2026-11-23T00:00:00.000Z");
  assert.equal(iso(week.endMs), "2026-11-30T00:00:00.000Z");
  assert.equal(periodOf(Date.UTC(2027, 0, 1, 12), "weekly", "UTC").key, "2026-W53"); // 2026 has 53 ISO weeks
  assert.equal(periodOf(Date.UTC(2025, 11, 29, 12), "weekly", "UTC").key, "2026-W01");
});

test("months run from the 1st to the 1st, across the year end", () => {
  const december = periodOf(Date.UTC(2026, 11, 31, 23, 59), "monthly", "UTC");
  assert.equal(december.key, "2026-12");
  assert.equal(iso(december.endMs), "2027-01-01T00:00:00.000Z");
  const tokyo = periodOf(Date.UTC(2026, 10, 30, 16), "monthly", "Asia/Tokyo"); // already 1 December there
  assert.equal(tokyo.key, "2026-12");
  assert.equal(iso(tokyo.startMs), "2026-11-30T15:00:00.000Z");
});

test("every instant lies in its period, and consecutive periods meet without gap or overlap", () => {
  const zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Santiago"];
  const schedules: ResetSchedule[] = ["daily", "weekly", "monthly"];
  fc.assert(
    fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2060, 0, 1) }), fc.constantFrom(...zones), fc.constantFrom(...schedules), (at, zone, schedule) => {
      const period = periodOf(at, schedule, zone);
      assert.ok(period.startMs <= at && at < period.endMs, `${iso(at)} in ${zone} ${schedule}: [${iso(period.startMs)}, ${iso(period.endMs)})`);
      const next = periodOf(period.endMs, schedule, zone);
      assert.equal(next.startMs, period.endMs);
      assert.notEqual(next.key, period.key);
      assert.equal(periodOf(period.endMs - 1, schedule, zone).key, period.key);
    }),
    { numRuns: 500 },
  );
});

test("an unknown time zone or schedule is a typed error", () => {
  assert.throws(() => periodOf(0, "daily", "Mars/Base"), InvalidPrivacyParameter);
  assert.throws(() => periodOf(0, "hourly" as ResetSchedule, "UTC"), InvalidPrivacyParameter);
  assert.throws(() => periodOf(Number.NaN, "daily", "UTC"), InvalidPrivacyParameter);
});

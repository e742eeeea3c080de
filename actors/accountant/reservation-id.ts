/**
 * Reservation ids. An id is no proof of ownership (the ledger checks who owns a reservation),
 * but sequential ids (res-1, res-2, …) let anyone name every other caller's reservations, so
 * production ids carry 128 random bits: knowing one means having been told it. Never
 * sequential outside tests.
 */
import { randomBytes } from "node:crypto";

/** Makes the id of the next reservation; must never repeat one it made. */
export type ReservationIds = () => string;

/**
 * `res-` and 128 bits from the OS's CSPRNG as 32 lowercase hex digits.
 * @example randomReservationId(); // "res-3f9c0e6b1d2a4c58b7e9f0a1c2d3e4f5"
 */
export const randomReservationId: ReservationIds = () => `res-${randomBytes(16).toString("hex")}`;

/** For tests that want readable ids: res-1, res-2, … (guessable: never in a running node). */
export function sequentialReservationIds(first = 1): ReservationIds {
  let next = first;
  return () => `res-${next++}`;
}

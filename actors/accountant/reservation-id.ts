/**
 * Reservation ids. An id is no proof of ownership (the ledger checks who owns a reservation),
 * but sequential ids (res-1, res-2, …) let anyone name every other caller's reservations, so
 * production ids carry 128 random bits: knowing one means having been told it. Never
 * sequential outside tests.
 */
import { randomFillSync } from "node:crypto";

/** Makes the id of the next reservation; must never repeat one it made. */
export type ReservationIds = () => string;

/**
 * `res-` and 128 bits from the OS's CSPRNG as 32 lowercase hex digits.
 * @example randomReservationId(); // "res-3f9c0e6b1d2a4c58b7e9f0a1c2d3e4f5"
 */
export const randomReservationId: ReservationIds = () => {
  if (poolAt === POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const id = `res-${pool.toString("hex", poolAt, poolAt + ID_BYTES)}`;
  poolAt += ID_BYTES;
  return id;
};

/**
 * Bytes drawn from the CSPRNG 256 ids at a time (as Node's randomUUID keeps a cache): one
 * randomBytes(16) per reserve was 3 % of the Accountant's time at 64 clients. Each byte is
 * used once; the pool is refilled, never reused.
 */
const ID_BYTES = 16;
const POOL_BYTES = ID_BYTES * 256;
const pool = Buffer.alloc(POOL_BYTES);
let poolAt = POOL_BYTES;

/** For tests that want readable ids: res-1, res-2, … (guessable: never in a running node). */
export function sequentialReservationIds(first = 1): ReservationIds {
  let next = first;
  return () => `res-${next++}`;
}

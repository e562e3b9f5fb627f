// A failure streak's growing delays, shared by the limits that declare them (risk/limits.ts) and the
// counters that enforce them (storage/counters.ts and counter-chains.ts, which say the same in SQL: keep the two alike).
/** A streak's delays: none for the first `free` failures, then 2, 4, 8... seconds up to `max`. */
export type Backoff = { free: number; max: number };
/** Seconds a streak blocks after its n-th failure (0: none). */
export function backoffDelay(backoff: Backoff, failures: number): number {
  return failures <= backoff.free ? 0 : Math.min(2 ** (failures - backoff.free), backoff.max);
}

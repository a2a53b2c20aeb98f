/**
 * Timestamps as the database stores them: ISO-8601 UTC with microseconds, in
 * the form Python's `datetime.isoformat()` writes
 * (`2026-11-28T16:41:38.345842+00:00`), so either implementation reads the
 * other's databases.
 */
import { Clock, Effect } from "effect"

/** The ISO timestamp of a time in nanoseconds since the epoch. */
export const fromEpochNanos = (epochNanos: bigint): string => {
  const micros = (epochNanos / 1000n) % 1_000_000n
  const seconds = new Date(Number(epochNanos / 1_000_000_000n) * 1000).toISOString().slice(0, 19)
  return `${seconds}.${micros.toString().padStart(6, "0")}+00:00`
}

/** The current time as an ISO timestamp, read from Effect's `Clock`. */
export const now: Effect.Effect<string> = Effect.map(Clock.currentTimeNanos, fromEpochNanos)

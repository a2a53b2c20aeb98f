/**
 * Timestamps as the database stores them: ISO-8601 UTC with microseconds, in
 * the form Python's `datetime.isoformat()` writes
 * (`2026-11-28T16:41:38.345842+00:00`), so either implementation reads the
 * other's databases.
 */
import { Clock, Effect } from "effect"

/** The ISO timestamp of a time in nanoseconds since the epoch. */
export const fromEpochNanos = (epochNanos: bigint): string => {
  // Microseconds since the epoch stay exact as a number (below 2^53 until the year 2255).
  const micros = Number(epochNanos / 1000n)
  const second = Math.floor(micros / 1_000_000)
  // Consecutive timestamps mostly share their second: its text is made once.
  if (second !== lastSecond.second) lastSecond = { second, text: new Date(second * 1000).toISOString().slice(0, 19) }
  return `${lastSecond.text}.${String(micros - second * 1_000_000).padStart(6, "0")}+00:00`
}

let lastSecond = { second: Number.NaN, text: "" }

/** The current time as an ISO timestamp, read from Effect's `Clock`. */
export const now: Effect.Effect<string> = Effect.map(Clock.currentTimeNanos, fromEpochNanos)

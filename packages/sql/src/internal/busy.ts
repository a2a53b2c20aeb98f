import type { SqlError } from "@effect/sql/SqlError"
import { type Duration, Effect, Schedule } from "effect"

const busyCodes = /^SQLITE_(BUSY|LOCKED)/

/** Tells whether a SQL error is a lock conflict with another connection, which passes if tried again. */
export const isBusy = (error: unknown): boolean => {
  const cause = (error as { readonly cause?: { readonly code?: unknown } } | undefined)?.cause
  return typeof cause?.code === "string" && busyCodes.test(cause.code)
}

/**
 * Waits out lock conflicts in Effect rather than in SQLite's busy handler,
 * which sleeps inside C and freezes the event loop: retries after 2 ms,
 * doubling to at most 100 ms, jittered, for up to `patience`.
 */
export const retryBusy = <A, E extends SqlError | { readonly _tag: string }, R>(
  effect: Effect.Effect<A, E, R>,
  patience: Duration.DurationInput = "5 minutes"
): Effect.Effect<A, E, R> =>
  Effect.retry(effect, {
    while: isBusy,
    schedule: Schedule.exponential("2 millis").pipe(
      Schedule.union(Schedule.spaced("100 millis")),
      Schedule.jittered,
      Schedule.upTo(patience)
    )
  })

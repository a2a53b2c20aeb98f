/**
 * Timestamps in the form Python's `isoformat()` writes: UTC, microseconds,
 * `+00:00` — read from Effect's Clock, so tests control them.
 */
import { Timestamp } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"

describe("Timestamp", () => {
  it("fromEpochNanos writes UTC with microseconds, truncating the nanoseconds", () => {
    expect(Timestamp.fromEpochNanos(0n)).toBe("1970-01-01T00:00:00.000000+00:00")
    expect(Timestamp.fromEpochNanos(1_700_000_000_123_456_789n)).toBe("2023-11-14T22:13:20.123456+00:00")
    expect(Timestamp.fromEpochNanos(1_000_999n)).toBe("1970-01-01T00:00:00.001000+00:00")
  })

  it.effect("now reads the Clock", () =>
    Effect.gen(function*() {
      expect(yield* Timestamp.now).toBe("1970-01-01T00:00:00.000000+00:00")
      yield* TestClock.adjust("1500 millis")
      expect(yield* Timestamp.now).toBe("1970-01-01T00:00:01.500000+00:00")
    }))

  it.live("now is the current time with the live clock", () =>
    Effect.gen(function*() {
      const before = Date.now()
      const now = yield* Timestamp.now
      expect(now).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/)
      expect(Math.abs(Date.parse(now.replace("+00:00", "Z").replace(/(\.\d{3})\d{3}/, "$1")) - before)).toBeLessThan(1000)
    }))
})

/**
 * The stall watchdog on an index computed elsewhere (a cluster runner): the
 * submitter may first see the index seconds after it started, when a poll
 * brings it. The runner says how long the index has been quiet, and the
 * watchdog counts the stall from then, not from the poll; an index that
 * moves is never flagged. (Timings are asserted one way only — no earlier
 * than possible, or well before a bound — so a loaded machine cannot fail them.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { start } from "../src/internal/heartbeat.js"
import type { ProgressEvent } from "../src/Progress.js"

/** A watchdog reading every 20 ms; each event is kept with the time it came. */
const watchdogWith = (stallAfterMs: number) =>
  Effect.map(
    Effect.sync(() => [] as Array<{ readonly event: ProgressEvent; readonly at: number }>),
    (events) => ({
      events,
      watchdog: start({
        checkpoint: undefined,
        onProgress: (event) => void events.push({ event, at: Date.now() }),
        stallAfter: Duration.millis(stallAfterMs),
        onStall: "warn",
        interval: Duration.millis(20),
        stageName: (order) => `stage ${order}`
      })
    })
  )

/** Waits (up to 10 s) until an event has come. */
const firstEvent = (events: ReadonlyArray<unknown>) =>
  Effect.repeat(Effect.sleep("20 millis"), { until: () => events.length > 0 }).pipe(Effect.timeout("10 seconds"))

describe("the stall watchdog, on indices computed elsewhere", () => {
  it.live("flags at its first reading an index the other side has seen quiet for longer than stallAfter", () =>
    Effect.scoped(Effect.gen(function*() {
      const { events, watchdog: starting } = yield* watchdogWith(2_000)
      const watchdog = yield* starting
      const seen = Date.now()
      watchdog.remote("runner-lane", 7, () => ({ items: 3, stage: 1, quietMs: 5_000 }))
      yield* firstEvent(events)
      expect(events.map(({ event }) => event)).toEqual([{ _tag: "IndexStalled", index: 7, workerId: "runner-lane", items: 3 }])
      // Counted from the poll, it could not have been flagged before 2 s.
      expect(events[0]!.at - seen).toBeLessThan(2_000)
    })))

  it.live("counts from when it was first seen when the other side says nothing of quiet time, and never flags one that moves", () =>
    Effect.scoped(Effect.gen(function*() {
      const { events, watchdog: starting } = yield* watchdogWith(400)
      const watchdog = yield* starting
      let items = 0
      const seen = Date.now()
      watchdog.remote("moving", 1, () => ({ items: items++, stage: 1, quietMs: 0 }))
      watchdog.remote("silent", 2, () => ({ items: 0, stage: 1 }))
      yield* firstEvent(events)
      yield* Effect.sleep("100 millis")
      expect(events.map(({ event }) => event)).toEqual([{ _tag: "IndexStalled", index: 2, workerId: "silent", items: 0 }])
      expect(events[0]!.at - seen).toBeGreaterThanOrEqual(400)
    })))
})

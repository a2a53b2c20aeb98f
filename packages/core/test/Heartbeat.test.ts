/**
 * The stall watchdog on an index computed elsewhere (a cluster runner): the
 * submitter may first see the index seconds after it started, when a poll
 * brings it. The runner says how long the index has been quiet, and the
 * watchdog counts the stall from then, not from the poll; an index that
 * moves is never flagged.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { start } from "../src/internal/heartbeat.js"
import type { ProgressEvent } from "../src/Progress.js"

const watchdogWith = (events: Array<ProgressEvent>) =>
  start({
    checkpoint: undefined,
    onProgress: (event) => void events.push(event),
    stallAfter: Duration.millis(400),
    onStall: "warn",
    interval: Duration.millis(20),
    stageName: (order) => `stage ${order}`
  })

describe("the stall watchdog, on indices computed elsewhere", () => {
  it.live("flags at its first reading an index the other side has seen quiet for longer than stallAfter", () =>
    Effect.scoped(Effect.gen(function*() {
      const events: Array<ProgressEvent> = []
      const watchdog = yield* watchdogWith(events)
      watchdog.remote("runner-lane", 7, () => ({ items: 3, stage: 1, quietMs: 1_500 }))
      yield* Effect.sleep("150 millis")
      expect(events).toEqual([{ _tag: "IndexStalled", index: 7, workerId: "runner-lane", items: 3 }])
    })))

  it.live("counts from when it was first seen when the other side says nothing of quiet time, and never flags one that moves", () =>
    Effect.scoped(Effect.gen(function*() {
      const events: Array<ProgressEvent> = []
      const watchdog = yield* watchdogWith(events)
      let items = 0
      watchdog.remote("moving", 1, () => ({ items: items++, stage: 1, quietMs: 0 }))
      watchdog.remote("silent", 2, () => ({ items: 0, stage: 1 }))
      yield* Effect.sleep("150 millis")
      expect(events).toEqual([])
      yield* Effect.sleep("450 millis")
      expect(events).toEqual([{ _tag: "IndexStalled", index: 2, workerId: "silent", items: 0 }])
    })))
})

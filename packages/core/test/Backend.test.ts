/**
 * Backends: the run hands a backend the pending indices and the
 * concurrency, and the backend decides how they run — a custom backend is
 * consulted; the built-in fibers and sequential backends keep to their
 * lanes.
 */
import { Backend, CheckpointStore, Filter, Pipeline, RunResult, Sink, Source } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Layer, Logger, Option } from "effect"
import { Live, makeGauge, range, readCheckpoint, Sequential } from "./helpers.js"

/** A pipeline whose sink records the order in which indices finish; index `i` first sleeps `delays[i]` ms. */
const makeRecorder = (length: number, delays: ReadonlyArray<number> = []) => {
  const finished: Array<number> = []
  const gauge = makeGauge()
  const pipeline = Pipeline.from(Source.fromArray("Items", range(0, length))).pipe(
    Pipeline.filter(Filter.mapEffect({
      name: "Wait",
      f: (n: number) => gauge.track(Effect.as(Effect.sleep(Duration.millis(delays[n] ?? 0)), n))
    })),
    Pipeline.write(Sink.fromItems({
      name: "Finish",
      write: (_: ReadonlyArray<number>, index) =>
        Effect.sync(() => {
          finished.push(index)
          return [`/out/${index}`]
        })
    }), { resume: true })
  )
  return { pipeline, finished, gauge }
}

/** What the reversed backend was asked to run, call by call. */
const asked: Array<{ readonly indices: ReadonlyArray<number>; readonly concurrency: number }> = []

/** A backend of one lane that runs the indices last to first. */
const Reversed = Layer.succeed(Backend.Backend, {
  name: "reversed",
  execute: <E, R>(work: Backend.Work<E, R>) =>
    Effect.gen(function*() {
      const indices = Array.from({ length: work.units.count }, (_, k) => work.units.indicesOf(k)).flat()
      asked.push({ indices, concurrency: work.concurrency })
      const lane = yield* work.openLane
      for (const index of [...indices].reverse()) yield* work.process(index, lane)
    })
})

describe("Backend", () => {
  it.effect("a custom backend is handed the pending indices and the concurrency, and runs them its own way", () =>
    Effect.gen(function*() {
      const { finished, pipeline } = makeRecorder(5)
      const first = yield* Pipeline.run(pipeline, { concurrency: 3 })
      expect(asked).toEqual([{ indices: [0, 1, 2, 3, 4], concurrency: 3 }])
      expect(finished).toEqual([4, 3, 2, 1, 0])
      // Outcomes are still in the requested order.
      expect(first.outcomes.map((o) => o.index)).toEqual([0, 1, 2, 3, 4])
      const workers = yield* readCheckpoint(pipeline, (c) => c.workers)
      expect(workers.map((w) => w.completedCount)).toEqual([5])

      // Indices taken from the checkpoint are not handed to the backend.
      yield* readCheckpoint(pipeline, (c) => Effect.zipRight(c.resetIndex(1), c.resetIndex(3)))
      const second = yield* Pipeline.run(pipeline, { indices: [4, 3, 2, 1] })
      expect(asked[1]).toEqual({ indices: [3, 1], concurrency: 1 })
      expect(finished).toEqual([4, 3, 2, 1, 0, 1, 3])
      expect(second.outcomes.map((o) => [o.index, o._tag === "Completed" && o.cached])).toEqual([
        [4, true],
        [3, false],
        [2, true],
        [1, false]
      ])
    }).pipe(Effect.provide(Layer.mergeAll(Reversed, CheckpointStore.layerMemory, Logger.remove(Logger.defaultLogger)))))

  it.effect("a backend that fails stops the run with its error", () =>
    Effect.gen(function*() {
      const Broken = Layer.succeed(Backend.Backend, {
        name: "broken",
        execute: () => Effect.die(new Error("no lanes available"))
      })
      const { finished, pipeline } = makeRecorder(3)
      const exit = yield* Effect.exit(Pipeline.run(pipeline).pipe(Effect.provide(Broken)))
      const defect = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
      expect((defect as Error | undefined)?.message).toBe("no lanes available")
      expect(finished).toEqual([])
    }).pipe(Effect.provide(Layer.mergeAll(CheckpointStore.layerMemory, Logger.remove(Logger.defaultLogger)))))

  it.live("layerSequential runs one index at a time on one lane, whatever the concurrency", () =>
    Effect.gen(function*() {
      const { finished, gauge, pipeline } = makeRecorder(5, [20, 5, 15, 0, 10])
      const result = yield* Pipeline.run(pipeline, { concurrency: 4 })
      expect(RunResult.counts(result)).toEqual({ computed: 5, cached: 0, failed: 0 })
      expect(gauge.max()).toBe(1)
      expect(finished).toEqual([0, 1, 2, 3, 4])
      const workers = yield* readCheckpoint(pipeline, (c) => c.workers)
      expect(workers).toHaveLength(1)
    }).pipe(Effect.provide(Sequential)))

  it.live("layerFibers opens no more lanes than indices, and a slow index does not hold up the others", () =>
    Effect.gen(function*() {
      const { finished, gauge, pipeline } = makeRecorder(5, [400, 10, 10, 10, 10])
      yield* Pipeline.run(pipeline, { concurrency: 2 })
      // Index 0 runs alone on one lane while the other lane takes 1..4 in turn: the order shows it, no clock is read.
      expect(finished).toEqual([1, 2, 3, 4, 0])
      expect(gauge.max()).toBe(2)
      expect(yield* readCheckpoint(pipeline, (c) => c.workers)).toHaveLength(2)

      const few = makeRecorder(3)
      yield* Pipeline.run(few.pipeline, { concurrency: 8 })
      expect(yield* readCheckpoint(few.pipeline, (c) => c.workers)).toHaveLength(3)
    }).pipe(Effect.provide(Live)))
})

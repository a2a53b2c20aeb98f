/**
 * What the run does beside the happy path: a stream of outcomes for runs
 * too large to gather, no checkpoint at all when metrics are off, a sink
 * returning something other than paths, a source whose length is not a
 * count.
 */
import { Backend, CheckpointStore, Filter, Pipeline, RunResult, Sink, Source } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Layer, Option, Stream } from "effect"
import { Live, range, readCheckpoint, TestHost } from "./helpers.js"

const numbers = (length: number) =>
  Source.make({ name: "Numbers", params: { length }, length, items: (i) => Effect.succeed([i]) })

describe("Pipeline.stream", () => {
  it.effect("emits one outcome per index as they are known (cached ones first), the same outcomes as run", () =>
    Effect.gen(function*() {
      const pipeline = Pipeline.from(numbers(50)).pipe(
        Pipeline.filter(Filter.map({ name: "Double", f: (n: number) => n * 2 })),
        Pipeline.write(Sink.fromItems({ name: "Paths", write: (items: ReadonlyArray<number>) => Effect.succeed(items.map((n) => `/out/${n}`)) })),
        Pipeline.withOptions({ resume: true })
      )
      yield* Pipeline.run(pipeline, { indices: range(0, 20) })
      const streamed = Chunk.toReadonlyArray(yield* Stream.runCollect(Pipeline.stream(pipeline, { concurrency: 4 })))
      expect(streamed).toHaveLength(50)
      expect(streamed.slice(0, 20).every((o) => o._tag === "Completed" && o.cached)).toBe(true)
      expect(new Set(streamed.map((o) => o.index))).toEqual(new Set(range(0, 50)))
      const run = yield* Pipeline.run(pipeline)
      expect(RunResult.paths(run)).toEqual(range(0, 50).map((i) => [`/out/${i * 2}`]))
    }).pipe(Effect.provide(Live)))

  it.effect("100,000 indices streamed and drained: every outcome arrives once", () =>
    Effect.gen(function*() {
      const pipeline = Pipeline.from(numbers(100_000)).pipe(
        Pipeline.write(Sink.drain({ name: "Drop", pathOf: () => [] }), { trackMetrics: false })
      )
      const seen = new Uint8Array(100_000)
      yield* Stream.runForEach(Pipeline.stream(pipeline, { concurrency: 8 }), (outcome) =>
        Effect.sync(() => {
          seen[outcome.index]! += 1
        }))
      expect(seen.every((count) => count === 1)).toBe(true)
    }).pipe(Effect.provide(Layer.merge(Backend.layerFibers, TestHost))), 120_000)
})

describe("metrics off", () => {
  it.effect("needs no store, and Pipeline.checkpoint fails with NoCheckpoint naming trackMetrics", () =>
    Effect.gen(function*() {
      const pipeline = Pipeline.from(numbers(3)).pipe(
        Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/d/${i}`] }), { trackMetrics: false })
      )
      // No CheckpointStore provided at all.
      const result = yield* Pipeline.run(pipeline).pipe(Effect.provide(Backend.layerFibers))
      expect(result.location).toBeUndefined()
      expect(RunResult.paths(result)).toEqual([["/d/0"], ["/d/1"], ["/d/2"]])
      const error = yield* Effect.flip(Effect.scoped(Pipeline.checkpoint(pipeline))).pipe(
        Effect.provide(CheckpointStore.layerMemory)
      )
      expect(error._tag).toBe("NoCheckpoint")
      expect(error.message).toMatch(/trackMetrics/)
    }))
})

describe("bad values from user code", () => {
  it.effect("a sink returning [null] or [7] fails that index with InvalidSinkResult; the others are recorded", () =>
    Effect.gen(function*() {
      const pipeline = Pipeline.from(numbers(10)).pipe(
        Pipeline.write(Sink.fromItems({
          name: "Careless",
          write: (_: ReadonlyArray<number>, index) =>
            Effect.succeed((index === 7 ? [null] : index === 3 ? [7] : [`/out/${index}`]) as unknown as ReadonlyArray<string>)
        })),
        Pipeline.withOptions({ resume: true })
      )
      const result = yield* Pipeline.run(pipeline, { concurrency: 3 })
      const failed = result.outcomes.filter(RunResult.isFailed)
      expect(failed.map((o) => o.index)).toEqual([3, 7])
      for (const outcome of failed) {
        const error = Option.getOrThrow(Cause.failureOption(outcome.cause)) as { readonly _tag: string }
        expect(error._tag).toBe("InvalidSinkResult")
      }
      expect(failed[1]!.message).toBe(
        "InvalidSinkResult: the sink Careless returned [null] for index 7; a sink must return an array of non-empty path strings"
      )
      const completed = yield* readCheckpoint(pipeline, (c) => c.completedIndices)
      expect([...completed].sort((a, b) => a - b)).toEqual([0, 1, 2, 4, 5, 6, 8, 9])
    }).pipe(Effect.provide(Live)))

  for (const length of [-5, Number.NaN, 2.5]) {
    it.effect(`a source length of ${length} is InvalidSource naming the source, before anything is recorded`, () =>
      Effect.gen(function*() {
        const pipeline = Pipeline.from(Source.make({ name: "Odd", length, items: (i) => Effect.succeed([i]) })).pipe(
          Pipeline.write(Sink.drain({ name: "Drop", pathOf: () => [] }))
        )
        const error = yield* Effect.flip(Pipeline.run(pipeline))
        expect(error._tag).toBe("InvalidSource")
        expect((error as Source.InvalidSource).message).toBe(
          `the source Odd reports a length of ${String(length)}; a length must be a whole number of indices, 0 or more`
        )
      }).pipe(Effect.provide(Live)))
  }
})

/**
 * Run options: index selections (negative indices, ranges written on a
 * command line) and concurrency, every bad input rejected with a message
 * naming what is wrong — and, through `Pipeline.run`, before anything runs.
 */
import { Pipeline, RunOptions } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { Live, makeProbe, range, readCheckpoint } from "./helpers.js"

/** The message of a rejected option, or a failure of the test if it was accepted. */
const rejection = <A>(either: Either.Either<A, RunOptions.InvalidRunOptions>) =>
  Either.match(either, {
    onLeft: (error) => ({ option: error.option, message: error.message }),
    onRight: (value) => ({ accepted: value })
  })

describe("RunOptions", () => {
  describe("resolveIndices", () => {
    it("defaults to every index in order, and resolves negative indices from the end", () => {
      expect(RunOptions.resolveIndices(undefined, 4)).toEqual(Either.right([0, 1, 2, 3]))
      expect(RunOptions.resolveIndices(undefined, 0)).toEqual(Either.right([]))
      expect(RunOptions.resolveIndices([3, -1, 0, -8], 10)).toEqual(Either.right([3, 9, 0, 2]))
      expect(RunOptions.resolveIndices([-10, 9, -9], 10)).toEqual(Either.right([0, 9, 1]))
      expect(RunOptions.resolveIndices([], 10)).toEqual(Either.right([]))
    })

    it("rejects indices that are not integers", () => {
      expect(rejection(RunOptions.resolveIndices([1.5, 2, Number.NaN], 10))).toEqual({
        option: "indices",
        message: "indices must be integers, got 1.5, NaN"
      })
      expect(rejection(RunOptions.resolveIndices([Number.POSITIVE_INFINITY], 10))).toEqual({
        option: "indices",
        message: "indices must be integers, got Infinity"
      })
    })

    it("rejects indices out of range, naming them and the valid range", () => {
      expect(rejection(RunOptions.resolveIndices([10, 3, -11], 10))).toEqual({
        option: "indices",
        message: "indices out of range for a source of length 10: 10, -11 (valid: 0..9, or -10..-1 from the end)"
      })
      expect(rejection(RunOptions.resolveIndices([0], 0))).toEqual({
        option: "indices",
        message: "indices out of range for a source of length 0: 0 (the source is empty)"
      })
      // Long lists are cut after ten values.
      expect(rejection(RunOptions.resolveIndices(range(20, 35), 10))).toEqual({
        option: "indices",
        message:
          "indices out of range for a source of length 10: 20, 21, 22, 23, 24, 25, 26, 27, 28, 29 and 5 more (valid: 0..9, or -10..-1 from the end)"
      })
    })

    it("rejects repeated indices, also when a negative index names the same one", () => {
      expect(rejection(RunOptions.resolveIndices([1, 2, 1], 10))).toEqual({
        option: "indices",
        message: "indices repeated: 1; list each index once"
      })
      expect(rejection(RunOptions.resolveIndices([9, -1], 10))).toEqual({
        option: "indices",
        message: "indices repeated: 9; list each index once"
      })
      expect(rejection(RunOptions.resolveIndices([0, -10, 5, -5], 10))).toEqual({
        option: "indices",
        message: "indices repeated: 0, 5; list each index once"
      })
    })
  })

  describe("resolveConcurrency", () => {
    it("defaults to 1, keeps a positive integer, and resolves \"all\" and -1 (SPEC.md's spelling) to the number of CPUs", () => {
      expect(RunOptions.resolveConcurrency(undefined, 4)).toEqual(Either.right(1))
      expect(RunOptions.resolveConcurrency(1, 4)).toEqual(Either.right(1))
      expect(RunOptions.resolveConcurrency(7, 4)).toEqual(Either.right(7))
      expect(RunOptions.resolveConcurrency("all", 4)).toEqual(Either.right(4))
      expect(RunOptions.resolveConcurrency(-1, 6)).toEqual(Either.right(6))
    })

    it("rejects anything but a positive integer or \"all\", showing the value given", () => {
      const cases: ReadonlyArray<readonly [number, string]> = [
        [0, "0"],
        [-2, "-2"],
        [1.5, "1.5"],
        [Number.NaN, "NaN"],
        [Number.POSITIVE_INFINITY, "Infinity"]
      ]
      for (const [value, shown] of cases) {
        expect(rejection(RunOptions.resolveConcurrency(value, 4))).toEqual({
          option: "concurrency",
          message: `concurrency must be a positive integer, "all" or -1 (one per CPU), got ${shown}`
        })
      }
      // A string from an untyped caller is shown quoted.
      expect(rejection(RunOptions.resolveConcurrency("many" as "all", 4))).toEqual({
        option: "concurrency",
        message: "concurrency must be a positive integer, \"all\" or -1 (one per CPU), got \"many\""
      })
    })
  })

  describe("parseIndices", () => {
    it("reads single indices and inclusive ranges, keeping negative indices", () => {
      expect(RunOptions.parseIndices("0-9,15,-1")).toEqual(Either.right([...range(0, 10), 15, -1]))
      expect(RunOptions.parseIndices(" 3 , 4-4 ,7")).toEqual(Either.right([3, 4, 7]))
      expect(RunOptions.parseIndices("12")).toEqual(Either.right([12]))
    })

    it("rejects what is neither an index nor a range, and ranges that run backwards", () => {
      expect(rejection(RunOptions.parseIndices("a"))).toEqual({
        option: "indices",
        message: "cannot read \"a\" in \"a\" as an index or a range; write indices like 0-9,15,-1"
      })
      expect(rejection(RunOptions.parseIndices("0-3,1-"))).toEqual({
        option: "indices",
        message: "cannot read \"1-\" in \"0-3,1-\" as an index or a range; write indices like 0-9,15,-1"
      })
      expect(rejection(RunOptions.parseIndices("1.5"))).toEqual({
        option: "indices",
        message: "cannot read \"1.5\" in \"1.5\" as an index or a range; write indices like 0-9,15,-1"
      })
      expect(rejection(RunOptions.parseIndices("5-2"))).toEqual({
        option: "indices",
        message: "the range \"5-2\" runs backwards; write it as 2-5"
      })
    })

    it("feeds resolveIndices: a parsed selection resolves against the source's length", () => {
      const parsed = Either.getOrThrow(RunOptions.parseIndices("0-2,-1"))
      expect(RunOptions.resolveIndices(parsed, 10)).toEqual(Either.right([0, 1, 2, 9]))
      expect(rejection(RunOptions.resolveIndices(Either.getOrThrow(RunOptions.parseIndices("8-9,-1")), 10))).toEqual({
        option: "indices",
        message: "indices repeated: 9; list each index once"
      })
    })
  })

  describe("through Pipeline.run", () => {
    const invalid: ReadonlyArray<readonly [string, RunOptions.RunOptions, string]> = [
      ["a fractional index", { indices: [0, 1.5] }, "indices must be integers, got 1.5"],
      ["NaN as an index", { indices: [Number.NaN] }, "indices must be integers, got NaN"],
      [
        "indices out of range",
        { indices: [10, -11] },
        "indices out of range for a source of length 10: 10, -11 (valid: 0..9, or -10..-1 from the end)"
      ],
      ["a repeated index", { indices: [9, -1] }, "indices repeated: 9; list each index once"],
      ["concurrency 0", { concurrency: 0 }, "concurrency must be a positive integer, \"all\" or -1 (one per CPU), got 0"],
      ["concurrency -2", { concurrency: -2 }, "concurrency must be a positive integer, \"all\" or -1 (one per CPU), got -2"],
      ["concurrency 1.5", { concurrency: 1.5 }, "concurrency must be a positive integer, \"all\" or -1 (one per CPU), got 1.5"],
      ["concurrency NaN", { concurrency: Number.NaN }, "concurrency must be a positive integer, \"all\" or -1 (one per CPU), got NaN"]
    ]
    for (const [label, options, message] of invalid) {
      it.effect(`rejects ${label} with InvalidRunOptions before anything runs`, () =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 10 })
          const error = yield* Effect.flip(Pipeline.run(probe.pipeline, options))
          expect(error).toBeInstanceOf(RunOptions.InvalidRunOptions)
          expect(error).toMatchObject({ _tag: "InvalidRunOptions", message })
          expect(probe.counts).toEqual({ source: 0, filter: 0, sink: 0 })
          const recorded = yield* readCheckpoint(probe.pipeline, (c) => Effect.all({ metrics: c.metrics, workers: c.workers }))
          expect(recorded).toEqual({ metrics: [], workers: [] })
        }).pipe(Effect.provide(Live)))
    }

    it.effect("valid options with negative indices run the resolved indices in the given order", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 10 })
        const result = yield* Pipeline.run(probe.pipeline, { indices: [-1, 0, -5], concurrency: "all" })
        expect(result.outcomes.map((o) => o.index)).toEqual([9, 0, 5])
        expect(probe.counts.sink).toBe(3)
      }).pipe(Effect.provide(Live)))
  })
})

/**
 * Sinks: they consume the items of one index — as a stream, all at once,
 * or by draining them — and return the paths they wrote, which the run
 * records in order; a sink that fails leaves its index failed.
 */
import { Filter, Pipeline, Sink, Source } from "@curator/core"
import * as Remote from "@curator/core/Remote"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { Boom, Live, outcomesOf, readCheckpoint, TestHost } from "./helpers.js"

/** Index `i` yields `0..i`; `pulled` counts the items read. */
const counting = () => {
  const state = { pulled: 0 }
  const source = Source.make({
    name: "Upto",
    length: 4,
    read: (index) => Stream.tap(Stream.range(0, index), () => Effect.sync(() => state.pulled++))
  })
  return { source, state }
}

describe("Sink", () => {
  it.effect("make consumes the stream of an index and its paths are recorded in order", () =>
    Effect.gen(function*() {
      const { source } = counting()
      const pipeline = Pipeline.from(source).pipe(
        Pipeline.write(Sink.make({
          name: "Sum",
          params: { dir: "/sums" },
          write: (items: Stream.Stream<number>, index) =>
            Effect.map(Stream.runFold(items, 0, (a, b) => a + b), (sum) => [`/sums/${index}.txt`, `/sums/${index}=${sum}`])
        }), { resume: true })
      )
      const result = yield* Pipeline.run(pipeline)
      expect(outcomesOf(result).map((o) => "paths" in o ? o.paths : o)).toEqual([
        ["/sums/0.txt", "/sums/0=0"],
        ["/sums/1.txt", "/sums/1=1"],
        ["/sums/2.txt", "/sums/2=3"],
        ["/sums/3.txt", "/sums/3=6"]
      ])
      const recorded = yield* readCheckpoint(pipeline, (c) => c.outputsOf(3))
      expect(recorded).toEqual(Option.some(["/sums/3.txt", "/sums/3=6"]))
    }).pipe(Effect.provide(Live)))

  it.effect("fromItems receives all the items of an index at once, with the index", () =>
    Effect.gen(function*() {
      const calls: Array<readonly [number, ReadonlyArray<string>]> = []
      const { source } = counting()
      const pipeline = Pipeline.from(source).pipe(
        Pipeline.filter(Filter.map({ name: "Show", f: (n: number) => `n${n}` })),
        Pipeline.write(Sink.fromItems({
          name: "Lines",
          write: (items: ReadonlyArray<string>, index) =>
            Effect.sync(() => {
              calls.push([index, items])
              return [`/lines/${index}`]
            })
        }))
      )
      yield* Pipeline.run(pipeline, { indices: [2, 0] })
      expect(calls.sort(([a], [b]) => a - b)).toEqual([[0, ["n0"]], [2, ["n0", "n1", "n2"]]])
    }).pipe(Effect.provide(Live)))

  it.effect("drain reads every item and returns the paths pathOf names", () =>
    Effect.gen(function*() {
      const { source, state } = counting()
      const result = yield* Pipeline.run(Pipeline.write(
        Pipeline.from(source),
        Sink.drain({ name: "Drop", pathOf: (index) => [`/dev/null/${index}`] })
      ))
      expect(outcomesOf(result).map((o) => "paths" in o && o.paths)).toEqual([0, 1, 2, 3].map((i) => [`/dev/null/${i}`]))
      expect(state.pulled).toBe(1 + 2 + 3 + 4)
    }).pipe(Effect.provide(Live)))

  it.effect("a failing sink fails its index, which is not recorded as completed", () =>
    Effect.gen(function*() {
      const pipeline = Pipeline.from(Source.fromArray("Items", [0, 1, 2])).pipe(
        Pipeline.write(Sink.fromItems({
          name: "Disk",
          write: (_: ReadonlyArray<number>, index) =>
            index === 1 ? Effect.fail(new Boom({ message: "disk full" })) : Effect.succeed([`/disk/${index}`])
        }), { resume: true })
      )
      const result = yield* Pipeline.run(pipeline)
      expect(outcomesOf(result)[1]).toEqual({ index: 1, failed: "Boom: disk full" })
      const recorded = yield* readCheckpoint(pipeline, (c) =>
        Effect.all({ completed: c.completedIndices, owner: c.indexOfOutput("/disk/1") }))
      expect([...recorded.completed].sort()).toEqual([0, 2])
      expect(recorded.owner).toEqual(Option.none())
    }).pipe(Effect.provide(Live)))

  it.scoped("meterOutput meters in the mode of the run an index is served for (a thread's, a runner's), not the module's", () =>
    Effect.gen(function*() {
      // The module asks for content hashes; the run may record sizes, or nothing (`curator run --verify exists`).
      const metered: Array<string> = []
      const pipeline = Pipeline.from(Source.make({ name: "One", length: 1, read: () => Stream.make("x") })).pipe(
        Pipeline.write(Sink.make({
          name: "Metered",
          write: (items: Stream.Stream<string>, index) =>
            Effect.gen(function*() {
              yield* Stream.runDrain(items)
              const meter = yield* Sink.meterOutput(`/out/${index}`)
              metered.push(Option.match(meter, { onNone: () => "none", onSome: (m) => (m.update(new Uint8Array(3)), "metered") }))
              if (Option.isSome(meter)) yield* meter.value.done
              return [`/out/${index}`]
            })
        }), { verifyOutputs: "content" })
      )
      const serve = yield* Remote.makeIndexServer(pipeline)
      const request = { index: 0, workerId: "w", logLevel: "Info", tracing: false } as const
      const checksOf = (report: Remote.IndexReport) => report._tag === "Success" ? report.outputChecks : report._tag
      expect(checksOf(yield* serve({ ...request, measureOutputs: "size" }))).toEqual([{ path: "/out/0", size: 3, hash: null }])
      expect(checksOf(yield* serve({ ...request, measureOutputs: undefined }))).toBeUndefined()
      expect(metered).toEqual(["metered", "none"])
    }).pipe(Effect.provide(TestHost)))

  it("is recognised by isSink", () => {
    expect(Sink.isSink(Sink.drain({ name: "Drop", pathOf: () => [] }))).toBe(true)
    expect(Sink.isSink(Filter.map({ name: "Id", f: (n: number) => n }))).toBe(false)
  })
})

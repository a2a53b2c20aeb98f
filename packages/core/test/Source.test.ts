/**
 * Sources: a length (possibly found out with an Effect) and the items of
 * each index, read lazily and only for the indices a run asks for; a
 * source's failure fails its index, or the run when the length is unknown.
 */
import { Filter, Pipeline, Provenance, RunResult, Sink, Source } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Stream } from "effect"
import { Boom, Live, outcomesOf, range, readCheckpoint } from "./helpers.js"

/** A sink that records the items it saw per index. */
const recording = <A>() => {
  const seen = new Map<number, ReadonlyArray<A>>()
  const sink = Sink.make({
    name: "Record",
    write: (items: Stream.Stream<A>, index) =>
      Effect.map(Stream.runCollect(items), (chunk) => {
        seen.set(index, Chunk.toReadonlyArray(chunk))
        return [`/out/${index}`]
      })
  })
  return { seen, sink }
}

describe("Source", () => {
  it.effect("fromArray yields one item per index; its identity is its content, or the params given", () =>
    Effect.gen(function*() {
      const source = Source.fromArray("Words", ["a", "b", "c"])
      expect(source.name).toBe("Words")
      expect(source.params).toEqual({ length: 3, sha256: Provenance.sha256Hex(JSON.stringify(["a", "b", "c"])) })
      expect(Source.fromArray("Words", ["a"], { list: "words.txt" }).params).toEqual({ list: "words.txt" })
      expect(yield* source.length).toBe(3)
      const { seen, sink } = recording<string>()
      yield* Pipeline.run(Pipeline.write(Pipeline.from(source), sink))
      expect([...seen].sort(([a], [b]) => a - b)).toEqual([[0, ["a"]], [1, ["b"]], [2, ["c"]]])
    }).pipe(Effect.provide(Live)))

  it.effect("two different lists of the same length never share a checkpoint: resume cannot return the other list's outputs", () =>
    Effect.gen(function*() {
      const writeNames = Sink.fromItems({
        name: "Names",
        write: (names: ReadonlyArray<string>) => Effect.succeed(names.map((name) => `/out/${name}.json`))
      })
      const run = (files: ReadonlyArray<string>) =>
        Pipeline.run(Pipeline.write(Pipeline.from(Source.fromArray("Files", files)), writeNames, { resume: true }))
      const first = yield* run(["a.txt", "b.txt"])
      const second = yield* run(["c.txt", "d.txt"])
      expect(RunResult.paths(first)).toEqual([["/out/a.txt.json"], ["/out/b.txt.json"]])
      // Computed afresh, not taken from the first list's checkpoint.
      expect(second.outcomes.map((o) => o._tag === "Completed" && o.cached)).toEqual([false, false])
      expect(RunResult.paths(second)).toEqual([["/out/c.txt.json"], ["/out/d.txt.json"]])
      expect(second.configHash).not.toBe(first.configHash)
      // The same list again is the same checkpoint.
      const again = yield* run(["a.txt", "b.txt"])
      expect(again.outcomes.map((o) => o._tag === "Completed" && o.cached)).toEqual([true, true])
    }).pipe(Effect.provide(Live)))

  it("fromArray of items that are not JSON asks for params that identify them", () => {
    expect(() => Source.fromArray("Handlers", [() => 1])).toThrow(/pass params that identify the items/)
    expect(Source.fromArray("Handlers", [() => 1], { handlers: "v1" }).params).toEqual({ handlers: "v1" })
  })

  it.effect("reads only the indices a run asks for, each once, with all of its items", () =>
    Effect.gen(function*() {
      const reads: Array<number> = []
      const source = Source.make({
        name: "Shards",
        params: { dir: "/data" },
        length: 10,
        read: (index) =>
          Stream.suspend(() => {
            reads.push(index)
            return Stream.range(index * 100, index * 100 + index)
          })
      })
      const { seen, sink } = recording<number>()
      yield* Pipeline.run(Pipeline.write(Pipeline.from(source), sink), { indices: [7, 2, 0] })
      expect([...reads].sort()).toEqual([0, 2, 7])
      expect(seen.get(7)).toEqual(range(700, 708))
      expect(seen.get(2)).toEqual([200, 201, 202])
      expect(seen.get(0)).toEqual([0])
    }).pipe(Effect.provide(Live)))

  it.effect("a length given as an Effect is found out when the run starts", () =>
    Effect.gen(function*() {
      let lookups = 0
      const source = Source.make({
        name: "Manifest",
        length: Effect.sync(() => {
          lookups++
          return 4
        }),
        items: (index) => Effect.succeed([index * 2])
      })
      const pipeline = Pipeline.write(Pipeline.from(source), Sink.drain({ name: "Drop", pathOf: (i) => [`/d/${i}`] }))
      expect(lookups).toBe(0)
      const result = yield* Pipeline.run(pipeline)
      expect(lookups).toBe(1)
      expect(result.outcomes.map((o) => o.index)).toEqual([0, 1, 2, 3])
    }).pipe(Effect.provide(Live)))

  it.effect("a length that cannot be found out fails the run with its error, before any index runs", () =>
    Effect.gen(function*() {
      let reads = 0
      const source = Source.make({
        name: "Manifest",
        length: Effect.fail(new Boom({ message: "no manifest" })),
        items: (index) =>
          Effect.sync(() => {
            reads++
            return [index]
          })
      })
      const pipeline = Pipeline.write(Pipeline.from(source), Sink.drain({ name: "Drop", pathOf: () => [] }), { resume: true })
      const error = yield* Effect.flip(Pipeline.run(pipeline))
      expect(error).toEqual(new Boom({ message: "no manifest" }))
      expect(reads).toBe(0)
    }).pipe(Effect.provide(Live)))

  it.effect("a stream that fails part-way fails its index only; the sink does not complete it", () =>
    Effect.gen(function*() {
      const source = Source.make({
        name: "Shards",
        length: 3,
        read: (index) =>
          index === 1
            ? Stream.concat(Stream.make(10, 11), Stream.fail(new Boom({ message: "truncated shard 1" })))
            : Stream.make(index)
      })
      const { seen, sink } = recording<number>()
      const pipeline = Pipeline.from(source).pipe(
        Pipeline.filter(Filter.map({ name: "Same", f: (n: number) => n })),
        Pipeline.write(sink, { resume: true })
      )
      const result = yield* Pipeline.run(pipeline)
      expect(outcomesOf(result)).toEqual([
        { index: 0, cached: false, paths: ["/out/0"] },
        { index: 1, failed: "Boom: truncated shard 1" },
        { index: 2, cached: false, paths: ["/out/2"] }
      ])
      expect(seen.has(1)).toBe(false)
      const failed = yield* readCheckpoint(pipeline, (c) => c.failedIndices)
      expect(failed).toEqual(new Map([[1, "Boom: truncated shard 1"]]))
    }).pipe(Effect.provide(Live)))

  it.effect("a typed failure in a streamed source or filter is the index's cause as it was failed with", () =>
    Effect.gen(function*() {
      const source = Source.make({
        name: "Shards",
        length: 3,
        read: (index) => index === 0 ? Stream.concat(Stream.make(1), Stream.fail(new Boom({ message: "source" }))) : Stream.make(index)
      })
      const check = Filter.make({
        name: "Check",
        apply: (items: Stream.Stream<number>) =>
          Stream.mapEffect(items, (n) => n === 2 ? Effect.fail(new Boom({ message: "filter" })) : Effect.succeed(n))
      })
      const { sink } = recording<number>()
      const result = yield* Pipeline.run(Pipeline.from(source).pipe(Pipeline.filter(check), Pipeline.write(sink)))
      const causes = result.outcomes.flatMap((outcome) => outcome._tag === "Failed" ? [[outcome.index, outcome.cause]] : [])
      expect(causes).toEqual([[0, Cause.fail(new Boom({ message: "source" }))], [2, Cause.fail(new Boom({ message: "filter" }))]])
    }).pipe(Effect.provide(Live)))

  it.effect("items that fail fail their index with the source's error", () =>
    Effect.gen(function*() {
      const source = Source.make({
        name: "Rows",
        length: 2,
        items: (index) => index === 0 ? Effect.fail(new Boom({ message: "row 0 missing" })) : Effect.succeed([index])
      })
      const result = yield* Pipeline.run(Pipeline.write(Pipeline.from(source), Sink.drain({ name: "Drop", pathOf: () => [] })))
      expect(result.outcomes.map((o) => o._tag === "Failed" ? o.message : "ok")).toEqual(["Boom: row 0 missing", "ok"])
      expect(RunResult.counts(result)).toEqual({ computed: 1, cached: 0, failed: 1 })
    }).pipe(Effect.provide(Live)))

  it("is recognised by isSource and needs a name", () => {
    expect(Source.isSource(Source.fromArray("Items", []))).toBe(true)
    expect(Source.isSource({ name: "Items" })).toBe(false)
    expect(Source.isSource(null)).toBe(false)
    expect(() => Source.fromArray("", [1])).toThrow("A pipeline component needs a non-empty name")
  })
})

/**
 * Filters: transforming, expanding and contracting the items of each index,
 * alone and composed, on both execution paths (all items at once when every
 * stage allows it, streams otherwise). The sink must see exactly the items
 * the filters make of its own index.
 */
import { Filter, Pipeline, RunResult, Sink, Source } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { Live } from "./helpers.js"

/** Index `i` of the source yields `10i, 10i + 1, 10i + 2`. */
const triplesOf = (index: number) => [index * 10, index * 10 + 1, index * 10 + 2]

/**
 * Runs three indices of triples through the filters `attach` adds, into a
 * sink that records what it sees per index. `streamed` builds the source and
 * sink from streams (the general path); otherwise from arrays (the fast path
 * when every filter works item by item).
 */
const seenThrough = <B, E>(streamed: boolean, attach: (builder: Pipeline.Builder<number>) => Pipeline.Builder<B, E>) =>
  Effect.gen(function*() {
    const seen = new Map<number, ReadonlyArray<B>>()
    const source = streamed
      ? Source.make({ name: "Triples", length: 3, read: (index) => Stream.fromIterable(triplesOf(index)) })
      : Source.make({ name: "Triples", length: 3, items: (index) => Effect.succeed(triplesOf(index)) })
    const record = (index: number, items: ReadonlyArray<B>) => {
      seen.set(index, items)
      return [`/seen/${index}`]
    }
    const sink = streamed
      ? Sink.make({
        name: "Seen",
        write: (items: Stream.Stream<B>, index) =>
          Effect.map(Stream.runCollect(items), (chunk) => record(index, Chunk.toReadonlyArray(chunk)))
      })
      : Sink.fromItems({ name: "Seen", write: (items: ReadonlyArray<B>, index) => Effect.sync(() => record(index, items)) })
    const result = yield* Pipeline.run(attach(Pipeline.from(source)).pipe(Pipeline.write(sink)), { concurrency: 2 })
    expect(result.outcomes.map((o) => [o.index, o._tag])).toEqual([[0, "Completed"], [1, "Completed"], [2, "Completed"]])
    expect(RunResult.paths(result)).toEqual([["/seen/0"], ["/seen/1"], ["/seen/2"]])
    return Object.fromEntries([...seen].sort(([a], [b]) => a - b))
  }).pipe(Effect.provide(Live))

describe("Filter", () => {
  for (const streamed of [false, true]) {
    const path = streamed ? "streams" : "arrays"

    it.effect(`map transforms each item, keeping the count and order (${path})`, () =>
      Effect.gen(function*() {
        const seen = yield* seenThrough(streamed, Pipeline.filter(Filter.map({ name: "Label", f: (n: number) => `#${n}` })))
        expect(seen).toEqual({ 0: ["#0", "#1", "#2"], 1: ["#10", "#11", "#12"], 2: ["#20", "#21", "#22"] })
      }))

    it.effect(`mapEffect transforms each item with an Effect (${path})`, () =>
      Effect.gen(function*() {
        const seen = yield* seenThrough(
          streamed,
          Pipeline.filter(Filter.mapEffect({
            name: "Half",
            f: (n: number) => Effect.zipRight(Effect.yieldNow(), Effect.succeed(n / 2))
          }))
        )
        expect(seen).toEqual({ 0: [0, 0.5, 1], 1: [5, 5.5, 6], 2: [10, 10.5, 11] })
      }))

    it.effect(`keep drops the items failing the predicate (${path})`, () =>
      Effect.gen(function*() {
        const seen = yield* seenThrough(streamed, Pipeline.filter(Filter.keep({ name: "Even", predicate: (n: number) => n % 2 === 0 })))
        expect(seen).toEqual({ 0: [0, 2], 1: [10, 12], 2: [20, 22] })
      }))

    it.effect(`keep can drop every item: the sink sees none and the index completes (${path})`, () =>
      Effect.gen(function*() {
        const seen = yield* seenThrough(streamed, Pipeline.filter(Filter.keep({ name: "None", predicate: (_: number) => false })))
        expect(seen).toEqual({ 0: [], 1: [], 2: [] })
      }))

    it.effect(`expand turns each item into zero, one or many items, in order (${path})`, () =>
      Effect.gen(function*() {
        // n % 3 copies of n: 0, 1 or 2 items.
        const seen = yield* seenThrough(
          streamed,
          Pipeline.filter(Filter.expand({ name: "Copies", f: (n: number) => Array.from({ length: n % 3 }, () => n) }))
        )
        expect(seen).toEqual({ 0: [1, 2, 2], 1: [10, 11, 11], 2: [20, 20, 22] })
      }))

    it.effect(`make applies a stream transformation to each index on its own (${path})`, () =>
      Effect.gen(function*() {
        const seen = yield* seenThrough(
          streamed,
          Pipeline.filter(Filter.make({
            name: "Pairs",
            apply: (items: Stream.Stream<number>) => Stream.map(Stream.grouped(items, 2), Chunk.toReadonlyArray)
          }))
        )
        // Groups never span two indices.
        expect(seen).toEqual({ 0: [[0, 1], [2]], 1: [[10, 11], [12]], 2: [[20, 21], [22]] })
      }))

    it.effect(`filters compose in the order they are attached (${path})`, () =>
      Effect.gen(function*() {
        const seen = yield* seenThrough(
          streamed,
          (builder) =>
            builder.pipe(
              Pipeline.filter(Filter.expand({ name: "Twice", f: (n: number) => [n, n + 100] })),
              Pipeline.filter(Filter.keep({ name: "Odd", predicate: (n: number) => n % 2 === 1 })),
              Pipeline.filter(Filter.mapEffect({ name: "Negate", f: (n: number) => Effect.succeed(-n) })),
              Pipeline.filter(Filter.map({ name: "Show", f: (n: number) => String(n) }))
            )
        )
        expect(seen).toEqual({ 0: ["-1", "-101"], 1: ["-11", "-111"], 2: ["-21", "-121"] })
      }))
  }

  it("keeps its name and params, and is recognised by isFilter", () => {
    const filter = Filter.map({ name: "Scale", params: { factor: 2 }, f: (n: number) => n * 2 })
    expect(filter.name).toBe("Scale")
    expect(filter.params).toEqual({ factor: 2 })
    expect(Filter.isFilter(filter)).toBe(true)
    expect(Filter.isFilter(Filter.map({ name: "NoParams", f: (n: number) => n }).params)).toBe(false)
    expect(Filter.map({ name: "NoParams", f: (n: number) => n }).params).toEqual({})
    expect(Filter.isFilter(Source.fromArray("Items", [1]))).toBe(false)
  })

  it("refuses an empty name", () => {
    expect(() => Filter.map({ name: "", f: (n: number) => n })).toThrow("A pipeline component needs a non-empty name")
  })
})

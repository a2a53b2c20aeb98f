/**
 * Type-level tests, checked by `tsc -p packages/core/tsconfig.json`: a
 * filter or sink whose input type does not match the items flowing so far
 * does not compile; matching stages do, and the pipeline's type carries the
 * errors and requirements of every stage.
 */
import { Backend, CheckpointStore, Filter, Pipeline, type RunOptions, type RunResult, Sink, Source } from "@curator/core"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Context, Data, Effect, Layer, Stream } from "effect"

class ParseError extends Data.TaggedError("ParseError")<{ readonly message: string }> {}
class WriteError extends Data.TaggedError("WriteError")<{ readonly message: string }> {}
class Disk extends Context.Tag("test/Disk")<Disk, { readonly write: (path: string) => Effect.Effect<void> }>() {}

const numbers: Source.Source<number> = Source.fromArray("Numbers", [1, 2, 3])
const parseText = Filter.mapEffect({
  name: "ParseText",
  f: (text: string) => Effect.try({ try: () => Number(text), catch: () => new ParseError({ message: text }) })
})
const show = Filter.map({ name: "Show", f: (n: number) => `${n}` })
const textSink = Sink.make({
  name: "Text",
  write: (items: Stream.Stream<string>, index) =>
    Effect.flatMap(Disk, (disk) =>
      Effect.zipRight(
        Stream.runDrain(items),
        Effect.as(Effect.zipRight(disk.write(`/out/${index}`), Effect.fail(new WriteError({ message: "" }))), [])
      ))
})
const numberSink = Sink.drain<number>({ name: "Numbers", pathOf: () => [] })

describe("types", () => {
  it("mismatched stages are compile errors; matching stages compile", () => {
    // A Filter<string, ...> cannot follow a Source<number>.
    // @ts-expect-error number items do not fit a filter of strings
    Pipeline.from(numbers).pipe(Pipeline.filter(parseText))
    // @ts-expect-error the same, data-first
    Pipeline.filter(Pipeline.from(numbers), parseText)

    // A sink of strings cannot end a stream of numbers, nor a sink of numbers a stream of strings.
    // @ts-expect-error number items do not fit a sink of strings
    Pipeline.from(numbers).pipe(Pipeline.write(textSink))
    // @ts-expect-error string items do not fit a sink of numbers
    Pipeline.from(numbers).pipe(Pipeline.filter(show), Pipeline.write(numberSink))

    // Matching stages compile, and the pipeline's type gathers their errors and requirements.
    const pipeline = Pipeline.from(numbers).pipe(
      Pipeline.filter(show),
      Pipeline.filter(parseText),
      Pipeline.filter(show),
      Pipeline.write(textSink)
    )
    expectTypeOf(pipeline).toEqualTypeOf<Pipeline.Pipeline<ParseError | WriteError, Disk>>()
    const run = Pipeline.run(pipeline)
    expectTypeOf<Effect.Effect.Error<typeof run>>().toEqualTypeOf<
      | ParseError
      | WriteError
      | RunOptions.InvalidRunOptions
      | Source.InvalidSource
      | CheckpointStore.CheckpointError
      | RunResult.IndexFailed
      | Backend.BackendError
    >()
    expectTypeOf<Effect.Effect.Context<typeof run>>().toEqualTypeOf<
      Disk | Backend.Backend | Backend.LocalBackend | CheckpointStore.CheckpointStore
    >()
    expect(pipeline.filters.map((f) => f.name)).toEqual(["Show", "ParseText", "Show"])
  })
})

describe("the builder's holes are closed", () => {
  it("a finished pipeline cannot be extended; a filter built in place infers its input; an open pipeline needs this process's backend", () => {
    const pipeline = Pipeline.from(numbers).pipe(Pipeline.filter(show), Pipeline.write(textSink))
    // @ts-expect-error a finished pipeline takes no more filters
    pipeline.pipe(Pipeline.filter(show))
    // @ts-expect-error nor a second sink
    pipeline.pipe(Pipeline.write(textSink))

    // Inside pipe, a filter built in place gets its input type from upstream.
    const deduped = Pipeline.from(numbers).pipe(
      Pipeline.filter(Filter.make({ name: "Dedupe", apply: (items) => Stream.changes(items) })),
      Pipeline.filter(show),
      Pipeline.write(textSink)
    )
    expectTypeOf(deduped).toEqualTypeOf<Pipeline.Pipeline<WriteError, Disk>>()
    // Built on its own with nothing to infer from, it accepts nothing: it cannot silently turn later stages into unknown.
    const loose = Filter.make({ name: "Loose", apply: (items) => Stream.changes(items) })
    // @ts-expect-error a filter of unknown input does not fit a stream of numbers
    Pipeline.from(numbers).pipe(Pipeline.filter(loose))

    // A pipeline that still needs a service runs only where the caller's context can give it:
    const run = Pipeline.run(pipeline)
    expectTypeOf<Effect.Effect.Context<typeof run>>().toEqualTypeOf<
      Disk | Backend.Backend | Backend.LocalBackend | CheckpointStore.CheckpointStore
    >()
    // ... closed with its layer, it runs on any backend.
    const closed = pipeline.pipe(Pipeline.provide(Layer.succeed(Disk, { write: () => Effect.void })))
    expectTypeOf<Effect.Effect.Context<ReturnType<typeof Pipeline.run<WriteError, never, true>>>>().toEqualTypeOf<
      Backend.Backend | CheckpointStore.CheckpointStore
    >()
    expectTypeOf(closed).toEqualTypeOf<Pipeline.Pipeline<WriteError, never>>()
    const onlyBackend = Layer.succeed(Backend.Backend, { name: "remote", execute: () => Effect.void })
    // @ts-expect-error an open pipeline on a backend that is not this process's: LocalBackend is missing
    const _open: Effect.Effect<unknown, unknown, never> = Pipeline.run(pipeline).pipe(
      Effect.provide(onlyBackend),
      Effect.provide(CheckpointStore.layerMemory),
      Effect.provide(Layer.succeed(Disk, { write: () => Effect.void }))
    )
    const _closed: Effect.Effect<unknown, unknown, never> = Pipeline.run(closed).pipe(
      Effect.provide(onlyBackend),
      Effect.provide(CheckpointStore.layerMemory)
    )

    // Metrics off: no store needed.
    const untracked = closed.pipe(Pipeline.withOptions({ trackMetrics: false }))
    expectTypeOf<Effect.Effect.Context<ReturnType<typeof Pipeline.run<WriteError, never, typeof untracked extends Pipeline.Pipeline<any, any, infer T> ? T : never>>>>()
      .toEqualTypeOf<Backend.Backend>()
    expect(untracked.options.trackMetrics).toBe(false)
  })
})

/**
 * Helpers of the core tests: the layers a run needs, a tagged stage failure,
 * a pipeline whose stages count their calls, a gauge of how many indices are
 * in flight, and reading a run's records back through the memory store.
 */
import { Backend, CheckpointStore, Filter, Host, Pipeline, Provenance, type RunResult, Sink, Source } from "@curator/core"
import { Data, Effect, Layer, Logger, Stream } from "effect"

/** The host the core tests run on: fixed facts, so that records can be checked; memory read from the heap. */
export const testHost: Host.HostInfo = {
  pid: 4242,
  hostname: "test-host",
  workingDirectory: "/work/test",
  cpus: 4,
  memory: { current: () => process.memoryUsage().heapUsed, sample: () => process.memoryUsage().heapUsed }
}

export const TestHost = Layer.succeed(Host.Host, testHost)

/** The fibers backend, a fresh memory store and the test host, without console logging. */
export const Live = Layer.mergeAll(Backend.layerFibers, CheckpointStore.layerMemory, TestHost, Logger.remove(Logger.defaultLogger))

/** The sequential backend, a fresh memory store and the test host, without console logging. */
export const Sequential = Layer.mergeAll(
  Backend.layerSequential,
  CheckpointStore.layerMemory,
  TestHost,
  Logger.remove(Logger.defaultLogger)
)

/** A stage failure with a tag and a message, as user code raises them. */
export class Boom extends Data.TaggedError("Boom")<{ readonly message: string }> {}

/** A 32-hex-digit UUID4 without dashes, as workers and invocations are named. */
export const hex32 = /^[0-9a-f]{32}$/

/** `from, from + 1, ..., to - 1`. */
export const range = (from: number, to: number): ReadonlyArray<number> => Array.from({ length: to - from }, (_, i) => from + i)

/** Sorts numbers ascending, for comparing sets of indices. */
export const sorted = (values: Iterable<number>): ReadonlyArray<number> => [...values].sort((a, b) => a - b)

/** The outcomes of a run as plain data that `toEqual` compares well. */
export const outcomesOf = <E>(result: RunResult.RunResult<E>) =>
  result.outcomes.map((outcome) =>
    outcome._tag === "Completed"
      ? { index: outcome.index, cached: outcome.cached, paths: outcome.paths }
      : outcome._tag === "Failed"
      ? { index: outcome.index, failed: outcome.message }
      : { index: outcome.index, notRun: true }
  )

/** How many times each stage ran, across every run of a probe. */
export interface Counts {
  source: number
  filter: number
  sink: number
}

/** A pipeline of `length` indices whose stages count their calls and whose filter fails on the indices in `failing`. */
export interface Probe {
  readonly pipeline: Pipeline.Pipeline<Boom>
  readonly counts: Counts
  /** Indices whose filter fails with `Boom`; change it between runs to "fix" them. */
  readonly failing: Set<number>
  /** The paths the sink returns for an index. */
  readonly pathsOf: (index: number) => ReadonlyArray<string>
}

/**
 * Builds a {@link Probe}; `resume` is its pipeline option (default true).
 * `streamed` builds it from stream stages (the general path); otherwise from
 * item-wise stages (the fast path).
 */
export const makeProbe = (options: {
  readonly length: number
  readonly failing?: Iterable<number> | undefined
  readonly resume?: boolean | undefined
  readonly streamed?: boolean | undefined
}): Probe => {
  const counts: Counts = { source: 0, filter: 0, sink: 0 }
  const failing = new Set(options.failing ?? [])
  const pathsOf = (index: number) => [`/out/${index}.json`, `/out/${index}.idx`]
  const square = (n: number) =>
    Effect.suspend(() => {
      counts.filter++
      return failing.has(n) ? Effect.fail(new Boom({ message: `index ${n} is bad` })) : Effect.succeed(n * n)
    })
  const write = (_: ReadonlyArray<number>, index: number) =>
    Effect.sync(() => {
      counts.sink++
      return pathsOf(index)
    })
  const source = { name: "Numbers", params: { length: options.length }, length: options.length }
  const sink = { name: "Collect", params: { dir: "/out" } }
  const pipeline = options.streamed === true
    ? Pipeline.from(Source.make({
      ...source,
      read: (index) =>
        Stream.suspend(() => {
          counts.source++
          return Stream.make(index)
        })
    })).pipe(
      Pipeline.filter(Filter.make({ name: "Square", apply: (items: Stream.Stream<number>) => Stream.mapEffect(items, square) })),
      Pipeline.write(Sink.make({
        ...sink,
        write: (items: Stream.Stream<number>, index) => Effect.flatMap(Stream.runCollect(items), (chunk) => write([...chunk], index))
      }))
    )
    : Pipeline.from(Source.make({
      ...source,
      items: (index) =>
        Effect.sync(() => {
          counts.source++
          return [index]
        })
    })).pipe(
      Pipeline.filter(Filter.mapEffect({ name: "Square", f: square })),
      Pipeline.write(Sink.fromItems({ ...sink, write }))
    )
  return { pipeline: Pipeline.withOptions(pipeline, { resume: options.resume ?? true }), counts, failing, pathsOf }
}

/** Counts the effects running at once, and the most ever seen. */
export interface Gauge {
  readonly max: () => number
  readonly current: () => number
  /** Runs `effect` counted as in flight. */
  readonly track: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const makeGauge = (): Gauge => {
  let current = 0
  let max = 0
  return {
    max: () => max,
    current: () => current,
    track: (effect) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          current++
          max = Math.max(max, current)
        }),
        () => effect,
        () => Effect.sync(() => current--)
      )
  }
}

/**
 * Opens the stable (resume) checkpoint of `pipeline` through the store in
 * context, as a resumed run would, and applies `f` to it in a scope of its
 * own. With the memory store, only the layer instance that ran the pipeline
 * holds its records.
 */
export const readCheckpoint = <A, E>(
  pipeline: Pipeline.Any,
  f: (checkpoint: CheckpointStore.Checkpoint) => Effect.Effect<A, E>
): Effect.Effect<A, E | CheckpointStore.CheckpointError, CheckpointStore.CheckpointStore> =>
  Effect.gen(function*() {
    const store = yield* CheckpointStore.CheckpointStore
    const totalIndices = yield* (pipeline.source.length as Effect.Effect<number>)
    const checkpoint = yield* store.open({
      configHash: pipeline.configHash,
      configJson: Provenance.canonicalJson(pipeline.config),
      totalIndices,
      resume: true,
      runDir: process.cwd()
    })
    return yield* f(checkpoint)
  }).pipe(Effect.scoped)

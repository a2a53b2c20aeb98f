/**
 * Pipelines: a source, filters in order, and a sink, with the options that
 * decide checkpointing. Built by piping; immutable; run on any backend.
 *
 * @example
 * const pipeline = Pipeline.from(shards).pipe(
 *   Pipeline.filter(parse),
 *   Pipeline.filter(dropEmpty),
 *   Pipeline.write(jsonFiles),
 *   Pipeline.withOptions({ resume: true })
 * )
 * const result = yield* Pipeline.run(pipeline, { concurrency: 4 })
 */
import { Effect, type Pipeable, type Scope } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import type { Backend, BackendError } from "./Backend.js"
import type { Checkpoint, CheckpointError, CheckpointStore } from "./CheckpointStore.js"
import type * as Filter from "./Filter.js"
import { hasTypeId } from "./internal/component.js"
import * as internalRun from "./internal/run.js"
import * as Provenance from "./Provenance.js"
import type { InvalidRunOptions, RunOptions } from "./RunOptions.js"
import type { IndexFailed, RunResult } from "./RunResult.js"
import type * as Sink from "./Sink.js"
import { isSink } from "./Sink.js"
import type * as Source from "./Source.js"

export const TypeId: unique symbol = Symbol.for("@curator/core/Pipeline")
export type TypeId = typeof TypeId

/** How a pipeline records its work (SPEC.md's options, with its defaults). */
export interface Options {
  /** Reuse the stable database `{hash16}.db` and skip completed indices. Default false: a fresh database per run. */
  readonly resume: boolean
  /** The directory of the database; wins over `PSNC_CACHE_DIR` and the XDG cache. */
  readonly dbDir: string | undefined
  /** An exact database file; wins over `dbDir`. */
  readonly dbFile: string | undefined
  /** Record checkpoints and metrics. Default true; false means no database at all. */
  readonly trackMetrics: boolean
  /** Measure each index's peak heap growth. Default true. */
  readonly trackMemory: boolean
  /**
   * On resume, check that the recorded output files of each completed index
   * still exist, and compute again the indices with a missing file. Default
   * false: the checkpoint is trusted as it is.
   */
  readonly verifyOutputs: boolean
}

/** The defaults of {@link Options}. */
export const defaultOptions: Options = {
  resume: false,
  dbDir: undefined,
  dbFile: undefined,
  trackMetrics: true,
  trackMemory: true,
  verifyOutputs: false
}

/** A source with filters and no sink yet: the stream of items `A` it would feed a sink. */
export interface Builder<out A, out E = never, out R = never> extends Pipeable.Pipeable {
  readonly source: Source.Any
  readonly filters: ReadonlyArray<Filter.Any>
  /** Phantom: the item, error and requirement types flowing out of the last stage. */
  readonly _A?: () => A
  readonly _E?: () => E
  readonly _R?: () => R
}

/** A complete pipeline: processing index `i` reads the source, applies every filter in order, and writes with the sink. */
export interface Pipeline<out E = never, out R = never> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  readonly source: Source.Any
  readonly filters: ReadonlyArray<Filter.Any>
  readonly sink: Sink.Any
  readonly options: Options
  /** The configuration document (source, filters, sink; names and params). */
  readonly config: Provenance.PipelineConfig
  /** The SHA-256 of the canonical configuration, in hex. */
  readonly configHash: string
  /** Phantom: the errors of every stage and what they need. */
  readonly _E?: () => E
  readonly _R?: () => R
}

/** Any pipeline. */
export type Any = Pipeline<any, any>

const pipeable = {
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const builder = <A, E, R>(source: Source.Any, filters: ReadonlyArray<Filter.Any>): Builder<A, E, R> => ({
  ...pipeable,
  source,
  filters
})

/** Starts a pipeline from a source. */
export const from = <A, E, R>(source: Source.Source<A, E, R>): Builder<A, E, R> => builder(source, [])

/** Appends a filter; its input type must match the items flowing so far. */
export const filter: {
  <A, B, E2, R2>(filter: Filter.Filter<A, B, E2, R2>): <E, R>(self: Builder<A, E, R>) => Builder<B, E | E2, R | R2>
  <A, E, R, B, E2, R2>(self: Builder<A, E, R>, filter: Filter.Filter<A, B, E2, R2>): Builder<B, E | E2, R | R2>
} = dual(
  2,
  <A, E, R, B, E2, R2>(self: Builder<A, E, R>, filter: Filter.Filter<A, B, E2, R2>): Builder<B, E | E2, R | R2> =>
    builder(self.source, [...self.filters, filter])
)

const configOf = (source: Source.Any, filters: ReadonlyArray<Filter.Any>, sink: Sink.Any): Provenance.PipelineConfig => ({
  source: { name: source.name, params: source.params },
  filters: filters.map((f) => ({ name: f.name, params: f.params })),
  sink: { name: sink.name, params: sink.params }
})

const make = <E, R>(
  source: Source.Any,
  filters: ReadonlyArray<Filter.Any>,
  sink: Sink.Any,
  options: Options
): Pipeline<E, R> => {
  const config = configOf(source, filters, sink)
  return { ...pipeable, [TypeId]: TypeId, source, filters, sink, options, config, configHash: Provenance.hash(config) }
}

/** Ends a pipeline with a sink; its input type must match the items flowing so far. */
export const write: {
  <A, E2, R2>(sink: Sink.Sink<A, E2, R2>, options?: Partial<Options>): <E, R>(self: Builder<A, E, R>) => Pipeline<E | E2, R | R2>
  <A, E, R, E2, R2>(self: Builder<A, E, R>, sink: Sink.Sink<A, E2, R2>, options?: Partial<Options>): Pipeline<E | E2, R | R2>
} = dual(
  (args) => !isSink(args[0]),
  <A, E, R, E2, R2>(self: Builder<A, E, R>, sink: Sink.Sink<A, E2, R2>, options?: Partial<Options>): Pipeline<E | E2, R | R2> =>
    make(self.source, self.filters, sink, { ...defaultOptions, ...options })
)

/** Returns the pipeline with some options changed; the configuration (and its hash) stays the same. */
export const withOptions: {
  (options: Partial<Options>): <E, R>(self: Pipeline<E, R>) => Pipeline<E, R>
  <E, R>(self: Pipeline<E, R>, options: Partial<Options>): Pipeline<E, R>
} = dual(
  2,
  <E, R>(self: Pipeline<E, R>, options: Partial<Options>): Pipeline<E, R> =>
    make(self.source, self.filters, self.sink, { ...self.options, ...options })
)

/** Tells whether a value is a pipeline. */
export const isPipeline = (u: unknown): u is Any => hasTypeId(TypeId, u)

/**
 * Opens the checkpoint a resumed run of this pipeline uses (its stable
 * database), to query it or reset it from a program.
 *
 * @example
 * const summary = yield* Effect.flatMap(Pipeline.checkpoint(pipeline), (c) => c.summary)
 */
export const checkpoint = <E, R>(
  self: Pipeline<E, R>
): Effect.Effect<Checkpoint, E | CheckpointError, R | CheckpointStore | Scope.Scope> =>
  Effect.flatMap(self.source.length as Effect.Effect<number, E, R>, (length) =>
    internalRun.openCheckpoint(withOptions(self, { resume: true }), length))

/**
 * Runs the pipeline over every index (or `options.indices`) on the `Backend`
 * in context, recording through the `CheckpointStore` unless `trackMetrics`
 * is off. Completed indices found in the checkpoint return their recorded
 * paths and run no stage. Failed indices are recorded and reported in the
 * result; with `failFast` the run fails with `IndexFailed` at the first one.
 */
export const run: {
  (options?: RunOptions): <E, R>(self: Pipeline<E, R>) => Effect.Effect<
    RunResult<E>,
    E | InvalidRunOptions | CheckpointError | IndexFailed | BackendError,
    R | Backend | CheckpointStore
  >
  <E, R>(self: Pipeline<E, R>, options?: RunOptions): Effect.Effect<
    RunResult<E>,
    E | InvalidRunOptions | CheckpointError | IndexFailed | BackendError,
    R | Backend | CheckpointStore
  >
} = dual((args) => isPipeline(args[0]), internalRun.run)

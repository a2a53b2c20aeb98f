/**
 * Pipelines: a source, filters in order, and a sink, with the options that
 * decide checkpointing and the services its stages need. Built by piping;
 * immutable; run on any backend.
 *
 * @example
 * const pipeline = Pipeline.from(shards).pipe(
 *   Pipeline.filter(parse),
 *   Pipeline.filter(dropEmpty),
 *   Pipeline.write(jsonFiles),
 *   Pipeline.provide(Tokenizer.layer),
 *   Pipeline.withOptions({ resume: true })
 * )
 * const result = yield* Pipeline.run(pipeline, { concurrency: 4 })
 */
import { Effect, Layer, type Pipeable, type Schema, type Scope, type Stream, type Types } from "effect"
import { dual } from "effect/Function"
import { pipeArguments } from "effect/Pipeable"
import type { Backend, BackendError, LocalBackend } from "./Backend.js"
import type { Checkpoint, CheckpointError, CheckpointStore } from "./CheckpointStore.js"
import type { FailurePolicy } from "./FailurePolicy.js"
import type * as Filter from "./Filter.js"
import * as Gather from "./Gather.js"
import { hasTypeId } from "./internal/component.js"
import { type Any, type Builder, BuilderTypeId, defaultOptions, type Options, type Pipeline, TypeId } from "./internal/pipeline.js"
import * as internalRun from "./internal/run.js"
import * as Plan from "./Plan.js"
import * as Provenance from "./Provenance.js"
import type { InvalidRunOptions, RunOptions } from "./RunOptions.js"
import type { IndexFailed, Outcome, RemoteFailure, RunResult } from "./RunResult.js"
import type * as Sink from "./Sink.js"
import { isSink } from "./Sink.js"
import type * as Source from "./Source.js"
import type { InvalidSource } from "./Source.js"
import type { NoCheckpoint, RunError } from "./internal/run.js"

export {
  /** The identifier of a pipeline under construction. */
  BuilderTypeId,
  /** The defaults of {@link Options}. */
  defaultOptions,
  /** The identifier of a pipeline value. */
  TypeId
} from "./internal/pipeline.js"
export type { Any, Builder, Options, Pipeline } from "./internal/pipeline.js"

const pipeable = {
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const variance = { _A: (_: never) => _, _E: (_: never) => _, _R: (_: never) => _, _Tracked: (_: never) => _ }

const builder = <A, E, R>(source: Source.Any, filters: ReadonlyArray<Filter.Any>): Builder<A, E, R> => ({
  ...pipeable,
  [BuilderTypeId]: variance,
  source,
  filters
})

/** Starts a pipeline from a source. */
export const from = <A, E, R>(source: Source.Source<A, E, R>): Builder<A, E, R> => builder(source, [])

/**
 * Appends a filter; its input type must match the items flowing so far
 * (inside `pipe`, a filter built in place infers its input from upstream).
 */
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

/** What a pipeline is made of; the rest (configuration and its hash) follows from it. */
type Parts = Pick<Any, "source" | "filters" | "sink" | "options" | "layer" | "errorSchemas" | "failurePolicy">

const make = <E, R, Tracked extends boolean>(parts: Parts): Pipeline<E, R, Tracked> => {
  const config = configOf(parts.source, parts.filters, parts.sink)
  return { ...pipeable, [TypeId]: variance, ...parts, config, configHash: Provenance.hash(config) }
}

const change = <E, R, Tracked extends boolean>(self: Any, parts: Partial<Parts>): Pipeline<E, R, Tracked> =>
  make({
    source: self.source,
    filters: self.filters,
    sink: self.sink,
    options: self.options,
    layer: self.layer,
    errorSchemas: self.errorSchemas,
    failurePolicy: self.failurePolicy,
    ...parts
  })

/** Whether a pipeline with these options records: not when they turn `trackMetrics` off. */
export type TrackedBy<O, Tracked extends boolean = true> = O extends { readonly trackMetrics: false } ? false
  : O extends { readonly trackMetrics: true } ? true
  : Tracked

/** The checkpoint store a run needs: none for a pipeline that does not record. */
export type StoreOf<Tracked extends boolean> = Tracked extends false ? never : CheckpointStore

/** Ends a pipeline with a sink; its input type must match the items flowing so far. */
export const write: {
  <A, E2, R2, const O extends Partial<Options> = {}>(
    sink: Sink.Sink<A, E2, R2>,
    options?: O
  ): <E, R>(self: Builder<A, E, R>) => Pipeline<E | E2, R | R2, TrackedBy<O>>
  <A, E, R, E2, R2, const O extends Partial<Options> = {}>(
    self: Builder<A, E, R>,
    sink: Sink.Sink<A, E2, R2>,
    options?: O
  ): Pipeline<E | E2, R | R2, TrackedBy<O>>
} = dual(
  (args) => !isSink(args[0]),
  <A, E, R, E2, R2>(self: Builder<A, E, R>, sink: Sink.Sink<A, E2, R2>, options?: Partial<Options>) =>
    make({
      source: self.source,
      filters: self.filters,
      sink,
      options: { ...defaultOptions, ...options },
      layer: undefined,
      errorSchemas: [],
      failurePolicy: undefined
    })
)

/** Returns the pipeline with some options changed; the configuration (and its hash) stays the same. */
export const withOptions: {
  <const O extends Partial<Options>>(options: O): <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>) => Pipeline<E, R, TrackedBy<O, Tracked>>
  <E, R, Tracked extends boolean, const O extends Partial<Options>>(self: Pipeline<E, R, Tracked>, options: O): Pipeline<E, R, TrackedBy<O, Tracked>>
} = dual(
  2,
  <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>, options: Partial<Options>) =>
    change(self, { options: { ...self.options, ...options } })
)

/**
 * Gives the pipeline the services its stages need: the layer travels with
 * the pipeline and is built where its indices are computed — once per run
 * on this process's backends, once per worker thread or cluster runner on
 * the others (its finalizers run when the pool or runner shuts down). A
 * pipeline that needs nothing more (`R = never`) runs on every backend; one
 * that still needs services runs only on this process's backends, which
 * take them from the caller.
 *
 * @example
 * const pipeline = Pipeline.from(documents).pipe(
 *   Pipeline.filter(tokenize),          // needs Tokenizer
 *   Pipeline.write(jsonFiles),
 *   Pipeline.provide(Tokenizer.layer)   // now Pipeline<E, never>
 * )
 */
export const provide: {
  <ROut, E2, RIn>(layer: Layer.Layer<ROut, E2, RIn>): <E, R, Tracked extends boolean>(
    self: Pipeline<E, R, Tracked>
  ) => Pipeline<E | E2, Exclude<R, ROut> | RIn, Tracked>
  <E, R, Tracked extends boolean, ROut, E2, RIn>(
    self: Pipeline<E, R, Tracked>,
    layer: Layer.Layer<ROut, E2, RIn>
  ): Pipeline<E | E2, Exclude<R, ROut> | RIn, Tracked>
} = dual(
  2,
  <E, R, Tracked extends boolean, ROut, E2, RIn>(self: Pipeline<E, R, Tracked>, layer: Layer.Layer<ROut, E2, RIn>) =>
    // The new layer is outermost: it may provide what the earlier one needs.
    change(self, { layer: self.layer === undefined ? layer : Layer.provideMerge(self.layer, layer) })
)

/**
 * Declares the schemas of the typed errors the pipeline's stages fail with
 * (e.g. `Schema.TaggedError` classes). A failure computed in a worker thread
 * or on a cluster runner is then decoded into the same error value as on
 * fibers; an undeclared one arrives as a {@link RemoteFailure} carrying its
 * tag, message and stack.
 */
export const withErrors: {
  (...schemas: ReadonlyArray<Schema.Schema<any, any, never>>): <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>) => Pipeline<E, R, Tracked>
} = (...schemas) => (self) => change(self, { errorSchemas: [...self.errorSchemas, ...schemas] })

/**
 * Sets what runs of the pipeline do when an index fails (see
 * `FailurePolicy`); it travels with the pipeline to worker threads and
 * cluster runners, where the retries happen. Fields given replace the
 * pipeline's; the configuration hash stays the same.
 */
export const withFailurePolicy: {
  (policy: FailurePolicy): <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>) => Pipeline<E, R, Tracked>
  <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>, policy: FailurePolicy): Pipeline<E, R, Tracked>
} = dual(
  2,
  <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>, policy: FailurePolicy): Pipeline<E, R, Tracked> =>
    change(self, { failurePolicy: { ...self.failurePolicy, ...policy } })
)

/** Tells whether a value is a pipeline. */
export const isPipeline = (u: unknown): u is Any => hasTypeId(TypeId, u)

/** Tells whether a value is a pipeline under construction (a source with filters, no sink yet). */
export const isBuilder = (u: unknown): u is Builder<unknown, unknown, unknown> => hasTypeId(BuilderTypeId, u)

export {
  /** `Pipeline.checkpoint` on a pipeline that records nothing (`trackMetrics: false`). */
  NoCheckpoint
} from "./internal/run.js"

/**
 * Opens the checkpoint a resumed run of this pipeline uses (its stable
 * database), to query it or reset it from a program. A pipeline with
 * `trackMetrics: false` has none: it fails with `NoCheckpoint` and creates
 * nothing.
 *
 * @example
 * const summary = yield* Effect.flatMap(Pipeline.checkpoint(pipeline), (c) => c.summary)
 */
export const checkpoint = <E, R>(
  self: Pipeline<E, R, boolean>
): Effect.Effect<Checkpoint, E | CheckpointError | InvalidSource | NoCheckpoint, R | CheckpointStore | Scope.Scope> =>
  internalRun.openStableCheckpoint(self)

/**
 * What running a pipeline needs from its context: its store, a backend and,
 * while the pipeline still needs services, those services and a backend of
 * this process (`LocalBackend`) — a pipeline with unprovided services on a
 * worker-thread or cluster backend is a compile error (give it its layer
 * with {@link provide}).
 */
export type RunRequirements<R, Tracked extends boolean> = [R] extends [never] ? Backend | StoreOf<Tracked>
  : R | Backend | LocalBackend | StoreOf<Tracked>

export type {
  /** What a run can fail with, besides the outcomes of its indices. */
  RunError
} from "./internal/run.js"

/**
 * Runs the pipeline over every index (or `options.indices`) on the `Backend`
 * in context, recording through the `CheckpointStore` unless `trackMetrics`
 * is off. Completed indices found in the checkpoint return their recorded
 * paths and run no stage. Failed indices are recorded and reported in the
 * result; with `failFast` the run fails with `IndexFailed` at the first one.
 * The result holds one outcome per requested index; for runs too large to
 * keep every outcome in memory, use {@link stream}.
 */
export const run: {
  (options?: RunOptions): <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>) => Effect.Effect<
    RunResult<E>,
    RunError<E>,
    RunRequirements<R, Tracked>
  >
  <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>, options?: RunOptions): Effect.Effect<
    RunResult<E>,
    RunError<E>,
    RunRequirements<R, Tracked>
  >
} = dual((args) => isPipeline(args[0]), internalRun.run)

/**
 * Runs the pipeline like {@link run}, emitting each index's outcome as it
 * is known (those taken from the checkpoint first, then in the order they
 * finish) instead of gathering them: memory stays bounded whatever the
 * number of indices.
 */
export const stream: {
  (options?: RunOptions): <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>) => Stream.Stream<
    Outcome<E>,
    RunError<E>,
    RunRequirements<R, Tracked>
  >
  <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>, options?: RunOptions): Stream.Stream<
    Outcome<E>,
    RunError<E>,
    RunRequirements<R, Tracked>
  >
} = dual((args) => isPipeline(args[0]), internalRun.stream)

/**
 * A dry run: what a resumed run would do with each index (skip, run, retry,
 * stale) and why, with counts; no stage runs. See `Plan`.
 *
 * @example
 * const plan = yield* Pipeline.plan(pipeline)
 * console.log(Plan.describeCounts(plan.counts))
 */
export const plan: {
  (options?: Plan.PlanOptions): <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>) => Effect.Effect<
    Plan.Plan,
    E | CheckpointError | InvalidSource | InvalidRunOptions,
    R | CheckpointStore
  >
  <E, R, Tracked extends boolean>(self: Pipeline<E, R, Tracked>, options?: Plan.PlanOptions): Effect.Effect<
    Plan.Plan,
    E | CheckpointError | InvalidSource | InvalidRunOptions,
    R | CheckpointStore
  >
} = dual((args) => isPipeline(args[0]), Plan.ofPipeline)

/**
 * Gathers the shards of every stateful filter (`Filter.stateful`) recorded
 * in the pipeline's stable database (the one resumed runs use) into each
 * filter's base path, replacing their `filter_artifacts` rows by one row for
 * the merged file (see `Gather`). To gather what a run recorded in its own
 * database (`resume: false`), pass `gather: true` to the run instead.
 *
 * @example
 * const [stats] = yield* Pipeline.gather(pipeline)
 */
export const gather = <E, R>(
  self: Pipeline<E, R, boolean>,
  options?: Gather.GatherOptions
): Effect.Effect<
  ReadonlyArray<Gather.Gathered>,
  E | CheckpointError | InvalidSource | NoCheckpoint | Gather.ShardError,
  R | CheckpointStore
> => Effect.scoped(Effect.flatMap(internalRun.openStableCheckpoint(self), (checkpoint) => Gather.gatherInto(self, checkpoint, options)))

/**
 * The data of a pipeline: what `Pipeline.from`, `filter`, `write` and their
 * friends build, and what the run loop, the plan, gathering and the
 * backends read. Kept apart from `Pipeline.ts` (which also runs pipelines)
 * so that what runs a pipeline can know its shape without importing what
 * runs it.
 */
import type { Layer, Pipeable, Schema, Types } from "effect"
import type { FailurePolicy } from "../FailurePolicy.js"
import type * as Filter from "../Filter.js"
import type * as Provenance from "../Provenance.js"
import type * as Sink from "../Sink.js"
import type * as Source from "../Source.js"

export const TypeId: unique symbol = Symbol.for("@curator/core/Pipeline")
export type TypeId = typeof TypeId

export const BuilderTypeId: unique symbol = Symbol.for("@curator/core/Pipeline/Builder")
export type BuilderTypeId = typeof BuilderTypeId

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
  /** Measure each index's peak memory (when metrics are recorded). Default true. */
  readonly trackMemory: boolean
  /**
   * On resume, check the recorded output files of each completed index and
   * compute again the indices whose outputs are missing (`"exists"`, or
   * `true`), of another size (`"size"`) or of other content (`"content"`,
   * an xxh64 hash). With `"size"` or `"content"`, each output's size (and
   * hash) is measured when its index is recorded. Default false: outputs are
   * trusted as recorded (input fingerprints are checked whatever this is).
   */
  readonly verifyOutputs: boolean | "exists" | "size" | "content"
}

/** The defaults of `Pipeline.Options`. */
export const defaultOptions: Options = {
  resume: false,
  dbDir: undefined,
  dbFile: undefined,
  trackMetrics: true,
  trackMemory: true,
  verifyOutputs: false
}

/**
 * A source with filters and no sink yet: the stream of items `A` it would
 * feed a sink, the errors `E` of its stages and the services `R` they need.
 */
export interface Builder<out A, out E = never, out R = never> extends Pipeable.Pipeable {
  readonly [BuilderTypeId]: {
    readonly _A: Types.Covariant<A>
    readonly _E: Types.Covariant<E>
    readonly _R: Types.Covariant<R>
  }
  readonly source: Source.Any
  readonly filters: ReadonlyArray<Filter.Any>
}

/**
 * A complete pipeline: processing index `i` reads the source, applies every
 * filter in order, and writes with the sink. `E` is what its stages may fail
 * with, `R` the services they need that the pipeline does not carry (see
 * `Pipeline.provide`), and `Tracked` whether a run of it records through a
 * checkpoint store (`false` when `trackMetrics` is off: it then needs none).
 */
export interface Pipeline<out E = never, out R = never, out Tracked extends boolean = true> extends Pipeable.Pipeable {
  readonly [TypeId]: {
    readonly _E: Types.Covariant<E>
    readonly _R: Types.Covariant<R>
    readonly _Tracked: Types.Covariant<Tracked>
  }
  readonly source: Source.Any
  readonly filters: ReadonlyArray<Filter.Any>
  readonly sink: Sink.Any
  readonly options: Options
  /**
   * The services the pipeline carries (from `Pipeline.provide`), built once
   * where its indices are computed: once per run on this process's
   * backends, once per thread or runner on the others.
   */
  readonly layer: Layer.Layer<any, any, any> | undefined
  /**
   * Schemas of the typed errors its stages fail with (from
   * `Pipeline.withErrors`), so that a failure computed in another thread or
   * process arrives as the same error value as on fibers.
   */
  readonly errorSchemas: ReadonlyArray<Schema.Schema<any, any, never>>
  /**
   * What its runs do when an index fails (from `Pipeline.withFailurePolicy`):
   * retries, classes, timeout, quarantine, error budget. Not part of the
   * configuration: changing it keeps the checkpoint.
   */
  readonly failurePolicy: FailurePolicy | undefined
  /** The configuration document (source, filters, sink; names and params). */
  readonly config: Provenance.PipelineConfig
  /** The SHA-256 of the canonical configuration, in hex. */
  readonly configHash: string
}

/** Any pipeline. */
export type Any = Pipeline<any, any, any>

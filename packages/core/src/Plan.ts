/**
 * A dry run: what a resumed run of a pipeline would do with each requested
 * index, and why — `skip` (completed at T by worker W), `run` (never
 * recorded), `retry` (recorded as failed) or `stale` (completed, but its
 * input changed or an output is missing or modified) — without running
 * any stage. Reading the checkpoint is paged (10⁶ indices in a few
 * seconds); the fingerprint and output checks, which read the inputs and
 * outputs, run concurrently afterwards and are timed apart.
 */
import { Duration, Effect, type Layer, type Scope, Stream } from "effect"
import { type Checkpoint, type CheckpointError, type CheckpointStore, type RecordedIndex, streamPages } from "./CheckpointStore.js"
import { openStableCheckpoint } from "./internal/run.js"
import { verifyModeOf } from "./internal/outputChecks.js"
import { describeStale, type FingerprintReader, makeChecker, type StaleReason } from "./internal/staleness.js"
import type { Pipeline } from "./internal/pipeline.js"
import { type InvalidRunOptions, resolveIndices } from "./RunOptions.js"
import { checkLength, type InvalidSource } from "./Source.js"

export type { StaleReason }

/** What a run would do with one index. */
export type Decision =
  | { readonly _tag: "Skip"; readonly index: number; readonly completedAt: string; readonly workerId: string | null }
  | { readonly _tag: "Run"; readonly index: number }
  | { readonly _tag: "Retry"; readonly index: number; readonly error: string; readonly failedAt: string }
  | { readonly _tag: "Stale"; readonly index: number; readonly reason: StaleReason }

/** How many indices get each decision. */
export interface Counts {
  readonly skip: number
  readonly run: number
  readonly retry: number
  readonly stale: number
}

/** The decisions for the requested indices, in the requested order, with their counts. */
export interface Plan {
  readonly configHash: string
  /** The checkpoint read, or undefined when there is none yet (every index runs). */
  readonly location: string | undefined
  readonly total: number
  readonly counts: Counts
  readonly decisions: ReadonlyArray<Decision>
  /** Reading the checkpoint and deciding, in milliseconds (checks aside). */
  readonly planMs: number
  /** The fingerprint and output checks of completed indices: how many, and their wall time in milliseconds. */
  readonly checks: { readonly count: number; readonly wallMs: number }
}

/** Options of {@link make}. */
export interface PlanOptions {
  /** The indices to plan, as `RunOptions.indices` (negative counts from the end); default every index. */
  readonly indices?: ReadonlyArray<number> | undefined
  /** How many fingerprint and output checks run at once (default 32). */
  readonly checkConcurrency?: number | undefined
}

/**
 * Plans a resumed run of `pipeline` against `checkpoint` (undefined: no
 * checkpoint yet, so every index runs). The pipeline's services must be
 * in context for its source's fingerprints.
 */
export const make = <E, R>(
  pipeline: Pipeline<E, R, boolean>,
  checkpoint: Checkpoint | undefined,
  options: PlanOptions = {}
): Effect.Effect<Plan, E | CheckpointError | InvalidSource | InvalidRunOptions, R> =>
  Effect.gen(function*() {
    const length = yield* Effect.flatMap(pipeline.source.length as Effect.Effect<number, E, R>, (n) => checkLength(pipeline.source, n))
    const indices = options.indices === undefined ? undefined : yield* resolveIndices(options.indices, length)
    const size = indices?.length ?? length
    const positionOf: (index: number) => number | undefined = indices === undefined
      ? (index) => (index < length ? index : undefined)
      : ((positions) => (index: number) => positions.get(index))(new Map(indices.map((index, position) => [index, position])))
    const decisions: Array<Decision> = new Array(size)
    const toCheck: Array<readonly [number, RecordedIndex]> = []

    // A pipeline's source is stored as `Source.Any`; its fingerprint needs what the pipeline needs (R).
    const fingerprint = pipeline.source.fingerprint as FingerprintReader<R> | undefined
    const checker = yield* makeChecker(fingerprint, verifyModeOf(pipeline.options.verifyOutputs))

    const [planTime] = yield* Effect.timed(Effect.gen(function*() {
      if (checkpoint === undefined) return
      yield* streamPages((after) => checkpoint.recordedPage({ after, limit: 5000 })).pipe(
        Stream.runForEach((recorded) =>
          Effect.sync(() => {
            const position = positionOf(recorded.index)
            if (position === undefined) return
            if (checker.reads) toCheck.push([position, recorded])
            else decisions[position] = skipOf(recorded)
          })
        )
      )
      yield* streamPages((after) => checkpoint.resultsPage({ after, status: "error", limit: 5000 })).pipe(
        Stream.runForEach((failed) =>
          Effect.sync(() => {
            const position = positionOf(failed.index)
            if (position !== undefined) {
              decisions[position] = { _tag: "Retry", index: failed.index, error: failed.error ?? "", failedAt: failed.completedAt }
            }
          })
        )
      )
    }))
    const checks = Effect.forEach(
      toCheck,
      ([position, recorded]) =>
        Effect.map(checker.check(recorded), (reason) => {
          decisions[position] = reason === undefined ? skipOf(recorded) : { _tag: "Stale", index: recorded.index, reason }
        }),
      { concurrency: options.checkConcurrency ?? 32, discard: true }
    )
    // Fingerprints are read with the services the pipeline carries (`Pipeline.provide`), built once.
    const [checkTime] = yield* Effect.timed(
      pipeline.layer === undefined || fingerprint === undefined || toCheck.length === 0
        ? checks
        : Effect.provide(checks, pipeline.layer as Layer.Layer<R, unknown>).pipe(Effect.orDie)
    )
    const counts = { skip: 0, run: 0, retry: 0, stale: 0 }
    for (let position = 0; position < size; position++) {
      const decision = decisions[position] ??= { _tag: "Run", index: indices === undefined ? position : indices[position]! }
      counts[tagKey[decision._tag]]++
    }
    return {
      configHash: pipeline.configHash,
      location: checkpoint?.location,
      total: size,
      counts,
      decisions,
      planMs: millis(planTime),
      checks: { count: toCheck.length, wallMs: millis(checkTime) }
    }
  })

const tagKey = { Skip: "skip", Run: "run", Retry: "retry", Stale: "stale" } as const

const millis = (duration: Duration.Duration) => Math.round(Duration.toMillis(duration) * 10) / 10

const skipOf = (recorded: RecordedIndex): Decision => ({
  _tag: "Skip",
  index: recorded.index,
  completedAt: recorded.completedAt,
  workerId: recorded.workerId
})

/** A decision's action word: `skip`, `run`, `retry`, `stale`. */
export const actionOf = (decision: Decision): keyof Counts => tagKey[decision._tag]

/** A decision's reason in one line. */
export const reasonOf = (decision: Decision): string => {
  switch (decision._tag) {
    case "Skip":
      return `completed at ${decision.completedAt}${decision.workerId === null ? "" : ` by worker ${decision.workerId}`}`
    case "Run":
      return "never recorded"
    case "Retry":
      return `failed at ${decision.failedAt}: ${decision.error}`
    case "Stale":
      return describeStale(decision.reason)
  }
}

/** The counts in one line: `12 to skip, 3 to run, 1 to retry, 2 stale`. */
export const describeCounts = (counts: Counts): string =>
  `${counts.skip} to skip, ${counts.run} to run, ${counts.retry} to retry, ${counts.stale} stale`

/** A decision as plain JSON (for `--json`). */
export const toJson = (decision: Decision): Record<string, unknown> => ({
  index: decision.index,
  action: actionOf(decision),
  reason: reasonOf(decision),
  ...(decision._tag === "Skip" ? { completedAt: decision.completedAt, workerId: decision.workerId } : {}),
  ...(decision._tag === "Retry" ? { error: decision.error, failedAt: decision.failedAt } : {}),
  ...(decision._tag === "Stale" ? { stale: decision.reason } : {})
})

/**
 * `Pipeline.plan`: opens the pipeline's stable checkpoint (the one a
 * resumed run uses; created empty when there is none) and plans against
 * it. A pipeline with `trackMetrics: false` records nothing: every index runs.
 */
export const ofPipeline = <E, R>(
  pipeline: Pipeline<E, R, boolean>,
  options: PlanOptions = {}
): Effect.Effect<Plan, E | CheckpointError | InvalidSource | InvalidRunOptions, R | CheckpointStore> =>
  Effect.scoped(
    pipeline.options.trackMetrics
      ? Effect.flatMap(
        openStableCheckpoint(pipeline).pipe(
          Effect.catchTag("NoCheckpoint", () => Effect.succeed(undefined))
        ) as Effect.Effect<Checkpoint | undefined, E | CheckpointError | InvalidSource, R | CheckpointStore | Scope.Scope>,
        (checkpoint) => make(pipeline, checkpoint, options)
      )
      : make(pipeline, undefined, options)
  )

/**
 * A dry run: what a resumed run of a pipeline would do with each requested
 * index, and why — `skip` (completed at T by worker W), `run` (never
 * recorded), `retry` (recorded as failed) or `stale` (completed, but its
 * input changed or an output is missing or modified) — without running
 * any stage. Reading the checkpoint is paged (10⁶ indices in a few
 * seconds); the fingerprint and output checks, which read the inputs and
 * outputs, run concurrently afterwards and are timed apart.
 */
import { Duration, Effect, type Layer, type Scope } from "effect"
import type {
  Checkpoint,
  CheckpointError,
  CheckpointStore,
  FailureDetail,
  IndexMetrics,
  Page,
  RecordedIndex
} from "./CheckpointStore.js"
import type { FailureClass } from "./FailurePolicy.js"
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
  | {
    readonly _tag: "Retry"
    readonly index: number
    readonly error: string
    readonly failedAt: string
    /** Attempts in the run that recorded the failure (FailurePolicy retries); null when the database has no such record. */
    readonly attempts: number | null
    /** The recorded failure's class; null when not recorded. */
    readonly failureClass: FailureClass | null
  }
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
      // Page by page, each row decided in a plain loop (a stream's effect per row would cost more than the row);
      // fingerprints and output checks are read only when something checks them.
      let after: number | undefined
      // A run has a few workers: one copy of each id, not one per decision kept.
      const workerIds = new Map<string, string>()
      do {
        const page: Page<RecordedIndex> = yield* checkpoint.recordedPage({ after, limit: pageSize, checks: checker.reads })
        for (const recorded of page.rows) {
          const position = positionOf(recorded.index)
          if (position === undefined) continue
          if (checker.reads) toCheck.push([position, recorded])
          else decisions[position] = skipOf(recorded, workerIds)
        }
        after = page.next
      } while (after !== undefined)
      const failed: Array<readonly [number, IndexMetrics]> = []
      do {
        const page: Page<IndexMetrics> = yield* checkpoint.resultsPage({ after, status: "error", limit: pageSize })
        for (const row of page.rows) {
          const position = positionOf(row.index)
          if (position !== undefined) failed.push([position, row])
        }
        after = page.next
      } while (after !== undefined)
      // The attempts so far, from the failure policy's records (none in a database that has no such records).
      const details = failed.length === 0 ? new Map<number, FailureDetail>() : yield* checkpoint.failureDetails(failed.map(([, row]) => row.index))
      for (const [position, row] of failed) {
        const detail = details.get(row.index)
        decisions[position] = {
          _tag: "Retry",
          index: row.index,
          error: row.error ?? "",
          failedAt: row.completedAt,
          attempts: detail?.attempts ?? null,
          failureClass: detail?.failureClass ?? null
        }
      }
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

/** Rows per page read (a page is one statement; larger pages, fewer statements). */
const pageSize = 10_000

const tagKey = { Skip: "skip", Run: "run", Retry: "retry", Stale: "stale" } as const

const millis = (duration: Duration.Duration) => Math.round(Duration.toMillis(duration) * 10) / 10

const skipOf = (recorded: RecordedIndex, workerIds?: Map<string, string>): Decision => {
  const id = recorded.workerId
  let workerId = id
  if (id !== null && workerIds !== undefined) {
    const known = workerIds.get(id)
    if (known === undefined) workerIds.set(id, id)
    else workerId = known
  }
  return { _tag: "Skip", index: recorded.index, completedAt: recorded.completedAt, workerId }
}

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
      return `failed at ${decision.failedAt}${attemptsOf(decision)}: ${decision.error}`
    case "Stale":
      return describeStale(decision.reason)
  }
}

const attemptsOf = (decision: Extract<Decision, { _tag: "Retry" }>): string =>
  decision.attempts === null
    ? ""
    : ` after ${decision.attempts} attempt${decision.attempts === 1 ? "" : "s"}${decision.failureClass === null ? "" : ` (${decision.failureClass})`}`

/** The counts in one line: `12 to skip, 3 to run, 1 to retry, 2 stale`. */
export const describeCounts = (counts: Counts): string =>
  `${counts.skip} to skip, ${counts.run} to run, ${counts.retry} to retry, ${counts.stale} stale`

/** A decision as plain JSON (for `--json`). */
export const toJson = (decision: Decision): Record<string, unknown> => ({
  index: decision.index,
  action: actionOf(decision),
  reason: reasonOf(decision),
  ...(decision._tag === "Skip" ? { completedAt: decision.completedAt, workerId: decision.workerId } : {}),
  ...(decision._tag === "Retry"
    ? { error: decision.error, failedAt: decision.failedAt, attempts: decision.attempts, failureClass: decision.failureClass }
    : {}),
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

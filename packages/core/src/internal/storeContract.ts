/**
 * The checkpoint-store contract itself: the `CheckpointStore` service, the
 * `Checkpoint` of one configuration, the records and rows it reads and
 * writes, and the helpers every store shares. Public as `CheckpointStore`
 * (which adds the in-memory store); kept here so that the memory store can
 * implement it without importing the module that exports it.
 */
import { Context, type Effect, type Option, Schema, type Scope } from "effect"
import * as Chunk from "effect/Chunk"
import * as EffectOps from "effect/Effect"
import * as OptionOps from "effect/Option"
import * as Stream from "effect/Stream"
import type { IndexSet } from "../IndexSet.js"

/** Why a checkpoint database could not be used; every message says what to do. */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  reason: Schema.Literal(
    /** The file is not a SQLite database. */
    "NotADatabase",
    /** The database belongs to something else, or its tables differ from Curator's. */
    "ForeignSchema",
    /** The database was written by a newer version of Curator. */
    "NewerSchema",
    /** The database or its directory cannot be written. */
    "ReadOnly",
    /** The database file is damaged (truncated, overwritten); it is left as it is. */
    "Damaged",
    /** The disk holding the database is full. */
    "DiskFull",
    /** No database (or no run in it) where one was expected. */
    "NotFound",
    /** Several runs match and the caller must say which. */
    "Ambiguous",
    /** Reading or writing failed for another reason (I/O, lock held too long). */
    "StorageFailure"
  ),
  location: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** What a run asks the store to open: the records of one pipeline configuration. */
export interface OpenRequest {
  readonly configHash: string
  /** The canonical configuration document, stored for provenance. */
  readonly configJson: string
  readonly totalIndices: number
  /** Reuse the stable database of this configuration (true) or start a fresh one (false). */
  readonly resume: boolean
  /** An exact database file; wins over `dbDir`. */
  readonly dbFile?: string | undefined
  /** The directory of the database; wins over the environment's cache directory. */
  readonly dbDir?: string | undefined
  /** The working directory of the run, recorded in `pipeline_runs.run_dir`. */
  readonly runDir: string
}

/** The time spent in one stage of one index. */
export interface StageTiming {
  /** 0 for the source, 1..N for the filters, N + 1 for the sink. */
  readonly order: number
  readonly name: string
  readonly wallTimeNs: number
}

/** A file that a filter reported writing. */
export interface Artifact {
  readonly path: string
  readonly index: number
  readonly filterName: string
  /** The filter's position in the pipeline (1 for the first filter). */
  readonly filterOrder: number
}

/** A worker joining a run. */
export interface WorkerRegistration {
  readonly workerId: string
  readonly pid: number
  readonly hostname: string
  readonly startedAt: string
  /** Shared by every worker of one run call. */
  readonly invocationId: string
}

/** An index whose sink finished. */
export interface SuccessRecord {
  readonly index: number
  readonly workerId: string
  readonly completedAt: string
  readonly paths: ReadonlyArray<string>
  readonly wallTimeNs: number
  readonly peakMemoryBytes: number | null
  readonly gpuMemoryBytes: number | null
  readonly stages: ReadonlyArray<StageTiming>
  readonly artifacts: ReadonlyArray<Omit<Artifact, "index">>
  /** Attempts the index took in this run (FailurePolicy retries); 1 when absent. */
  readonly attempts?: number | undefined
  /** The source's fingerprint of the index's input, taken before it was computed (`curator_index_inputs`). */
  readonly fingerprint?: string | undefined
  /** Size and content hash of each output, measured when it was recorded (`curator_output_checks`). */
  readonly outputChecks?: ReadonlyArray<OutputCheck> | undefined
}

/** An output file as it was when its index was recorded. */
export interface OutputCheck {
  readonly path: string
  readonly size: number
  /** A fast content hash (xxh64, hex); null when only the size was measured. */
  readonly hash: string | null
}

/** A completed index with what a resumed run or a plan checks it by. */
export interface RecordedIndex {
  readonly index: number
  readonly paths: ReadonlyArray<string>
  readonly completedAt: string
  readonly workerId: string | null
  /** The input fingerprint recorded with it; null when none was (no fingerprint, or an older database). */
  readonly fingerprint: string | null
  /** The measured outputs recorded with it (empty when none were measured). */
  readonly outputChecks: ReadonlyArray<OutputCheck>
}

/** An index that failed. */
export interface FailureRecord {
  readonly index: number
  readonly workerId: string
  readonly completedAt: string
  /** `"<ErrorTag or name>: <message>"`. */
  readonly error: string
  readonly wallTimeNs: number
  readonly peakMemoryBytes: number | null
  /** Attempts the index took in this run; 1 when absent. */
  readonly attempts?: number | undefined
  /** The failure's class (FailurePolicy); a permanent one counts towards quarantine. */
  readonly failureClass?: "transient" | "permanent" | undefined
  /** Quarantine the index once it has failed permanently in this many runs (0 or absent: never). */
  readonly quarantineAfter?: number | undefined
  /** The stage it failed in, named as in its stage timings (`source`, a filter's name, `sink`), when known. */
  readonly stage?: string | undefined
}

/**
 * How an index fared under the failure policy (Curator-only data, kept in
 * `curator_index_attempts` and written with the index's record).
 */
export interface FailureDetail {
  readonly index: number
  /** Attempts in the run that recorded it last. */
  readonly attempts: number
  /** The class of its last failure; null after a success. */
  readonly failureClass: "transient" | "permanent" | null
  /** Runs in which it failed permanently since it last succeeded or was lifted. */
  readonly permanentFailures: number
  /** Skipped by later runs until lifted (`resetIndex`, `liftQuarantine`). */
  readonly quarantined: boolean
  /** The stage its last failure happened in (as {@link FailureRecord.stage}); null after a success, or when unknown. */
  readonly stage: string | null
}

/** A busy worker's heartbeat: the index it computes and how far it got (Curator-only: `curator_worker_progress`). */
export interface Heartbeat {
  readonly workerId: string
  readonly index: number
  /** Items the index has produced so far (in its current attempt). */
  readonly items: number
  /** The watchdog saw nothing new from it for `stallAfter`. */
  readonly stalled: boolean
  readonly at: string
}

/** One structured log line, as stored in `logs`. */
export interface LogEntry {
  readonly timestamp: string
  /** DEBUG 10, INFO 20, WARNING 30, ERROR 40, CRITICAL 50. */
  readonly level: number
  readonly levelName: string
  readonly loggerName: string
  readonly message: string
  readonly workerId: string | null
  readonly index: number | null
}

/** A stored log line. */
export interface LogRow extends LogEntry {
  readonly id: number
}

/** Which log lines to read. */
export interface LogQuery {
  readonly minLevel?: number | undefined
  readonly index?: number | undefined
  readonly workerId?: string | undefined
  /** Only lines with an id greater than this, for following a live run. */
  readonly sinceId?: number | undefined
  readonly limit?: number | undefined
}

/** A row of `workers`. */
export interface WorkerRow extends WorkerRegistration {
  readonly lastHeartbeat: string
  readonly currentIndex: number | null
  readonly completedCount: number
}

/** The recorded metrics of one index. */
export interface IndexMetrics {
  readonly index: number
  readonly status: "completed" | "error"
  readonly completedAt: string
  readonly wallTimeNs: number | null
  readonly peakMemoryBytes: number | null
  readonly gpuMemoryBytes: number | null
  readonly workerId: string | null
  readonly error: string | null
  readonly stages: ReadonlyArray<StageTiming>
}

/** The progress of a run, with the reference's keys. */
export interface Summary {
  readonly total: number
  readonly completed: number
  readonly failed: number
  readonly remaining: number
  /** The number of failed indices, as the reference reports it. */
  readonly errors: number
  /** Mean wall time of completed indices, in milliseconds. */
  readonly avg_time_ms: number
  /** Sum of the wall times of completed indices, in seconds. */
  readonly total_elapsed_s: number
  /** Wall-clock time of the latest run call, in seconds. */
  readonly elapsed_s: number
  /** Workers registered by the latest run call. */
  readonly workers: number
  readonly config_hash: string
  readonly db_path: string
}

/** The records of one pipeline configuration: queries and, when writable, the writer. */
export interface Checkpoint {
  /** The database's path (or a memory name). */
  readonly location: string
  readonly configHash: string
  /** The configuration document recorded for provenance (`pipeline_runs.config_json`): what the pipeline is made of. */
  readonly configJson: Effect.Effect<string, CheckpointError>

  /** Completed indices with their recorded output paths: what a run skips. */
  readonly completedOutputs: Effect.Effect<ReadonlyMap<number, ReadonlyArray<string>>, CheckpointError>
  /** Indices recorded as completed. */
  readonly completedIndices: Effect.Effect<ReadonlySet<number>, CheckpointError>
  /** Failed indices with their error messages. */
  readonly failedIndices: Effect.Effect<ReadonlyMap<number, string>, CheckpointError>
  /** Indices neither completed nor failed, sorted. */
  readonly remainingIndices: Effect.Effect<ReadonlyArray<number>, CheckpointError>
  readonly summary: Effect.Effect<Summary, CheckpointError>
  /** How many indices the configuration has: the summary's `total`, read without counting any record. */
  readonly totalIndices: Effect.Effect<number, CheckpointError>
  /** How many indices are recorded as completed and as failed: the summary's counts, without its sums of wall time. */
  readonly recordedCounts: Effect.Effect<RecordedCounts, CheckpointError>
  /** Per-index and per-stage metrics, by index. */
  readonly metrics: Effect.Effect<ReadonlyArray<IndexMetrics>, CheckpointError>
  /** Workers registered for this configuration, oldest first. */
  readonly workers: Effect.Effect<ReadonlyArray<WorkerRow>, CheckpointError>
  /** The recorded outputs of a completed index. */
  readonly outputsOf: (index: number) => Effect.Effect<Option.Option<ReadonlyArray<string>>, CheckpointError>
  /** The index whose sink wrote `path`. */
  readonly indexOfOutput: (path: string) => Effect.Effect<Option.Option<number>, CheckpointError>
  /** Files reported by filters, optionally of one filter only. */
  readonly artifacts: (filterName?: string) => Effect.Effect<ReadonlyArray<Artifact>, CheckpointError>
  /** Log lines, oldest first. */
  readonly logs: (query?: LogQuery) => Effect.Effect<ReadonlyArray<LogRow>, CheckpointError>

  /** Clears every record of this configuration and starts a new run id. */
  readonly reset: Effect.Effect<void, CheckpointError>
  /** Forgets one index so that the next run computes it (and lifts its quarantine). */
  readonly resetIndex: (index: number) => Effect.Effect<void, CheckpointError>
  /** The failure-policy details of these indices (those with none recorded are absent). */
  readonly failureDetails: (indices: ReadonlyArray<number>) => Effect.Effect<ReadonlyMap<number, FailureDetail>, CheckpointError>
  /** Indices in quarantine: a run skips them. */
  readonly quarantinedIndexSet: Effect.Effect<IndexSet, CheckpointError>
  /** Lifts every quarantine (their permanent-failure counts start again); returns how many were lifted. */
  readonly liftQuarantine: Effect.Effect<number, CheckpointError>
  /**
   * Replaces every `filter_artifacts` row of the filter at `filterOrder`
   * (0-based) by `artifacts`, in one transaction: how gathering a stateful
   * filter swaps its shards' rows for the merged file's.
   */
  readonly replaceArtifacts: (filterOrder: number, artifacts: ReadonlyArray<Artifact>) => Effect.Effect<void, CheckpointError>

  readonly registerWorker: (worker: WorkerRegistration) => Effect.Effect<void, CheckpointError>
  /** A busy worker's periodic heartbeat (batched like every record); its progress row is cleared when its index is recorded. */
  readonly heartbeat: (beat: Heartbeat) => Effect.Effect<void, CheckpointError>
  /** The progress of the workers that sent heartbeats, by worker id (busy ones have an index). */
  readonly workerProgress: Effect.Effect<ReadonlyMap<string, Omit<Heartbeat, "workerId" | "index"> & { readonly index: number | null }>, CheckpointError>
  /** A worker took an index: heartbeat and `current_index`. */
  readonly indexStarted: (workerId: string, index: number, at: string) => Effect.Effect<void, CheckpointError>
  /** Records a success (replacing an earlier failure) and frees the worker. */
  readonly recordSuccess: (record: SuccessRecord) => Effect.Effect<void, CheckpointError>
  /** Records a failure and frees the worker. */
  readonly recordFailure: (record: FailureRecord) => Effect.Effect<void, CheckpointError>
  readonly appendLogs: (entries: ReadonlyArray<LogEntry>) => Effect.Effect<void, CheckpointError>
  /** Makes every record accepted so far durable. Queries flush first. */
  readonly flush: Effect.Effect<void, CheckpointError>

  // Paged queries and aggregates: what a reader of a 10⁶-index run uses
  // instead of the whole-run reads above, each computed by the store.

  /** Indices recorded as completed, as a compact set loaded in one indexed scan: what a resumed run skips. */
  readonly completedIndexSet: Effect.Effect<IndexSet, CheckpointError>
  /** Indices recorded as failed, as a compact set. */
  readonly failedIndexSet: Effect.Effect<IndexSet, CheckpointError>
  /** The recorded outputs of completed indices, in index order, a page at a time. */
  readonly outputsPage: (query?: PageQuery) => Effect.Effect<Page<IndexOutputs>, CheckpointError>
  /** Completed indices with their fingerprints and measured outputs, in index order, a page at a time. */
  readonly recordedPage: (query?: RecordedQuery) => Effect.Effect<Page<RecordedIndex>, CheckpointError>
  /** Recorded indices (with their stage timings) selected by status, range and worker, in index order, a page at a time. */
  readonly resultsPage: (query?: ResultsQuery) => Effect.Effect<Page<IndexMetrics>, CheckpointError>
  /** The record of one index, with its stage timings. */
  readonly metricsOf: (index: number) => Effect.Effect<Option.Option<IndexMetrics>, CheckpointError>
  /** Files reported by the filters of one index, in filter order. */
  readonly artifactsOf: (index: number) => Effect.Effect<ReadonlyArray<Artifact>, CheckpointError>
  /** Log lines selected like `logs`, a page at a time, oldest or newest first; `next` is an id. */
  readonly logsPage: (query?: LogPageQuery) => Effect.Effect<Page<LogRow>, CheckpointError>
  /** Worker labels recorded in `workers` or in `logs.worker_id` that start with `prefix`, sorted, at most `limit`. */
  readonly workerLabels: (prefix: string, limit: number) => Effect.Effect<ReadonlyArray<string>, CheckpointError>
  /** Every run call recorded in `workers`, oldest first, with its span and counts. */
  readonly invocations: Effect.Effect<ReadonlyArray<Invocation>, CheckpointError>
  /** The workers of one run call, oldest first. */
  readonly workersOf: (invocationId: string) => Effect.Effect<ReadonlyArray<WorkerRow>, CheckpointError>
  /** Figures over the whole run, every invocation together (see {@link RunFigures}). */
  readonly runFigures: Effect.Effect<RunFigures, CheckpointError>
  /** Count, mean and max of wall time and peak memory of the recorded indices (of one status if given). */
  readonly statistics: (status?: IndexMetrics["status"]) => Effect.Effect<ResultStatistics, CheckpointError>
  /**
   * Percentiles (0–100, nearest rank: p95 of 20 values is the 19th) of a
   * column over the recorded indices of one status; `null` when none is recorded.
   */
  readonly percentiles: (
    field: MeasuredField,
    ps: ReadonlyArray<number>,
    status?: IndexMetrics["status"]
  ) => Effect.Effect<ReadonlyArray<number | null>, CheckpointError>
  /** `bins` equal-width bins over a column's recorded range (fewer when the values are all equal). */
  readonly histogram: (field: MeasuredField, bins: number) => Effect.Effect<ReadonlyArray<HistogramBin>, CheckpointError>
  /** The `limit` slowest recorded indices, slowest first (ties by index). */
  readonly slowest: (limit: number) => Effect.Effect<ReadonlyArray<IndexMetrics>, CheckpointError>
  /** The `limit` newest records of one status, newest first (by `completedAt`, ties by index). */
  readonly latest: (status: IndexMetrics["status"], limit: number) => Effect.Effect<ReadonlyArray<IndexMetrics>, CheckpointError>
  /** Timing statistics of every stage, in pipeline order. */
  readonly stageStatistics: Effect.Effect<ReadonlyArray<StageStatistics>, CheckpointError>
  /**
   * The recorded indices downsampled into at most `buckets` runs of
   * consecutive indices, per status: what a chart over 10⁶ indices draws.
   */
  readonly timeline: (buckets: number) => Effect.Effect<ReadonlyArray<TimelineBucket>, CheckpointError>
  /** Mean stage times over the same buckets as {@link Checkpoint.timeline}, completed indices only. */
  readonly stageTimeline: (buckets: number) => Effect.Effect<ReadonlyArray<StageBucket>, CheckpointError>
  /** A cheap fingerprint of everything recorded: it differs whenever a record, worker or log line was added or changed. */
  readonly changeMark: Effect.Effect<string, CheckpointError>
}

/** How many indices are recorded, by status. */
export interface RecordedCounts {
  readonly completed: number
  readonly failed: number
}

/** Where a page starts and how long it is. */
export interface PageQuery {
  /** Only rows whose key is greater than this (the `next` of the previous page). */
  readonly after?: number | undefined
  /** At most this many rows (default 1,000). */
  readonly limit?: number | undefined
}

/** A page of completed indices: {@link PageQuery}, and whether their checks are wanted. */
export interface RecordedQuery extends PageQuery {
  /**
   * `false`: the rows come without fingerprints and output checks (null and
   * empty), which are not read — for a reader that checks neither (default true).
   */
  readonly checks?: boolean | undefined
}

/** A page of rows in key order, and where the next page starts. */
export interface Page<A> {
  readonly rows: ReadonlyArray<A>
  /** The `after` of the next page; `undefined` when this page is the last. */
  readonly next: number | undefined
}

/** The default length of a page. */
export const defaultPageSize = 1000

/** Which recorded indices a page holds. */
export interface ResultsQuery extends PageQuery {
  readonly status?: IndexMetrics["status"] | undefined
  /** The first index considered (included). */
  readonly from?: number | undefined
  /** The last index considered (included). */
  readonly to?: number | undefined
  readonly workerId?: string | undefined
}

/** The recorded outputs of a completed index. */
export interface IndexOutputs {
  readonly index: number
  readonly paths: ReadonlyArray<string>
}

/** Which log lines a page holds. `after` and `before` bound ids; `sinceId` is `after`. */
export interface LogPageQuery extends LogQuery {
  readonly after?: number | undefined
  readonly before?: number | undefined
  /** Only the lines of this logger (filters log under their own name: the stage). */
  readonly loggerName?: string | undefined
  /** Newest first (the tail of a log), else oldest first. */
  readonly newestFirst?: boolean | undefined
}

/** One run call: the workers sharing an `invocation_id`. */
export interface Invocation {
  /** Empty when the workers recorded none. */
  readonly invocationId: string
  readonly startedAt: string
  readonly lastHeartbeat: string
  /** `lastHeartbeat - startedAt`, in seconds. */
  readonly elapsedS: number
  /** Rows in `workers` (the reference registers one per index). */
  readonly workerRows: number
  /** Distinct (host, pid) pairs: the processes that worked. */
  readonly processes: number
  /** The sum of the workers' completed counts. */
  readonly completed: number
}

/** The run as a whole, every invocation together. */
export interface RunFigures {
  readonly invocations: number
  /** The first worker's start, or the configuration's creation when no worker is recorded. */
  readonly firstStartedAt: string | null
  /** The latest heartbeat or record. */
  readonly lastActivityAt: string | null
  /** From the first start to the latest activity, idle time between invocations included, in seconds. */
  readonly spanS: number
  readonly workerRows: number
  readonly processes: number
}

/** A column measured per index. */
export type MeasuredField = "wallTimeNs" | "peakMemoryBytes"

/** Aggregates over recorded indices; means and maxima are `null` where nothing was recorded. */
export interface ResultStatistics {
  readonly count: number
  readonly wallTimeNs: { readonly mean: number | null; readonly max: number | null; readonly total: number }
  readonly peakMemoryBytes: { readonly mean: number | null; readonly max: number | null; readonly min: number | null }
}

/** One histogram bin: values in [from, to) (the last bin includes `to`). */
export interface HistogramBin {
  readonly from: number
  readonly to: number
  readonly count: number
}

/** Timing statistics of one stage over the indices that recorded it, in nanoseconds. */
export interface StageStatistics {
  readonly order: number
  readonly name: string
  readonly count: number
  readonly meanNs: number
  readonly medianNs: number
  readonly p95Ns: number
  readonly maxNs: number
  readonly totalNs: number
}

/** The recorded indices of one status in a run of consecutive indices. */
export interface TimelineBucket {
  readonly fromIndex: number
  readonly toIndex: number
  readonly status: IndexMetrics["status"]
  readonly count: number
  readonly meanWallTimeNs: number | null
  readonly maxWallTimeNs: number | null
}

/** Mean stage times of the completed indices in a run of consecutive indices. */
export interface StageBucket {
  readonly fromIndex: number
  readonly toIndex: number
  /** Mean time of each stage that ran in the bucket, by stage order. */
  readonly stages: ReadonlyArray<{ readonly order: number; readonly meanNs: number }>
}

/**
 * Reads every page of a paged query as a stream, one page in memory at a
 * time: `streamPages((after) => checkpoint.resultsPage({ after }))`.
 */
export const streamPages = <A, E>(
  read: (after: number | undefined) => Effect.Effect<Page<A>, E>
): Stream.Stream<A, E> =>
  Stream.paginateChunkEffect(undefined as number | undefined, (after) =>
    EffectOps.map(read(after), (page) =>
      [
        Chunk.fromIterable(page.rows),
        page.next === undefined ? OptionOps.none() : OptionOps.some<number | undefined>(page.next)
      ] as const))

/**
 * The bucket of `index` when `total` indices are drawn in at most `buckets`
 * runs of consecutive indices (the stores compute the same in SQL).
 */
export const bucketOf = (index: number, total: number, buckets: number): number =>
  Math.floor((index * buckets) / Math.max(1, total))

/** The service a run records through. */
export class CheckpointStore extends Context.Tag("@curator/core/CheckpointStore")<CheckpointStore, {
  /** Opens the records of one configuration; pending records are flushed when the scope closes. */
  readonly open: (request: OpenRequest) => Effect.Effect<Checkpoint, CheckpointError, Scope.Scope>
}>() {}

/**
 * The database file name of a configuration, as SPEC.md has it: the first 16
 * hex digits of the hash, alone with `resume` (stable across runs), else
 * followed by the epoch time in microseconds (fresh for every run).
 */
export const databaseFileName = (configHash: string, resume: boolean, epochMicros: bigint): string =>
  resume ? `${configHash.slice(0, 16)}.db` : `${configHash.slice(0, 16)}_${epochMicros}.db`

/** The facts a summary is computed from, as any store can count them. */
export interface SummaryCounts {
  readonly total: number
  readonly completed: number
  readonly failed: number
  /** Sum of the wall times of completed indices, in nanoseconds. */
  readonly completedWallTimeNs: number
  /** The latest run call: its earliest worker start and latest heartbeat, and its worker count. */
  readonly latestInvocation: { readonly startedAt: string; readonly lastHeartbeat: string; readonly workers: number } | undefined
  readonly configHash: string
  readonly location: string
}

/** Computes a {@link Summary} from counts, so that every store reports alike. */
export const makeSummary = (counts: SummaryCounts): Summary => {
  const invocation = counts.latestInvocation
  return {
    total: counts.total,
    completed: counts.completed,
    failed: counts.failed,
    remaining: Math.max(0, counts.total - counts.completed - counts.failed),
    errors: counts.failed,
    avg_time_ms: counts.completed === 0 ? 0 : round(counts.completedWallTimeNs / counts.completed / 1e6, 3),
    total_elapsed_s: round(counts.completedWallTimeNs / 1e9, 6),
    elapsed_s: invocation === undefined
      ? 0
      : round(Math.max(0, Date.parse(invocation.lastHeartbeat) - Date.parse(invocation.startedAt)) / 1e3, 3),
    workers: invocation?.workers ?? 0,
    config_hash: counts.configHash,
    db_path: counts.location
  }
}

const round = (value: number, digits: number) => Number(value.toFixed(digits))

/**
 * The checkpoint of one pipeline configuration in a SQL database: the
 * seven-table format of SPEC.md, on any `@effect/sql` client. Records go
 * through one batching writer; queries flush it first, so they see every
 * record accepted so far.
 */
import { CheckpointStore, Timestamp } from "@curator/core"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { type Duration, Effect, Layer, Option, type Scope } from "effect"
import * as CheckpointSchema from "./CheckpointSchema.js"
import { retryBusy } from "./internal/busy.js"
import * as FailureRecords from "./internal/failureRecords.js"
import * as CheckTables from "./internal/checkTables.js"
import { wellFormed } from "./internal/text.js"
import * as PagedQueries from "./internal/pagedQueries.js"
import * as StatusTotals from "./internal/statusTotals.js"
import { defaultWriterOptions, makeWriter, type WriterOptions } from "./internal/writer.js"

type CheckpointError = CheckpointStore.CheckpointError

/** Options of the writer: how long records may wait, and how many. */
export interface Options {
  /** Records are written at least this often while a run goes on (default 250 ms): the most a crash can lose. */
  readonly flushInterval?: Duration.DurationInput | undefined
  /** A batch is written as soon as this many records wait (default 2,000). */
  readonly maxBatch?: number | undefined
}

const storageFailure = (location: string, action: string) => (cause: unknown): CheckpointError =>
  cause instanceof CheckpointStore.CheckpointError
    ? cause
    : new CheckpointStore.CheckpointError({
      reason: "StorageFailure",
      location,
      message: `${action} ${location} failed: ${describe(cause)}`,
      cause
    })

const describe = (cause: unknown): string => {
  const inner = (cause as { readonly cause?: unknown })?.cause
  if (inner instanceof Error) return inner.message
  return cause instanceof Error ? cause.message : String(cause)
}

const parsePaths = (json: string | null): ReadonlyArray<string> => (json === null ? [] : JSON.parse(json))


/**
 * Queries and writes of one configuration, given its run id. `writer` is
 * absent for a database opened read-only: writes then fail with `ReadOnly`.
 */
const makeCheckpoint = (
  sql: SqlClient.SqlClient,
  location: string,
  configHash: string,
  initialRunId: number,
  writer: Effect.Effect.Success<ReturnType<typeof makeWriter>> | undefined,
  runDir: string
): CheckpointStore.Checkpoint => {
  let runId = initialRunId
  const failures = FailureRecords.makeQueries(sql, () => runId)
  const fail = storageFailure(location, "Reading")
  const readOnly = Effect.fail(
    new CheckpointStore.CheckpointError({
      reason: "ReadOnly",
      location,
      message: `${location} was opened read-only; open it for writing to change it`
    })
  )
  const flushed = writer === undefined ? Effect.void : writer.flush
  const query = <A>(effect: Effect.Effect<A, SqlError>): Effect.Effect<A, CheckpointError> =>
    Effect.mapError(Effect.zipRight(flushed, retryBusy(effect)), fail)
  const writeFailure = storageFailure(location, "Writing to")
  // Counted for the change mark: SQLite's data_version does not see a connection's own writes.
  let writes = 0
  const writing = <A>(f: (w: NonNullable<typeof writer>) => Effect.Effect<A, SqlError>): Effect.Effect<A, CheckpointError> =>
    writer === undefined ? readOnly : Effect.suspend(() => {
      writes++
      return Effect.mapError(f(writer), writeFailure)
    })

  // Statements capture `runId` when they are built, and `reset` changes it:
  // every statement reading it is built when its query runs, not before.
  const rowsWithStatus = (status: "completed" | "error") =>
    Effect.suspend(() =>
      sql<{ idx: number; output_paths: string | null; error: string | null }>`
      SELECT idx, output_paths, error FROM index_results WHERE run_id = ${runId} AND status = ${status} ORDER BY idx`
    )

  const statusTotals = StatusTotals.makeReader(sql)

  const totalIndices = Effect.suspend(() =>
    Effect.map(
      sql<{ total_indices: number | null }>`SELECT total_indices FROM pipeline_runs WHERE run_id = ${runId}`,
      (rows) => rows[0]?.total_indices ?? 0
    )
  )

  const latestInvocation = Effect.gen(function*() {
    const [latest] = yield* sql<{ invocation_id: string | null }>`
      SELECT invocation_id FROM workers WHERE run_id = ${runId} ORDER BY started_at DESC LIMIT 1`
    if (latest === undefined) return undefined
    const [span] = yield* sql<{ started_at: string; last_heartbeat: string; workers: number }>`
      SELECT MIN(started_at) AS started_at, MAX(last_heartbeat) AS last_heartbeat, COUNT(*) AS workers
      FROM workers WHERE run_id = ${runId} AND invocation_id IS NOT DISTINCT FROM ${latest.invocation_id}`
    return span === undefined
      ? undefined
      : { startedAt: span.started_at, lastHeartbeat: span.last_heartbeat, workers: Number(span.workers) }
  })

  const reset = Effect.gen(function*() {
    const [run] = yield* sql<{ config_json: string; total_indices: number | null }>`
      SELECT config_json, total_indices FROM pipeline_runs WHERE run_id = ${runId}`
    yield* failures.forget()
    for (const table of ["index_results", "stage_metrics", "output_files", "filter_artifacts", "workers", "logs"]) {
      yield* sql`DELETE FROM ${sql(table)} WHERE run_id = ${runId}`
    }
    yield* CheckTables.deleteRecorded(sql, runId)
    yield* sql`DELETE FROM pipeline_runs WHERE run_id = ${runId}`
    const [created] = yield* sql<{ run_id: number }>`INSERT INTO pipeline_runs ${
      sql.insert({
        config_hash: configHash,
        config_json: run?.config_json ?? "{}",
        started_at: yield* Timestamp.now,
        run_dir: runDir,
        total_indices: run?.total_indices ?? null
      })
    } RETURNING run_id`
    runId = created!.run_id
  })

  return {
    location,
    configHash,
    configJson: query(Effect.suspend(() =>
      Effect.map(
        sql<{ config_json: string }>`SELECT config_json FROM pipeline_runs WHERE run_id = ${runId}`,
        (rows) => rows[0]?.config_json ?? "{}"
      )
    )),
    completedOutputs: query(
      Effect.map(rowsWithStatus("completed"), (rows) => new Map(rows.map((row) => [row.idx, parsePaths(row.output_paths)])))
    ),
    completedIndices: query(Effect.map(rowsWithStatus("completed"), (rows) => new Set(rows.map((row) => row.idx)))),
    // `status = 'error'` written out, so that SQLite reads the failures from their own index (migration 7).
    failedIndices: query(Effect.suspend(() =>
      Effect.map(
        sql<{ idx: number; error: string | null }>`
          SELECT idx, error FROM index_results WHERE run_id = ${runId} AND status = 'error' ORDER BY idx`,
        (rows) => new Map(rows.map((row) => [row.idx, row.error ?? ""]))
      )
    )),
    summary: query(Effect.gen(function*() {
      const total = yield* totalIndices
      const { completed, error } = yield* Effect.flatMap(statusTotals(runId), Option.match({
        onSome: Effect.succeed,
        onNone: () => Effect.map(
          sql<{ status: string; count: number | string; wall: number | string | null }>`
            SELECT status, COUNT(*) AS count, SUM(wall_time_ns) AS wall FROM index_results WHERE run_id = ${runId} GROUP BY status`,
          (counts) => {
            const totalsOf = (status: string) => {
              const row = counts.find((row) => row.status === status)
              return { ...StatusTotals.emptyTotals, indices: Number(row?.count ?? 0), wallTimeNsSum: Number(row?.wall ?? 0) }
            }
            return { completed: totalsOf("completed"), error: totalsOf("error") }
          }
        )
      }))
      return CheckpointStore.makeSummary({
        total,
        completed: completed.indices,
        failed: error.indices,
        completedWallTimeNs: completed.wallTimeNsSum,
        latestInvocation: yield* latestInvocation,
        configHash,
        location
      })
    })),
    totalIndices: query(totalIndices),
    workers: query(Effect.suspend(() => Effect.map(
      sql<PagedQueries.WorkerRowSql>`SELECT * FROM workers WHERE run_id = ${runId} ORDER BY started_at, worker_id`,
      (rows) => rows.map(PagedQueries.workerRowOf)
    ))),
    outputsOf: (index) =>
      query(Effect.map(
        sql<{ output_paths: string | null }>`
          SELECT output_paths FROM index_results WHERE run_id = ${runId} AND idx = ${index} AND status = 'completed'`,
        (rows) => Option.map(Option.fromNullable(rows[0]), (row) => parsePaths(row.output_paths))
      )),
    indexOfOutput: (path) =>
      query(Effect.map(
        sql<{ idx: number }>`SELECT idx FROM output_files WHERE run_id = ${runId} AND path = ${path}`,
        (rows) => Option.map(Option.fromNullable(rows[0]), (row) => row.idx)
      )),
    artifacts: (filterName) =>
      query(Effect.map(
        sql<{ path: string; idx: number; filter_name: string; filter_order: number }>`
          SELECT path, idx, filter_name, filter_order FROM filter_artifacts
          WHERE ${sql.and([sql`run_id = ${runId}`, ...(filterName === undefined ? [] : [sql`filter_name = ${filterName}`])])}
          ORDER BY idx, filter_order, path`,
        (rows) => rows.map((row) => ({ path: row.path, index: row.idx, filterName: row.filter_name, filterOrder: row.filter_order }))
      )),
    logs: (q = {}) =>
      query(Effect.map(
        sql<
          {
            id: number
            timestamp: string
            level: number
            level_name: string
            logger_name: string
            message: string
            worker_id: string | null
            idx: number | null
          }
        >`SELECT id, timestamp, level, level_name, logger_name, message, worker_id, idx FROM logs
          WHERE ${
          sql.and([
            sql`run_id = ${runId}`,
            ...(q.minLevel === undefined ? [] : [sql`level >= ${q.minLevel}`]),
            ...(q.index === undefined ? [] : [sql`idx = ${q.index}`]),
            ...(q.workerId === undefined ? [] : [sql`worker_id = ${q.workerId}`]),
            ...(q.sinceId === undefined ? [] : [sql`id > ${q.sinceId}`])
          ])
        } ORDER BY id ${q.limit === undefined ? sql`` : sql`LIMIT ${q.limit}`}`,
        (rows) =>
          rows.map((row): CheckpointStore.LogRow => ({
            id: row.id,
            timestamp: row.timestamp,
            level: row.level,
            levelName: row.level_name,
            loggerName: row.logger_name,
            message: row.message,
            workerId: row.worker_id,
            index: row.idx
          }))
      )),
    reset: writing((w) => Effect.zipRight(w.flush, retryBusy(sql.withTransaction(reset)))),
    resetIndex: (index) =>
      writing((w) =>
        Effect.zipRight(
          w.flush,
          retryBusy(sql.withTransaction(Effect.all([
            Effect.forEach(
              ["index_results", "stage_metrics", "output_files", "filter_artifacts"],
              (table) => sql`DELETE FROM ${sql(table)} WHERE run_id = ${runId} AND idx = ${index}`,
              { discard: true }
            ),
            failures.forget(index),
            CheckTables.deleteRecorded(sql, runId, index)
          ], { discard: true })))
        )
      ),
    failureDetails: (indices) => query(failures.failureDetails(indices)),
    heartbeat: (beat) => writing((w) => w.heartbeat(runId, beat)),
    workerProgress: query(failures.workerProgress),
    quarantinedIndexSet: query(failures.quarantinedIndexSet),
    liftQuarantine: writing((w) => Effect.zipRight(w.flush, retryBusy(failures.liftQuarantine))),
    replaceArtifacts: (filterOrder, artifacts) =>
      writing((w) =>
        Effect.zipRight(
          w.flush,
          retryBusy(sql.withTransaction(Effect.gen(function*() {
            yield* sql`DELETE FROM filter_artifacts WHERE run_id = ${runId} AND filter_order = ${filterOrder}`
            if (artifacts.length === 0) return
            yield* sql`INSERT INTO filter_artifacts ${
              sql.insert(artifacts.map((a) => ({
                path: wellFormed(a.path),
                idx: a.index,
                run_id: runId,
                filter_name: wellFormed(a.filterName),
                filter_order: a.filterOrder
              })))
            }`
          })))
        )
      ),
    registerWorker: (worker) => writing((w) => w.registerWorker(runId, worker)),
    indexStarted: (workerId, index, at) => writing((w) => w.indexStarted(workerId, index, at)),
    recordSuccess: (record) => writing((w) => w.recordSuccess(runId, record)),
    recordFailure: (record) => writing((w) => w.recordFailure(runId, record)),
    appendLogs: (entries) => writing((w) => w.appendLogs(runId, entries)),
    flush: writing((w) => w.flush),
    ...PagedQueries.make(sql, () => runId, query, () => writes),
    recordedPage: ((page) => (q) => query(page(q)))(CheckTables.makeRecordedPage(sql, () => runId))
  }
}

/**
 * Opens the records of one configuration for writing, in the database the
 * `SqlClient` reaches: checks that the database is Curator's (or empty),
 * migrates it, and finds or creates the configuration's `pipeline_runs` row.
 * Pending records are written when the scope closes.
 */
export const make = (
  location: string,
  request: CheckpointStore.OpenRequest,
  options: Options = {}
): Effect.Effect<CheckpointStore.Checkpoint, CheckpointError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* CheckpointSchema.migrate(location)
    const startedAt = yield* Timestamp.now
    const runId = yield* retryBusy(sql.withTransaction(Effect.gen(function*() {
      yield* sql`INSERT INTO pipeline_runs ${
        sql.insert({
          config_hash: request.configHash,
          // Every text stored is valid UTF-8 (see internal/text.ts).
          config_json: wellFormed(request.configJson),
          started_at: startedAt,
          run_dir: wellFormed(request.runDir),
          total_indices: request.totalIndices
        })
      } ON CONFLICT (config_hash) DO UPDATE SET total_indices = excluded.total_indices, run_dir = excluded.run_dir`
      const [row] = yield* sql<{ run_id: number }>`SELECT run_id FROM pipeline_runs WHERE config_hash = ${request.configHash}`
      return row!.run_id
    })))
    const [recorded] = yield* sql<{ found: number }>`
      SELECT EXISTS (SELECT 1 FROM index_results WHERE run_id = ${runId}) AS found`
    const writer = yield* makeWriter(sql, {
      flushInterval: options.flushInterval ?? defaultWriterOptions.flushInterval,
      maxBatch: options.maxBatch ?? defaultWriterOptions.maxBatch,
      mayReplace: Boolean(recorded?.found)
    })
    return makeCheckpoint(sql, location, request.configHash, runId, writer, request.runDir)
  }).pipe(Effect.mapError(storageFailure(location, "Opening")))

/**
 * Opens the records of a configuration already in the database, to query
 * them (and, unless `readonly`, to reset them). Nothing is written on open.
 * With no `configHash` (or a prefix of one), the database must hold exactly
 * one configuration.
 */
export const openExisting = (
  location: string,
  options: { readonly configHash?: string | undefined; readonly readonly?: boolean | undefined } & Options = {}
): Effect.Effect<CheckpointStore.Checkpoint, CheckpointError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const inspection = yield* CheckpointSchema.inspect(location)
    if (inspection._tag === "Empty" || inspection.missingTables.includes("pipeline_runs")) {
      return yield* new CheckpointStore.CheckpointError({
        reason: "NotFound",
        location,
        message: `${location} holds no Curator records yet; run a pipeline into it first`
      })
    }
    const runs = yield* retryBusy(
      sql<{ run_id: number; config_hash: string; run_dir: string | null }>`
        SELECT run_id, config_hash, run_dir FROM pipeline_runs ORDER BY run_id`
    )
    const prefix = options.configHash ?? ""
    const matching = runs.filter((run) => run.config_hash.startsWith(prefix))
    if (matching.length !== 1) {
      return yield* new CheckpointStore.CheckpointError({
        reason: matching.length === 0 ? "NotFound" : "Ambiguous",
        location,
        message: matching.length === 0
          ? `${location} has no configuration ${prefix === "" ? "" : `whose hash starts with ${prefix}`}`
          : `${location} holds ${matching.length} configurations; say which by its hash: ${
            matching.map((run) => `${location}#${run.config_hash.slice(0, 16)}`).join(" or ")
          }`
      })
    }
    const run = matching[0]!
    const writer = options.readonly === true
      ? undefined
      : yield* makeWriter(sql, {
        flushInterval: options.flushInterval ?? defaultWriterOptions.flushInterval,
        maxBatch: options.maxBatch ?? defaultWriterOptions.maxBatch,
        mayReplace: true
      })
    return makeCheckpoint(sql, location, run.config_hash, run.run_id, writer, run.run_dir ?? "")
  }).pipe(Effect.mapError(storageFailure(location, "Opening")))

/**
 * A `CheckpointStore` keeping every configuration in the one database the
 * `SqlClient` in context reaches (one `pipeline_runs` row each), e.g. a
 * shared PostgreSQL server. `location` names it in summaries and errors.
 */
export const layer = (
  location: string,
  options: Options = {}
): Layer.Layer<CheckpointStore.CheckpointStore, never, SqlClient.SqlClient> =>
  Layer.effect(
    CheckpointStore.CheckpointStore,
    Effect.map(SqlClient.SqlClient, (sql) => ({
      open: (request) => Effect.provideService(make(location, request, options), SqlClient.SqlClient, sql)
    }))
  )


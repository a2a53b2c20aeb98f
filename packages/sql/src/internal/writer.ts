import type { CheckpointStore } from "@curator/core"
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { Duration, Effect, Option } from "effect"
import { retryBusy } from "./busy.js"
import * as FailureRecords from "./failureRecords.js"
import * as CheckTables from "./checkTables.js"
import * as RecordRows from "./recordRows.js"
import type { Row } from "./recordRows.js"
import { isRefusal, messageOf } from "./refusal.js"
import { wellFormed } from "./text.js"

/** Records accepted but not yet written, keyed so that a later record of the same thing replaces an earlier one. */
interface Pending {
  readonly workers: Array<Row>
  readonly results: Map<string, RecordRows.ResultRows>
  readonly workerState: Map<string, { lastHeartbeat: string; currentIndex: number | null; completed: number }>
  readonly logs: Array<Row>
  /** Busy workers' progress rows (heartbeats), by worker. */
  readonly progress: Map<string, Row>
  count: number
}

const emptyPending = (): Pending => ({ workers: [], results: new Map(), workerState: new Map(), logs: [], progress: new Map(), count: 0 })

/** The indices of some records, grouped by run id (in linear time: a batch may hold thousands). */
const indicesByRun = (results: ReadonlyArray<RecordRows.ResultRows>): Map<number, Array<number>> => {
  const byRun = new Map<number, Array<number>>()
  for (const { row } of results) {
    const runId = row.run_id as number
    const indices = byRun.get(runId)
    if (indices === undefined) byRun.set(runId, [row.idx as number])
    else indices.push(row.idx as number)
  }
  return byRun
}

/** A batch holding only the given records (for writing a batch in parts). */
const partOf = (
  parts: { readonly results?: ReadonlyArray<[string, RecordRows.ResultRows]>; readonly logs?: ReadonlyArray<Row> }
): Pending => ({
  workers: [],
  results: new Map(parts.results ?? []),
  workerState: new Map(),
  logs: [...(parts.logs ?? [])],
  progress: new Map(),
  count: 0
})

const halves = <A>(items: ReadonlyArray<A>): [ReadonlyArray<A>, ReadonlyArray<A>] => {
  const middle = Math.ceil(items.length / 2)
  return [items.slice(0, middle), items.slice(middle)]
}

/**
 * Rows per INSERT statement. A fixed size keeps the statement text the same
 * from batch to batch, so prepared statements are reused; 256 rows of the
 * widest table stay far below SQLite's 32,766 bound parameters.
 */
const rowsPerStatement = 256

const chunksOf = <A>(rows: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const chunks: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size))
  return chunks
}

/**
 * Runs `effect` in a transaction whose failure to COMMIT is a failure like
 * any other. @effect/sql turns a failed COMMIT (or ROLLBACK) into a defect,
 * but in WAL mode a full disk, and a lock held by another writer, surface
 * precisely there; SQLite may leave the transaction open then, so it is
 * rolled back before the failure is returned (and the batch kept).
 */
const committed = <A, E, R>(sql: SqlClient.SqlClient, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
  sql.withTransaction(effect).pipe(
    Effect.catchSomeDefect((defect) =>
      defect instanceof SqlError
        ? Option.some(Effect.zipRight(
          sql.onDialectOrElse({ sqlite: () => Effect.ignore(sql.unsafe("ROLLBACK")), orElse: () => Effect.void }),
          Effect.fail(defect)
        ))
        : Option.none()
    )
  )

export interface WriterOptions {
  /** Records are written at least this often while a run goes on. */
  readonly flushInterval: Duration.DurationInput
  /** A recording fiber writes the batch itself once this many records wait (backpressure). */
  readonly maxBatch: number
}

/**
 * The single writer of a checkpoint: records are buffered in memory and
 * written in one transaction per batch with multi-row inserts (group
 * commit). A batch is written when it is full, every `flushInterval`, on
 * `flush`, and when the scope closes (normal end, failure or interruption).
 * A crash loses at most the records not yet written; their indices simply
 * run again, and none is ever recorded as completed before its sink ended.
 *
 * One record's bad value never costs the others their record: values that
 * do not fit their column are caught when a record is accepted (see
 * `recordRows.ts`), and when the database still refuses a batch, the batch
 * is written again in parts, halving down to the one record it refuses,
 * which is stored as that index's failure instead (or, for a log line,
 * left out).
 */
export const makeWriter = (sql: SqlClient.SqlClient, options: WriterOptions & {
  /**
   * Whether the run's tables may already hold stage, output or artifact rows
   * of indices recorded again now; when not (a fresh database), replacing
   * them needs no deletes.
   */
  readonly mayReplace: boolean
}) =>
  Effect.gen(function*() {
    const mayReplace = options.mayReplace
    let pending = emptyPending()
    const lock = yield* Effect.makeSemaphore(1)
    /** Whether curator_index_attempts may hold rows (undefined: not looked yet). */
    let attemptsPossible: boolean | undefined

    const insert = (table: string, rows: ReadonlyArray<Row>, onConflict: string) =>
      Effect.forEach(
        chunksOf(rows, rowsPerStatement),
        (chunk) => sql`INSERT INTO ${sql(table)} ${sql.insert(chunk as Array<Row>)} ${sql.literal(onConflict)}`,
        { discard: true }
      )

    const deleteChildren = (runId: number, indices: ReadonlyArray<number>) =>
      Effect.forEach(chunksOf(indices, 900), (chunk) =>
        Effect.all([
          sql`DELETE FROM stage_metrics WHERE run_id = ${runId} AND idx IN ${sql.in(chunk)}`,
          sql`DELETE FROM output_files WHERE run_id = ${runId} AND idx IN ${sql.in(chunk)}`,
          sql`DELETE FROM filter_artifacts WHERE run_id = ${runId} AND idx IN ${sql.in(chunk)}`,
          ...CheckTables.deleteChildren(sql, runId, chunk)
        ]), { discard: true })

    const write = (batch: Pending) =>
      Effect.gen(function*() {
        if (batch.workers.length > 0) yield* insert("workers", batch.workers, "ON CONFLICT (worker_id) DO NOTHING")
        const results = [...batch.results.values()]
        if (results.length > 0) {
          yield* insert(
            "index_results",
            results.map((r) => r.row),
            `ON CONFLICT (idx, run_id) DO UPDATE SET status = excluded.status, output_paths = excluded.output_paths,
             completed_at = excluded.completed_at, wall_time_ns = excluded.wall_time_ns,
             peak_memory_bytes = excluded.peak_memory_bytes, gpu_memory_bytes = excluded.gpu_memory_bytes,
             error = excluded.error, worker_id = excluded.worker_id`
          )
          const attempts: Array<Row> = []
          for (const r of results) if (r.attempts !== undefined) attempts.push(r.attempts)
          if (attempts.length > 0) {
            yield* insert(FailureRecords.table, attempts, FailureRecords.upsertClause)
            attemptsPossible = true
          }
          if (mayReplace) {
            for (const [runId, indices] of indicesByRun(results)) yield* deleteChildren(runId, indices)
            // A success at the first attempt drops an earlier attempts row of its index, if the database may hold any.
            if (attemptsPossible === undefined) {
              attemptsPossible = (yield* sql<{ one: number }>`SELECT 1 AS one FROM curator_index_attempts LIMIT 1`).length > 0
            }
            if (attemptsPossible) {
              for (const [runId, indices] of indicesByRun(results.filter((result) => result.attempts === undefined))) {
                for (const chunk of chunksOf(indices, 900)) {
                  yield* sql`DELETE FROM curator_index_attempts WHERE run_id = ${runId} AND idx IN ${sql.in(chunk)}`
                }
              }
            }
          }
          const stages = results.flatMap((r) => r.children.stages)
          // One row per path even when two indices of the batch list the same
          // file (the later wins, as it would statement by statement):
          // PostgreSQL refuses an upsert that touches a row twice.
          const outputsByPath = new Map<string, Row>()
          for (const r of results) for (const row of r.children.outputs) outputsByPath.set(`${row.run_id}:${row.path}`, row)
          const outputs = [...outputsByPath.values()]
          const artifacts = results.flatMap((r) => r.children.artifacts)
          if (stages.length > 0) {
            yield* insert(
              "stage_metrics",
              stages,
              "ON CONFLICT (idx, run_id, stage_order) DO UPDATE SET stage_name = excluded.stage_name, wall_time_ns = excluded.wall_time_ns"
            )
          }
          if (outputs.length > 0) {
            yield* insert("output_files", outputs, "ON CONFLICT (path, run_id) DO UPDATE SET idx = excluded.idx, seq = excluded.seq")
          }
          if (artifacts.length > 0) yield* insert("filter_artifacts", artifacts, "ON CONFLICT (path, idx, run_id) DO NOTHING")
          yield* CheckTables.insertChildren(results.map((r) => r.children), insert)
        }
        if (batch.logs.length > 0) yield* insert("logs", batch.logs, "")
        if (batch.progress.size > 0) yield* insert(FailureRecords.progressTable, [...batch.progress.values()], FailureRecords.progressUpsert)
        for (const [workerId, state] of batch.workerState) {
          yield* sql`UPDATE workers SET last_heartbeat = ${state.lastHeartbeat}, current_index = ${state.currentIndex},
            completed_count = completed_count + ${state.completed} WHERE worker_id = ${workerId}`
        }
      })

    const transaction = (batch: Pending) => retryBusy(committed(sql, write(batch)))

    /**
     * Writes index records in transactions of their own, halving on a
     * refusal: every record the database accepts is written, and a success
     * it refuses is written as that index's failure. A failure it refuses is
     * left out: its index has no record and runs again anyway.
     */
    const writeResults = (
      results: ReadonlyArray<[string, RecordRows.ResultRows]>
    ): Effect.Effect<void, SqlError> =>
      Effect.catchIf(transaction(partOf({ results })), isRefusal, (error) => {
        if (results.length > 1) {
          const [first, second] = halves(results)
          return Effect.zipRight(writeResults(first), writeResults(second))
        }
        const [key, rows] = results[0]!
        if (rows.row.status !== "completed") return Effect.void
        const instead = RecordRows.refusedInstead(rows, RecordRows.describeRefusal(rows, messageOf(error)))
        return writeResults([[key, instead]])
      })

    /** Writes log lines as `writeResults` does; a line the database refuses is left out. */
    const writeLogs = (logs: ReadonlyArray<Row>): Effect.Effect<void, SqlError> =>
      Effect.catchIf(transaction(partOf({ logs })), isRefusal, () => {
        if (logs.length <= 1) return Effect.void
        const [first, second] = halves(logs)
        return Effect.zipRight(writeLogs(first), writeLogs(second))
      })

    /**
     * Writes a batch in one transaction; if the database refuses a value of
     * it, writes the workers first, then the records and log lines in parts
     * (see `writeResults`). Other errors (locks held too long, a full disk)
     * fail the whole batch, which is kept for the next flush.
     */
    const writeBatch = (batch: Pending): Effect.Effect<void, SqlError> =>
      Effect.catchIf(transaction(batch), isRefusal, () =>
        Effect.gen(function*() {
          yield* transaction({ ...emptyPending(), workers: batch.workers })
          yield* writeResults([...batch.results])
          yield* writeLogs(batch.logs)
          yield* transaction({ ...emptyPending(), workerState: batch.workerState, progress: batch.progress })
        }))

    /** Puts a batch that could not be written back in front of what came since. */
    const restore = (batch: Pending) => {
      const since = pending
      pending = batch
      pending.workers.push(...since.workers)
      for (const [key, value] of since.results) pending.results.set(key, value)
      for (const [workerId, state] of since.workerState) {
        const before = pending.workerState.get(workerId)
        pending.workerState.set(workerId, { ...state, completed: state.completed + (before?.completed ?? 0) })
      }
      pending.logs.push(...since.logs)
      for (const [workerId, row] of since.progress) pending.progress.set(workerId, row)
      pending.count += since.count
    }

    const flush: Effect.Effect<void, SqlError> = lock.withPermits(1)(
      Effect.suspend(() => {
        if (pending.count === 0 && pending.workerState.size === 0 && pending.progress.size === 0) return Effect.void
        const batch = pending
        pending = emptyPending()
        return writeBatch(batch).pipe(
          Effect.tapError(() => Effect.sync(() => restore(batch)))
        )
      })
    )

    const added = (count: number) =>
      Effect.suspend(() => {
        pending.count += count
        return pending.count >= options.maxBatch ? flush : Effect.void
      })

    /** Workers with a progress row (they sent a heartbeat): it is cleared when their index is recorded. */
    const beating = new Set<string>()
    const runOf = new Map<string, number>()
    const touchWorker = (id: string, at: string, currentIndex: number | null, completed: number) => {
      const workerId = wellFormed(id)
      if (currentIndex === null && beating.delete(workerId)) {
        pending.progress.set(workerId, FailureRecords.progressRow(runOf.get(workerId) ?? 0, workerId, null, 0, false, wellFormed(at)))
      }
      // The batch's own state of the worker, updated in place (twice per index: it starts, it is recorded).
      const state = pending.workerState.get(workerId)
      if (state === undefined) pending.workerState.set(workerId, { lastHeartbeat: wellFormed(at), currentIndex, completed })
      else {
        state.lastHeartbeat = wellFormed(at)
        state.currentIndex = currentIndex
        state.completed += completed
      }
    }

    yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(Effect.sleep(options.flushInterval), Effect.ignoreLogged(flush)))
    )
    yield* Effect.addFinalizer(() => Effect.ignoreLogged(flush))

    return {
      flush,

      registerWorker: (runId: number, worker: CheckpointStore.WorkerRegistration) =>
        Effect.suspend(() => {
          pending.workers.push(RecordRows.worker(runId, worker))
          return added(1)
        }),
      indexStarted: (workerId: string, index: number, at: string) =>
        Effect.sync(() => touchWorker(workerId, at, index, 0)),
      heartbeat: (runId: number, beat: CheckpointStore.Heartbeat) =>
        Effect.sync(() => {
          const workerId = wellFormed(beat.workerId)
          touchWorker(workerId, beat.at, beat.index, 0)
          beating.add(workerId)
          runOf.set(workerId, runId)
          pending.progress.set(workerId, FailureRecords.progressRow(runId, workerId, beat.index, beat.items, beat.stalled, wellFormed(beat.at)))
        }),
      recordSuccess: (runId: number, record: CheckpointStore.SuccessRecord) =>
        Effect.suspend(() => {
          const recorded = RecordRows.success(runId, record)
          // A success at the first attempt needs no attempts row (none means one attempt, no failure):
          // on a fresh database nothing is written for it; else an earlier row of the index is deleted.
          const rows = (record.attempts ?? 1) > 1 || recorded.row.status !== "completed"
            ? { ...recorded, attempts: FailureRecords.ofSuccess(runId, record) }
            : recorded
          pending.results.set(`${runId}:${record.index}`, rows)
          touchWorker(record.workerId, record.completedAt, null, rows.row.status === "completed" ? 1 : 0)
          return added(1)
        }),
      recordFailure: (runId: number, record: CheckpointStore.FailureRecord) =>
        Effect.suspend(() => {
          pending.results.set(`${runId}:${record.index}`, {
            ...RecordRows.failure(runId, record),
            attempts: FailureRecords.ofFailure(runId, record)
          })
          touchWorker(record.workerId, record.completedAt, null, 0)
          return added(1)
        }),
      appendLogs: (runId: number, entries: ReadonlyArray<CheckpointStore.LogEntry>) =>
        Effect.suspend(() => {
          for (const entry of entries) pending.logs.push(RecordRows.log(runId, entry))
          return added(entries.length)
        })
    }
  })

export type Writer = Effect.Effect.Success<ReturnType<typeof makeWriter>>

export const defaultWriterOptions: WriterOptions = { flushInterval: Duration.millis(250), maxBatch: 2000 }

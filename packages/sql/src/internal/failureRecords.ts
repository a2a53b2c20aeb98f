/**
 * The failure policy's records (Curator-only data beside the seven tables):
 * per index, the attempts of its last run, the class of its last failure,
 * and how many runs in a row it failed permanently, from which quarantine
 * follows. A row is written in the same transaction as the index's
 * `index_results` row (see writer.ts).
 */
import { type CheckpointStore, IndexSet } from "@curator/core"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { makeAllPresent } from "./presentTables.js"
import type { Row } from "./recordRows.js"

export const table = "curator_index_attempts"

/** Migration 4: the tables (idempotent); also the busy workers' progress, written with their heartbeats. */
export const createTable = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.zipRight(
    sql`CREATE TABLE IF NOT EXISTS curator_index_attempts (
      idx INTEGER NOT NULL,
      run_id INTEGER NOT NULL,
      attempts INTEGER NOT NULL,
      failure_class TEXT,
      permanent_failures INTEGER NOT NULL DEFAULT 0,
      quarantine_after INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (idx, run_id)
    )`,
    sql`CREATE TABLE IF NOT EXISTS curator_worker_progress (
      worker_id TEXT PRIMARY KEY,
      run_id INTEGER NOT NULL,
      idx INTEGER,
      items INTEGER NOT NULL,
      stalled INTEGER NOT NULL,
      updated_at TEXT NOT NULL
    )`
  ))

/**
 * Migration 5: the stage each failure happened in. Idempotent (the column
 * is added only where missing); a database opened read-only without it
 * reads every stage as unknown.
 */
export const addFailedStage = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.onDialectOrElse({
    pg: () => Effect.asVoid(sql`ALTER TABLE curator_index_attempts ADD COLUMN IF NOT EXISTS failed_stage TEXT`),
    orElse: () =>
      Effect.flatMap(
        sql<{ name: string }>`SELECT name FROM pragma_table_info('curator_index_attempts') WHERE name = 'failed_stage'`,
        (found) => found.length > 0 ? Effect.void : Effect.asVoid(sql`ALTER TABLE curator_index_attempts ADD COLUMN failed_stage TEXT`)
      )
  }))

export const progressTable = "curator_worker_progress"

/** A worker's progress row: busy with an index, or (`index` null) idle again. */
export const progressRow = (runId: number, workerId: string, index: number | null, items: number, stalled: boolean, at: string): Row => ({
  worker_id: workerId,
  run_id: runId,
  idx: index,
  items,
  stalled: stalled ? 1 : 0,
  updated_at: at
})

export const progressUpsert = `ON CONFLICT (worker_id) DO UPDATE SET run_id = excluded.run_id, idx = excluded.idx,
  items = excluded.items, stalled = excluded.stalled, updated_at = excluded.updated_at`

/** The row of a success: attempts, and the permanent-failure count starts again. */
export const ofSuccess = (runId: number, record: CheckpointStore.SuccessRecord): Row => ({
  idx: record.index,
  run_id: runId,
  attempts: record.attempts ?? 1,
  failure_class: null,
  permanent_failures: 0,
  quarantine_after: 0,
  failed_stage: null
})

/** The row of a failure; `permanent_failures` is what this run adds (see {@link upsertClause}). */
export const ofFailure = (runId: number, record: CheckpointStore.FailureRecord): Row => ({
  idx: record.index,
  run_id: runId,
  attempts: record.attempts ?? 1,
  failure_class: record.failureClass ?? null,
  permanent_failures: record.failureClass === "permanent" ? 1 : 0,
  quarantine_after: record.quarantineAfter ?? 0,
  failed_stage: record.stage ?? null
})

/** A new failure adds to the count; a success (no class) resets it. */
export const upsertClause = `ON CONFLICT (idx, run_id) DO UPDATE SET attempts = excluded.attempts,
  failure_class = excluded.failure_class, quarantine_after = excluded.quarantine_after, failed_stage = excluded.failed_stage,
  permanent_failures = CASE WHEN excluded.failure_class IS NULL THEN 0
    ELSE curator_index_attempts.permanent_failures + excluded.permanent_failures END`

interface DetailRow {
  readonly idx: number
  readonly attempts: number | string
  readonly failure_class: string | null
  readonly permanent_failures: number | string
  readonly quarantine_after: number | string
  /** Absent in a database before migration 5. */
  readonly failed_stage?: string | null
}

const detailOf = (row: DetailRow): CheckpointStore.FailureDetail => {
  const permanentFailures = Number(row.permanent_failures)
  const after = Number(row.quarantine_after)
  return {
    index: Number(row.idx),
    attempts: Number(row.attempts),
    failureClass: row.failure_class === "transient" || row.failure_class === "permanent" ? row.failure_class : null,
    permanentFailures,
    quarantined: after > 0 && permanentFailures >= after,
    stage: row.failed_stage ?? null
  }
}

/**
 * The queries, for one configuration's run id. A database without the
 * table (the reference's, read-only) has no details and no quarantine.
 */
export const makeQueries = (sql: SqlClient.SqlClient, runId: () => number) => {
  const hasTable = makeAllPresent(sql, [table])
  const whenPresent = <A>(none: A, effect: Effect.Effect<A, SqlError>) =>
    Effect.flatMap(hasTable, (yes) => (yes ? effect : Effect.succeed(none)))
  return {
    workerProgress: whenPresent(
      new Map() as ReadonlyMap<string, { index: number | null; items: number; stalled: boolean; at: string }>,
      Effect.map(
        Effect.suspend(() =>
          sql<{ worker_id: string; idx: number | null; items: number | string; stalled: number | string; updated_at: string }>`
            SELECT worker_id, idx, items, stalled, updated_at FROM curator_worker_progress WHERE run_id = ${runId()}`
        ),
        (rows) =>
          new Map(rows.map((row) => [row.worker_id, {
            index: row.idx === null ? null : Number(row.idx),
            items: Number(row.items),
            stalled: Number(row.stalled) === 1,
            at: row.updated_at
          }]))
      )
    ),
    failureDetails: (indices: ReadonlyArray<number>) =>
      whenPresent(
        new Map<number, CheckpointStore.FailureDetail>() as ReadonlyMap<number, CheckpointStore.FailureDetail>,
        Effect.gen(function*() {
          const found = new Map<number, CheckpointStore.FailureDetail>()
          for (let i = 0; i < indices.length; i += 900) {
            // Every column: `failed_stage` only where migration 5 ran (a read-only older database lacks it).
            const rows = yield* sql<DetailRow>`SELECT * FROM curator_index_attempts WHERE run_id = ${runId()} AND idx IN ${sql.in(indices.slice(i, i + 900))}`
            for (const row of rows) found.set(Number(row.idx), detailOf(row))
          }
          return found
        })
      ),
    /** One grouped scan into a bitset (as the completed and failed sets), never a row per index. */
    quarantinedIndexSet: whenPresent(
      IndexSet.empty(),
      Effect.map(
        Effect.suspend(() =>
          sql<{ word: number | string; bits: number | string }>`
            SELECT idx / 32 AS word, SUM(CAST(1 AS BIGINT) << (idx % 32)) AS bits FROM curator_index_attempts
            WHERE run_id = ${runId()} AND quarantine_after > 0 AND permanent_failures >= quarantine_after GROUP BY idx / 32`
        ),
        (words) => {
          const set = IndexSet.empty()
          for (const row of words) set.addWord(Number(row.word), Number(row.bits))
          return set
        }
      )
    ),
    liftQuarantine: whenPresent(
      0,
      Effect.suspend(() =>
        Effect.map(
          sql<{ idx: number }>`UPDATE curator_index_attempts SET permanent_failures = 0 WHERE run_id = ${runId()}
            AND quarantine_after > 0 AND permanent_failures >= quarantine_after RETURNING idx`,
          (rows) => rows.length
        )
      )
    ),
    /** Deletes the rows of one index (or, with no index, of the whole run). */
    forget: (index?: number) =>
      whenPresent(
        undefined,
        Effect.asVoid(Effect.suspend(() =>
          index === undefined
            ? Effect.zipRight(
              sql`DELETE FROM curator_index_attempts WHERE run_id = ${runId()}`,
              sql`DELETE FROM curator_worker_progress WHERE run_id = ${runId()}`
            )
            : sql`DELETE FROM curator_index_attempts WHERE run_id = ${runId()} AND idx = ${index}`
        ))
      )
  }
}

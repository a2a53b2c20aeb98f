/**
 * What a completed index is checked by on resume, beside the seven tables
 * (SPEC.md: Curator's own data lives in `curator_` tables, written in the
 * same transaction as the index's record): the source's fingerprint of its
 * input (`curator_index_inputs`) and the size and content hash of each of
 * its outputs (`curator_output_checks`). Replaced with the record when the
 * index is recorded again, removed with it on reset.
 */
import { CheckpointStore } from "@curator/core"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { makeAllPresent, presentTables } from "./presentTables.js"
import type { Children, Row } from "./recordRows.js"

/** The tables, for reset and for a schema check. */
export const tableNames = ["curator_index_inputs", "curator_output_checks"] as const

/** Migration 3: the two tables and the index a page of checks is read through. */
export const createTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const int64 = sql.onDialectOrElse({ pg: () => sql.literal("BIGINT"), orElse: () => sql.literal("INTEGER") })
  yield* sql`CREATE TABLE IF NOT EXISTS curator_index_inputs (
    run_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS curator_output_checks (
    run_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    idx INTEGER NOT NULL,
    size ${int64} NOT NULL,
    hash TEXT,
    PRIMARY KEY (run_id, path)
  )`
  yield* sql`CREATE INDEX IF NOT EXISTS curator_output_checks_idx ON curator_output_checks (run_id, idx)`
})

/** The deletes that clear the checks of indices recorded again (inside the writer's transaction). */
export const deleteChildren = (sql: SqlClient.SqlClient, runId: number, indices: ReadonlyArray<number>) => [
  sql`DELETE FROM curator_index_inputs WHERE run_id = ${runId} AND idx IN ${sql.in(indices)}`,
  sql`DELETE FROM curator_output_checks WHERE run_id = ${runId} AND idx IN ${sql.in(indices)}`
]

/** Inserts the checks of a batch's records (inside the writer's transaction). */
export const insertChildren = (
  children: ReadonlyArray<Children>,
  insert: (table: string, rows: ReadonlyArray<Row>, onConflict: string) => Effect.Effect<void, SqlError>
): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const inputs = children.flatMap((c) => c.inputs)
    // One row per path, as for output_files (the later record wins).
    const checks = [...new Map(children.flatMap((c) => c.checks).map((row) => [`${row.run_id}:${row.path}`, row])).values()]
    if (inputs.length > 0) {
      yield* insert("curator_index_inputs", inputs, "ON CONFLICT (run_id, idx) DO UPDATE SET fingerprint = excluded.fingerprint")
    }
    if (checks.length > 0) {
      yield* insert(
        "curator_output_checks",
        checks,
        "ON CONFLICT (run_id, path) DO UPDATE SET idx = excluded.idx, size = excluded.size, hash = excluded.hash"
      )
    }
  })

const noChecks: ReadonlyArray<CheckpointStore.OutputCheck> = []

/**
 * A completed index as read; its paths are parsed from their JSON when
 * first asked for (a plan of 10⁶ skipped indices never asks).
 */
class Recorded implements CheckpointStore.RecordedIndex {
  private parsed: ReadonlyArray<string> | undefined
  constructor(
    readonly index: number,
    private readonly outputPaths: string | null,
    readonly completedAt: string,
    readonly workerId: string | null,
    readonly fingerprint: string | null,
    readonly outputChecks: ReadonlyArray<CheckpointStore.OutputCheck>
  ) {}
  get paths(): ReadonlyArray<string> {
    return this.parsed ??= this.outputPaths === null ? [] : JSON.parse(this.outputPaths)
  }
}

/**
 * `Checkpoint.recordedPage`: a keyset page of completed indices, then the
 * fingerprints and checks of that index range in two range reads (none
 * when the caller asks for no checks). A
 * database without the tables (the reference's, opened read-only) gives
 * the pages without fingerprints or checks.
 */
export const makeRecordedPage = (sql: SqlClient.SqlClient, runId: () => number) => {
  const tablesPresent = makeAllPresent(sql, tableNames)
  return (q: CheckpointStore.RecordedQuery = {}): Effect.Effect<CheckpointStore.Page<CheckpointStore.RecordedIndex>, SqlError> =>
    Effect.gen(function*() {
      const limit = q.limit ?? CheckpointStore.defaultPageSize
      const run = runId()
      const rows = yield* sql<{ idx: number; output_paths: string | null; completed_at: string; worker_id: string | null }>`
        SELECT idx, output_paths, completed_at, worker_id FROM index_results
        WHERE ${sql.and([sql`run_id = ${run}`, sql`status = 'completed'`, ...(q.after === undefined ? [] : [sql`idx > ${q.after}`])])}
        ORDER BY idx LIMIT ${limit}`
      const fingerprints = new Map<number, string>()
      const checks = new Map<number, Array<CheckpointStore.OutputCheck>>()
      if (rows.length > 0 && q.checks !== false && (yield* tablesPresent)) {
        const from = rows[0]!.idx
        const to = rows[rows.length - 1]!.idx
        for (const row of yield* sql<{ idx: number; fingerprint: string }>`
          SELECT idx, fingerprint FROM curator_index_inputs WHERE run_id = ${run} AND idx >= ${from} AND idx <= ${to}`) {
          fingerprints.set(row.idx, row.fingerprint)
        }
        for (const row of yield* sql<{ idx: number; path: string; size: number | string; hash: string | null }>`
          SELECT idx, path, size, hash FROM curator_output_checks WHERE run_id = ${run} AND idx >= ${from} AND idx <= ${to}`) {
          let list = checks.get(row.idx)
          if (list === undefined) checks.set(row.idx, list = [])
          list.push({ path: row.path, size: Number(row.size), hash: row.hash })
        }
      }
      return {
        rows: rows.map((row) =>
          new Recorded(row.idx, row.output_paths, row.completed_at, row.worker_id, fingerprints.get(row.idx) ?? null, checks.get(row.idx) ?? noChecks)
        ),
        next: rows.length === limit && rows.length > 0 ? rows[rows.length - 1]!.idx : undefined
      }
    })
}

/**
 * Deletes the checks of a run (or of one index of it), for `reset` and
 * `resetIndex`: a database opened without migrating (an older Curator's)
 * may not have the tables, and then holds no checks to delete.
 */
export const deleteRecorded = (sql: SqlClient.SqlClient, runId: number, index?: number): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    for (const name of yield* presentTables(sql, tableNames)) {
      yield* index === undefined
        ? sql`DELETE FROM ${sql(name)} WHERE run_id = ${runId}`
        : sql`DELETE FROM ${sql(name)} WHERE run_id = ${runId} AND idx = ${index}`
    }
  })

/**
 * Per-status totals of `index_results` (how many indices, the sums and
 * counts of their wall times and peak memory), kept by SQLite triggers so
 * that `status`, the metrics summary and the dashboard's counts read a few
 * rows instead of scanning 10⁶ records. Triggers rather than the writer:
 * they see every write to the file, the Python reference's included, and
 * the old row of an upsert without a read of its own.
 *
 * An `INSERT OR REPLACE` deletes the row it replaces without firing delete
 * triggers (unless `recursive_triggers` is on, which nobody sets), so the
 * BEFORE INSERT trigger takes the old row out itself and leaves a marker
 * that the AFTER INSERT or AFTER UPDATE trigger of the same row clears. A
 * marker left over means an insert was ignored after the old row was taken
 * out (`INSERT OR IGNORE`, `DO NOTHING`): the totals are then not trusted,
 * and readers count the records instead, as they do on PostgreSQL and on a
 * database not migrated yet.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import { makeAllPresent } from "./presentTables.js"

export const totalsTable = "curator_status_totals"
export const markersTable = "curator_status_totals_replacing"

/** What the totals hold for one status of one run. */
export interface Totals {
  readonly indices: number
  readonly wallTimeNsSum: number
  readonly wallTimeNsCount: number
  readonly peakMemoryBytesSum: number
  readonly peakMemoryBytesCount: number
}

export const emptyTotals: Totals = { indices: 0, wallTimeNsSum: 0, wallTimeNsCount: 0, peakMemoryBytesSum: 0, peakMemoryBytesCount: 0 }

/** A row's contribution, as the column list of an upsert into the totals. */
const contribution = (row: "NEW") =>
  `${row}.run_id, ${row}.status, 1, COALESCE(${row}.wall_time_ns, 0), ${row}.wall_time_ns IS NOT NULL,
   COALESCE(${row}.peak_memory_bytes, 0), ${row}.peak_memory_bytes IS NOT NULL`

const add = `INSERT INTO ${totalsTable}
    (run_id, status, indices, wall_time_ns_sum, wall_time_ns_count, peak_memory_bytes_sum, peak_memory_bytes_count)
    VALUES (${contribution("NEW")})
    ON CONFLICT (run_id, status) DO UPDATE SET indices = indices + 1,
      wall_time_ns_sum = wall_time_ns_sum + excluded.wall_time_ns_sum,
      wall_time_ns_count = wall_time_ns_count + excluded.wall_time_ns_count,
      peak_memory_bytes_sum = peak_memory_bytes_sum + excluded.peak_memory_bytes_sum,
      peak_memory_bytes_count = peak_memory_bytes_count + excluded.peak_memory_bytes_count;`

/** Takes out the row `old` (an expression per column), where `condition` holds. */
const subtract = (old: (column: string) => string, condition: string) =>
  `UPDATE ${totalsTable} SET indices = indices - 1,
      wall_time_ns_sum = wall_time_ns_sum - COALESCE(${old("wall_time_ns")}, 0),
      wall_time_ns_count = wall_time_ns_count - (${old("wall_time_ns")} IS NOT NULL),
      peak_memory_bytes_sum = peak_memory_bytes_sum - COALESCE(${old("peak_memory_bytes")}, 0),
      peak_memory_bytes_count = peak_memory_bytes_count - (${old("peak_memory_bytes")} IS NOT NULL)
    WHERE ${condition};`

const stored = (key: "NEW") => (column: string) =>
  `(SELECT ${column} FROM index_results WHERE idx = ${key}.idx AND run_id = ${key}.run_id)`

const marked = (row: "NEW" | "OLD") => `EXISTS (SELECT 1 FROM ${markersTable} WHERE idx = ${row}.idx AND run_id = ${row}.run_id)`

/** Migration 6 (SQLite only): the two tables, the triggers, and the totals of the records already there. */
export const createTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    sqlite: () =>
      Effect.gen(function*() {
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${totalsTable} (
          run_id INTEGER NOT NULL,
          status TEXT NOT NULL,
          indices INTEGER NOT NULL,
          wall_time_ns_sum INTEGER NOT NULL,
          wall_time_ns_count INTEGER NOT NULL,
          peak_memory_bytes_sum INTEGER NOT NULL,
          peak_memory_bytes_count INTEGER NOT NULL,
          PRIMARY KEY (run_id, status)
        )`)
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${markersTable} (
          idx INTEGER NOT NULL,
          run_id INTEGER NOT NULL,
          PRIMARY KEY (idx, run_id)
        )`)
        yield* sql.unsafe(`CREATE TRIGGER IF NOT EXISTS curator_status_totals_before_insert BEFORE INSERT ON index_results
          WHEN EXISTS (SELECT 1 FROM index_results WHERE idx = NEW.idx AND run_id = NEW.run_id) BEGIN
            ${subtract(stored("NEW"), `run_id = NEW.run_id AND status = ${stored("NEW")("status")}`)}
            INSERT OR IGNORE INTO ${markersTable} (idx, run_id) VALUES (NEW.idx, NEW.run_id);
          END`)
        yield* sql.unsafe(`CREATE TRIGGER IF NOT EXISTS curator_status_totals_after_insert AFTER INSERT ON index_results BEGIN
            ${add}
            DELETE FROM ${markersTable} WHERE idx = NEW.idx AND run_id = NEW.run_id;
          END`)
        // An upsert's update comes after its BEFORE INSERT took the old row out (marked); a plain UPDATE takes it out here.
        yield* sql.unsafe(`CREATE TRIGGER IF NOT EXISTS curator_status_totals_after_update AFTER UPDATE ON index_results BEGIN
            ${subtract((column) => `OLD.${column}`, `run_id = OLD.run_id AND status = OLD.status AND NOT ${marked("OLD")}`)}
            DELETE FROM ${markersTable} WHERE idx = OLD.idx AND run_id = OLD.run_id;
            ${add}
          END`)
        yield* sql.unsafe(`CREATE TRIGGER IF NOT EXISTS curator_status_totals_after_delete AFTER DELETE ON index_results BEGIN
            ${subtract((column) => `OLD.${column}`, "run_id = OLD.run_id AND status = OLD.status")}
          END`)
        yield* rebuild(sql)
      }),
    orElse: () => Effect.void
  })
})

/** Counts the totals afresh from the records (and clears any marker): the migration, and a repair. */
export const rebuild = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    yield* sql.unsafe(`DELETE FROM ${markersTable}`)
    yield* sql.unsafe(`DELETE FROM ${totalsTable}`)
    yield* sql.unsafe(`INSERT INTO ${totalsTable}
      (run_id, status, indices, wall_time_ns_sum, wall_time_ns_count, peak_memory_bytes_sum, peak_memory_bytes_count)
      SELECT run_id, status, COUNT(*), COALESCE(SUM(wall_time_ns), 0), COUNT(wall_time_ns),
        COALESCE(SUM(peak_memory_bytes), 0), COUNT(peak_memory_bytes)
      FROM index_results GROUP BY run_id, status`)
  })

/**
 * On a writable open: totals a marker left untrusted are counted afresh, in
 * one transaction, so that readers trust them again.
 */
export const repair: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  if (!(yield* makeAllPresent(sql, [totalsTable, markersTable]))) return
  const [unsettled] = yield* sql<{ left: Numeric }>`SELECT EXISTS (SELECT 1 FROM ${sql(markersTable)}) AS "left"`
  if (Number(unsettled?.left ?? 0) !== 0) yield* sql.withTransaction(rebuild(sql))
})

type Numeric = number | string | bigint | null

interface TotalsRow {
  readonly status: string
  readonly indices: Numeric
  readonly wall_time_ns_sum: Numeric
  readonly wall_time_ns_count: Numeric
  readonly peak_memory_bytes_sum: Numeric
  readonly peak_memory_bytes_count: Numeric
}

const totalsOf = (row: TotalsRow | undefined): Totals =>
  row === undefined ? emptyTotals : {
    indices: Number(row.indices ?? 0),
    wallTimeNsSum: Number(row.wall_time_ns_sum ?? 0),
    wallTimeNsCount: Number(row.wall_time_ns_count ?? 0),
    peakMemoryBytesSum: Number(row.peak_memory_bytes_sum ?? 0),
    peakMemoryBytesCount: Number(row.peak_memory_bytes_count ?? 0)
  }

/**
 * A reader of one run's totals by status: `None` where they are not kept
 * (PostgreSQL, a database not migrated yet) or not to be trusted (a marker
 * left over), so that the caller counts the records instead.
 */
export const makeReader = (sql: SqlClient.SqlClient) => {
  const kept = makeAllPresent(sql, [totalsTable, markersTable])
  return (runId: number): Effect.Effect<Option.Option<{ readonly completed: Totals; readonly error: Totals }>, SqlError> =>
    Effect.gen(function*() {
      if (!(yield* kept)) return Option.none()
      const [unsettled] = yield* sql<{ left: Numeric }>`SELECT EXISTS (SELECT 1 FROM ${sql(markersTable)}) AS "left"`
      if (Number(unsettled?.left ?? 0) !== 0) return Option.none()
      const rows = yield* sql<TotalsRow>`SELECT status, indices, wall_time_ns_sum, wall_time_ns_count,
        peak_memory_bytes_sum, peak_memory_bytes_count FROM ${sql(totalsTable)} WHERE run_id = ${runId}`
      return Option.some({
        completed: totalsOf(rows.find((row) => row.status === "completed")),
        error: totalsOf(rows.find((row) => row.status === "error"))
      })
    })
}

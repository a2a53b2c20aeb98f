/**
 * The seven-table checkpoint database: its migrations (run under Curator's
 * own migrations table) and the check that a database is one Curator can
 * use before anything is written to it.
 */
import { CheckpointStore } from "@curator/core"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Schedule } from "effect"
import { retryBusy } from "./internal/busy.js"

/** The migrations table, kept apart from any migrations of the user's own. */
export const migrationsTable = "curator_migrations"

/** The columns of each table, in order, as SPEC.md defines the interchange format. */
export const tables: Readonly<Record<string, ReadonlyArray<string>>> = {
  pipeline_runs: ["run_id", "config_hash", "config_json", "started_at", "run_dir", "total_indices"],
  index_results: [
    "idx",
    "run_id",
    "status",
    "output_paths",
    "completed_at",
    "wall_time_ns",
    "peak_memory_bytes",
    "gpu_memory_bytes",
    "error",
    "worker_id"
  ],
  stage_metrics: ["idx", "run_id", "stage_order", "stage_name", "wall_time_ns"],
  workers: [
    "worker_id",
    "run_id",
    "pid",
    "hostname",
    "started_at",
    "last_heartbeat",
    "current_index",
    "completed_count",
    "invocation_id"
  ],
  output_files: ["path", "idx", "run_id", "seq"],
  filter_artifacts: ["path", "idx", "run_id", "filter_name", "filter_order"],
  logs: ["id", "run_id", "timestamp", "level", "level_name", "logger_name", "message", "worker_id", "idx"]
}

const createTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    config_hash TEXT UNIQUE NOT NULL,
    config_json TEXT NOT NULL,
    started_at TEXT NOT NULL,
    run_dir TEXT,
    total_indices INTEGER
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS index_results (
    idx INTEGER NOT NULL,
    run_id INTEGER NOT NULL REFERENCES pipeline_runs(run_id),
    status TEXT NOT NULL CHECK (status IN ('completed', 'error')),
    output_paths TEXT,
    completed_at TEXT NOT NULL,
    wall_time_ns INTEGER,
    peak_memory_bytes INTEGER,
    gpu_memory_bytes INTEGER,
    error TEXT,
    worker_id TEXT,
    PRIMARY KEY (idx, run_id)
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS stage_metrics (
    idx INTEGER NOT NULL,
    run_id INTEGER NOT NULL REFERENCES pipeline_runs(run_id),
    stage_order INTEGER NOT NULL,
    stage_name TEXT NOT NULL,
    wall_time_ns INTEGER NOT NULL,
    PRIMARY KEY (idx, run_id, stage_order)
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES pipeline_runs(run_id),
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_heartbeat TEXT NOT NULL,
    current_index INTEGER,
    completed_count INTEGER NOT NULL DEFAULT 0,
    invocation_id TEXT
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS output_files (
    path TEXT NOT NULL,
    idx INTEGER NOT NULL,
    run_id INTEGER NOT NULL REFERENCES pipeline_runs(run_id),
    seq INTEGER NOT NULL,
    PRIMARY KEY (path, run_id)
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS filter_artifacts (
    path TEXT NOT NULL,
    idx INTEGER NOT NULL,
    run_id INTEGER NOT NULL REFERENCES pipeline_runs(run_id),
    filter_name TEXT NOT NULL,
    filter_order INTEGER NOT NULL,
    PRIMARY KEY (path, idx, run_id)
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES pipeline_runs(run_id),
    timestamp TEXT NOT NULL,
    level INTEGER NOT NULL,
    level_name TEXT NOT NULL,
    logger_name TEXT NOT NULL,
    message TEXT NOT NULL,
    worker_id TEXT,
    idx INTEGER
  )`
  yield* sql`CREATE INDEX IF NOT EXISTS idx_logs_run_timestamp ON logs (run_id, timestamp)`
})

/**
 * Curator's migrations, by id. Each is idempotent, so a database written by
 * the reference implementation (same tables, no migrations table) is adopted
 * as it is.
 */
export const migrations = Migrator.fromRecord({
  "1_seven_tables": createTables
})

/** The newest migration this version knows. */
export const latestMigration = 1

const internalTables = new Set(["sqlite_sequence", "sqlite_stat1", migrationsTable])

/** What a database holds, as far as Curator is concerned. */
export type Inspection =
  | { readonly _tag: "Empty" }
  | { readonly _tag: "Curator"; readonly missingTables: ReadonlyArray<string> }

const failure = (
  location: string,
  reason: CheckpointStore.CheckpointError["reason"],
  message: string
) => new CheckpointStore.CheckpointError({ reason, location, message })

/**
 * Reads the database's tables and checks that they are Curator's (or that
 * there are none yet), without writing anything.
 */
export const inspect = (location: string): Effect.Effect<Inspection, CheckpointStore.CheckpointError | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const names = yield* retryBusy(sql.onDialectOrElse({
      pg: () => sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`,
      orElse: () => sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
    }))
    const present = new Set(names.map((row) => row.name))
    if (present.has(migrationsTable)) {
      const [row] = yield* sql<{ latest: number | null }>`SELECT MAX(migration_id) AS latest FROM ${sql(migrationsTable)}`
      if ((row?.latest ?? 0) > latestMigration) {
        return yield* failure(
          location,
          "NewerSchema",
          `${location} was written by a newer version of Curator (schema ${row?.latest}, this version knows ${latestMigration}); upgrade Curator to use it`
        )
      }
    }
    const ours = Object.keys(tables).filter((name) => present.has(name))
    if (ours.length === 0) {
      const others = [...present].filter((name) => !internalTables.has(name))
      if (others.length === 0) return { _tag: "Empty" } as const
      return yield* failure(
        location,
        "ForeignSchema",
        `${location} is a database of something else (tables: ${others.slice(0, 5).join(", ")}); choose another dbFile or dbDir for Curator`
      )
    }
    for (const [table, expected] of Object.entries(tables)) {
      if (!present.has(table)) continue
      const columns = yield* sql.onDialectOrElse({
        pg: () =>
          sql<{ name: string }>`SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table}`,
        orElse: () => sql<{ name: string }>`SELECT name FROM pragma_table_info(${table})`
      })
      const found = new Set(columns.map((column) => column.name))
      const missing = expected.filter((column) => !found.has(column))
      if (missing.length > 0) {
        return yield* failure(
          location,
          "ForeignSchema",
          `${location} has a table ${table} without the columns ${missing.join(", ")}: it is not a Curator checkpoint database; choose another dbFile or dbDir`
        )
      }
    }
    return { _tag: "Curator", missingTables: Object.keys(tables).filter((name) => !present.has(name)) } as const
  })

class TablesPending {
  readonly _tag = "TablesPending"
}

/**
 * Checks the database, then creates or upgrades Curator's tables. When
 * another process holds the migration lock, the migrator returns without
 * waiting; we then wait until that process has committed the tables.
 */
export const migrate = (
  location: string
): Effect.Effect<void, CheckpointStore.CheckpointError | SqlError | Migrator.MigrationError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    yield* inspect(location)
    yield* retryBusy(Migrator.make({})({ loader: migrations, table: migrationsTable }))
    const tablesCommitted = Effect.flatMap(inspect(location), (inspection) =>
      inspection._tag === "Curator" && inspection.missingTables.length === 0 ? Effect.void : Effect.fail(new TablesPending()))
    yield* tablesCommitted.pipe(
      Effect.retry({ while: (e) => e._tag === "TablesPending", schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo("30 seconds")) }),
      Effect.catchTag("TablesPending", () =>
        failure(location, "StorageFailure", `${location}: another process started creating Curator's tables and has not finished after 30 s; check that process, then try again`))
    )
  })

/**
 * SQLite checkpoint files: the on-disk format (SPEC.md's seven tables),
 * databases written by the Python reference, file naming, offline opening,
 * files that are not Curator's, concurrent writers in two processes, and
 * durability when a run ends or is interrupted.
 */
import { Backend, CheckpointStore, Pipeline, Provenance, Sink, Source } from "@curator/core"
import { SqliteCheckpointStore } from "@curator/node"
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { type ChildProcess, spawn } from "node:child_process"
import { Deferred, Effect, Fiber, Layer, Logger } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type ColumnInfo, expectSpecColumns, makeProbe, snapshot, specColumns, tempDir, timestampPattern, withRaw } from "./helpers.js"

const Live = Layer.mergeAll(SqliteCheckpointStore.layer(), Backend.layerFibers, Logger.remove(Logger.defaultLogger))

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

/** Runs a probe of `length` indices into `dbFile` and returns its run result. */
const runInto = (dbFile: string, length = 4, label = "probe") =>
  Effect.gen(function*() {
    const probe = makeProbe(length, label)
    const result = yield* Pipeline.run(Pipeline.withOptions(probe.pipeline, { resume: true, dbFile }), { concurrency: 2 })
    return { probe, result }
  })

/** The DDL of the Python reference: the same tables, written without Curator (no migrations table, rollback journal). */
const referenceDdl = `
CREATE TABLE pipeline_runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  config_hash TEXT UNIQUE NOT NULL,
  config_json TEXT NOT NULL,
  started_at TEXT NOT NULL,
  run_dir TEXT,
  total_indices INTEGER
);
CREATE TABLE index_results (
  idx INTEGER NOT NULL,
  run_id INTEGER NOT NULL,
  status TEXT NOT NULL CHECK(status IN ('completed', 'error')),
  output_paths TEXT,
  completed_at TEXT NOT NULL,
  wall_time_ns INTEGER,
  peak_memory_bytes INTEGER,
  gpu_memory_bytes INTEGER,
  error TEXT,
  worker_id TEXT,
  PRIMARY KEY (idx, run_id),
  FOREIGN KEY (run_id) REFERENCES pipeline_runs(run_id)
);
CREATE TABLE stage_metrics (
  idx INTEGER NOT NULL,
  run_id INTEGER NOT NULL,
  stage_order INTEGER NOT NULL,
  stage_name TEXT NOT NULL,
  wall_time_ns INTEGER NOT NULL,
  PRIMARY KEY (idx, run_id, stage_order)
);
CREATE TABLE workers (
  worker_id TEXT PRIMARY KEY,
  run_id INTEGER NOT NULL,
  pid INTEGER NOT NULL,
  hostname TEXT NOT NULL,
  started_at TEXT NOT NULL,
  last_heartbeat TEXT NOT NULL,
  current_index INTEGER,
  completed_count INTEGER NOT NULL DEFAULT 0,
  invocation_id TEXT
);
CREATE TABLE output_files (
  path TEXT NOT NULL,
  idx INTEGER NOT NULL,
  run_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (path, run_id)
);
CREATE TABLE filter_artifacts (
  path TEXT NOT NULL,
  idx INTEGER NOT NULL,
  run_id INTEGER NOT NULL,
  filter_name TEXT NOT NULL,
  filter_order INTEGER NOT NULL,
  PRIMARY KEY (path, idx, run_id)
);
CREATE TABLE logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  timestamp TEXT NOT NULL,
  level INTEGER NOT NULL,
  level_name TEXT NOT NULL,
  logger_name TEXT NOT NULL,
  message TEXT NOT NULL,
  worker_id TEXT,
  idx INTEGER
);
CREATE INDEX idx_logs_run_ts ON logs (run_id, timestamp);
`

/** Expects `effect` to fail with a `CheckpointError` of `reason` whose message names `location`. */
const expectCheckpointError = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  reason: CheckpointStore.CheckpointError["reason"],
  location: string
) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(effect)
    expect(error).toBeInstanceOf(CheckpointStore.CheckpointError)
    const checkpointError = error as CheckpointStore.CheckpointError
    expect(checkpointError.reason, checkpointError.message).toBe(reason)
    expect(checkpointError.location).toBe(location)
    expect(checkpointError.message).toContain(location)
    return checkpointError
  })

describe("SqliteCheckpointStore", () => {
  describe("the database format", () => {
    it.live("every table's columns, types, NOT NULL flags and primary keys are SPEC.md's", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "format.db")
        yield* runInto(dbFile)
        withRaw(dbFile, (db) => {
          const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>)
            .map((row) => row.name)
          expect(tables).toEqual([
            ...Object.keys(specColumns),
            "curator_index_attempts",
            "curator_index_inputs",
            "curator_migrations",
            "curator_output_checks",
            "curator_status_totals",
            "curator_status_totals_replacing",
            "curator_worker_progress",
            "sqlite_sequence"
          ].sort())
          expectSpecColumns(db)
          const completedCount = (db.prepare("PRAGMA table_info(workers)").all() as Array<ColumnInfo>)
            .find((c) => c.name === "completed_count")!
          expect(completedCount.dflt_value).toBe("0")
        }, { readonly: true })
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("AUTOINCREMENT keys, the status CHECK, the unique config_hash, the logs index, WAL, recorded migrations", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "constraints.db")
        const { probe } = yield* runInto(dbFile)
        withRaw(dbFile, (db) => {
          const ddl = (name: string) =>
            (db.prepare("SELECT sql FROM sqlite_master WHERE name = ?").get(name) as { sql: string }).sql
          expect(ddl("pipeline_runs")).toMatch(/run_id\s+INTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT/i)
          expect(ddl("logs")).toMatch(/id\s+INTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT/i)
          for (const table of ["index_results", "stage_metrics", "workers", "output_files", "filter_artifacts"]) {
            expect(ddl(table)).not.toMatch(/AUTOINCREMENT/i)
          }

          expect(() =>
            db.prepare(
              "INSERT INTO index_results (idx, run_id, status, completed_at) VALUES (999, 1, 'bogus', '2026-01-01T00:00:00.000000+00:00')"
            ).run()
          ).toThrow(/CHECK constraint failed/)
          db.prepare(
            "INSERT INTO index_results (idx, run_id, status, completed_at) VALUES (999, 1, 'error', '2026-01-01T00:00:00.000000+00:00')"
          ).run()

          expect(() =>
            db.prepare("INSERT INTO pipeline_runs (config_hash, config_json, started_at) VALUES (?, '{}', 'now')")
              .run(probe.pipeline.configHash)
          ).toThrow(/UNIQUE constraint failed: pipeline_runs.config_hash/)

          const logIndexes = db.prepare("PRAGMA index_list(logs)").all() as Array<{ name: string }>
          const columnsOf = (index: string) =>
            (db.prepare(`PRAGMA index_info(${index})`).all() as Array<{ name: string }>).map((c) => c.name)
          expect(logIndexes.map((index) => columnsOf(index.name))).toContainEqual(["run_id", "timestamp"])

          expect(db.pragma("journal_mode", { simple: true })).toBe("wal")

          expect(db.prepare("SELECT migration_id, name FROM curator_migrations").all()).toEqual([
            { migration_id: 1, name: "seven_tables" },
            { migration_id: 2, name: "query_indexes" },
            { migration_id: 3, name: "fingerprints" },
            { migration_id: 4, name: "failure_policy" },
            { migration_id: 5, name: "failed_stage" },
            { migration_id: 6, name: "status_totals" },
            { migration_id: 7, name: "failures_index" }
          ])
        })
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("timestamps are ISO-8601 UTC with microseconds, as the reference writes them", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "times.db")
        yield* runInto(dbFile)
        withRaw(dbFile, (db) => {
          const column = (sql: string) => (db.prepare(sql).all() as Array<{ t: string }>).map((row) => row.t)
          const all = [
            ...column("SELECT started_at AS t FROM pipeline_runs"),
            ...column("SELECT completed_at AS t FROM index_results"),
            ...column("SELECT started_at AS t FROM workers"),
            ...column("SELECT last_heartbeat AS t FROM workers"),
            ...column("SELECT timestamp AS t FROM logs")
          ]
          expect(all.length).toBeGreaterThan(4 + 2 + 2 + 1)
          for (const t of all) expect(t).toMatch(timestampPattern)
          const [started] = column("SELECT started_at AS t FROM pipeline_runs")
          expect(Math.abs(Date.parse(started!) - Date.now())).toBeLessThan(60_000)
        }, { readonly: true })
      }).pipe(Effect.scoped, Effect.provide(Live)))
  })

  describe("databases written by the reference implementation", () => {
    it.live("are adopted as they are: read offline, then resumed, skipping their completed indices", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "reference.db")
        const probe = makeProbe(6, "reference")
        const pipeline = Pipeline.withOptions(probe.pipeline, { resume: true, dbFile })
        const at = "2026-11-28T16:41:38.345842+00:00"
        const db = new Database(dbFile)
        try {
          db.exec(referenceDdl)
          db.prepare(
            "INSERT INTO pipeline_runs (config_hash, config_json, started_at, run_dir, total_indices) VALUES (?, ?, ?, ?, ?)"
          ).run(pipeline.configHash, Provenance.canonicalJson(pipeline.config), at, "/home/ref", 6)
          const result = db.prepare(
            `INSERT INTO index_results (idx, run_id, status, output_paths, completed_at, wall_time_ns, peak_memory_bytes, gpu_memory_bytes, error, worker_id)
             VALUES (?, 1, ?, ?, ?, ?, ?, NULL, ?, 'a3f1c2d4e5f60718293a4b5c6d7e8f90')`
          )
          for (const idx of [0, 1, 3]) result.run(idx, "completed", JSON.stringify([`/ref/${idx}.json`]), at, 2_000_000, 1024, null)
          result.run(2, "error", null, at, 1_000_000, 512, "ValueError: bad shard")
          const outputs = db.prepare("INSERT INTO output_files (path, idx, run_id, seq) VALUES (?, ?, 1, 0)")
          for (const idx of [0, 1, 3]) outputs.run(`/ref/${idx}.json`, idx)
        } finally {
          db.close()
        }
        const before = snapshot(dbFile)

        const offline = yield* Effect.scoped(Effect.gen(function*() {
          const checkpoint = yield* SqliteCheckpointStore.openFile(dbFile)
          return yield* Effect.all({
            summary: checkpoint.summary,
            completed: checkpoint.completedIndices,
            failed: checkpoint.failedIndices,
            remaining: checkpoint.remainingIndices,
            outputs: checkpoint.outputsOf(3),
            owner: checkpoint.indexOfOutput("/ref/1.json")
          })
        }))
        expect(offline.summary).toMatchObject({
          total: 6,
          completed: 3,
          failed: 1,
          remaining: 2,
          errors: 1,
          avg_time_ms: 2,
          total_elapsed_s: 0.006,
          config_hash: pipeline.configHash,
          db_path: dbFile
        })
        expect([...offline.completed].sort()).toEqual([0, 1, 3])
        expect(offline.failed).toEqual(new Map([[2, "ValueError: bad shard"]]))
        expect(offline.remaining).toEqual([4, 5])
        expect(offline.outputs).toMatchObject({ _tag: "Some", value: ["/ref/3.json"] })
        expect(offline.owner).toMatchObject({ _tag: "Some", value: 1 })
        // Reading it offline left the file as it was.
        expect(snapshot(dbFile)).toEqual(before)

        const resumed = yield* Pipeline.run(pipeline)
        expect(probe.counts.sink).toBe(3)
        expect(resumed.location).toBe(dbFile)
        expect(resumed.outcomes.map((o) => o._tag === "Completed" ? [o.index, o.cached, o.paths] : [o.index])).toEqual([
          [0, true, ["/ref/0.json"]],
          [1, true, ["/ref/1.json"]],
          [2, false, probe.pathsOf(2)],
          [3, true, ["/ref/3.json"]],
          [4, false, probe.pathsOf(4)],
          [5, false, probe.pathsOf(5)]
        ])
        withRaw(dbFile, (raw) => {
          expect(raw.prepare("SELECT run_id, run_dir FROM pipeline_runs").all()).toEqual([{ run_id: 1, run_dir: process.cwd() }])
          expect(raw.prepare("SELECT COUNT(*) AS n FROM index_results WHERE status = 'completed'").get()).toEqual({ n: 6 })
          expect(raw.prepare("SELECT migration_id FROM curator_migrations").all()).toEqual([
            { migration_id: 1 },
            { migration_id: 2 },
            { migration_id: 3 },
            { migration_id: 4 },
            { migration_id: 5 },
            { migration_id: 6 },
            { migration_id: 7 }
          ])
          // The adopted records are counted into the totals that summaries read.
          expect(raw.prepare("SELECT status, indices FROM curator_status_totals WHERE run_id = 1 AND indices > 0").all())
            .toEqual(raw.prepare("SELECT status, COUNT(*) AS indices FROM index_results WHERE run_id = 1 GROUP BY status").all())
        }, { readonly: true })
      }).pipe(Effect.scoped, Effect.provide(Live)))
  })

  describe("file naming", () => {
    it.live("resume uses {hash16}.db; a fresh run {hash16}_{epoch µs}.db, a new file each time", () =>
      Effect.gen(function*() {
        const dbDir = yield* tempDir()
        const probe = makeProbe(2)
        const hash16 = probe.pipeline.configHash.slice(0, 16)
        expect(hash16).toMatch(/^[0-9a-f]{16}$/)

        const stable = yield* Pipeline.run(Pipeline.withOptions(probe.pipeline, { resume: true, dbDir }))
        expect(stable.location).toBe(path.join(dbDir, `${hash16}.db`))
        const again = yield* Pipeline.run(Pipeline.withOptions(probe.pipeline, { resume: true, dbDir }))
        expect(again.location).toBe(stable.location)

        const startedMicros = Date.now() * 1000
        const fresh1 = yield* Pipeline.run(Pipeline.withOptions(probe.pipeline, { resume: false, dbDir }))
        const fresh2 = yield* Pipeline.run(Pipeline.withOptions(probe.pipeline, { resume: false, dbDir }))
        for (const fresh of [fresh1, fresh2]) {
          expect(path.dirname(fresh.location!)).toBe(dbDir)
          const name = path.basename(fresh.location!)
          expect(name).toMatch(/^[0-9a-f]{16}_\d{16,17}\.db$/)
          expect(name.startsWith(`${hash16}_`)).toBe(true)
          const micros = Number(name.slice(17, -3))
          expect(micros).toBeGreaterThanOrEqual(startedMicros - 1000)
          expect(micros).toBeLessThan(startedMicros + 60_000_000)
        }
        expect(fresh1.location).not.toBe(fresh2.location)
        const databases = fs.readdirSync(dbDir).filter((name) => name.endsWith(".db")).sort()
        expect(databases).toEqual([path.basename(stable.location!), path.basename(fresh1.location!), path.basename(fresh2.location!)].sort())
        expect(probe.counts.sink).toBe(2 + 0 + 2 + 2)
      }).pipe(Effect.scoped, Effect.provide(Live)))
  })

  describe("opening a database offline", () => {
    it.live("openFile is read-only by default and leaves the file byte-for-byte unchanged", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "offline.db")
        const { probe } = yield* runInto(dbFile, 5)
        const before = snapshot(dbFile)

        yield* Effect.scoped(Effect.gen(function*() {
          const checkpoint = yield* SqliteCheckpointStore.openFile(dbFile)
          expect(checkpoint.location).toBe(dbFile)
          expect(checkpoint.configHash).toBe(probe.pipeline.configHash)
          expect((yield* checkpoint.completedIndices).size).toBe(5)
          expect(yield* checkpoint.summary).toMatchObject({ total: 5, completed: 5, workers: 2 })
          expect(yield* checkpoint.metrics).toHaveLength(5)
          expect((yield* checkpoint.logs()).length).toBeGreaterThan(0)
          yield* expectCheckpointError(checkpoint.reset, "ReadOnly", dbFile)
          yield* expectCheckpointError(checkpoint.resetIndex(0), "ReadOnly", dbFile)
          yield* expectCheckpointError(checkpoint.appendLogs([]), "ReadOnly", dbFile)
          expect((yield* checkpoint.completedIndices).size).toBe(5)
        }))
        expect(snapshot(dbFile)).toEqual(before)
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("a failure's stage is in curator_index_attempts; a database from before that column is read without it, and gains it when run again", () =>
      Effect.gen(function*() {
        const dbFile = path.join(yield* tempDir(), "stages.db")
        const pipeline = Pipeline.from(Source.make({
          name: "Shaky",
          length: 3,
          items: (index) => (index === 1 ? Effect.fail(new Error("unreadable")) : Effect.succeed([index]))
        })).pipe(
          Pipeline.write(Sink.fromItems({ name: "Keep", write: (_: ReadonlyArray<number>, index) => Effect.succeed([`/keep/${index}`]) })),
          Pipeline.withOptions({ resume: true, dbFile })
        )
        yield* Pipeline.run(pipeline)
        const rows = () => withRaw(dbFile, (db) => db.prepare("SELECT idx, failed_stage FROM curator_index_attempts").all(), { readonly: true })
        // Only the failure has a row (a first-attempt success writes none); the stage is named as in stage_metrics.
        expect(rows()).toEqual([{ idx: 1, failed_stage: "source" }])

        // As an older Curator left it: no column, no migration 5 (nor any later one).
        withRaw(dbFile, (db) => {
          db.exec("ALTER TABLE curator_index_attempts DROP COLUMN failed_stage; DELETE FROM curator_migrations WHERE migration_id >= 5")
        })
        const before = snapshot(dbFile)
        const details = yield* Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(dbFile), (c) => c.failureDetails([0, 1, 2])))
        expect([...details.values()]).toEqual([{ index: 1, attempts: 1, failureClass: "transient", permanentFailures: 0, quarantined: false, stage: null }])
        expect(snapshot(dbFile)).toEqual(before)

        yield* Pipeline.run(pipeline)
        expect(rows()).toEqual([{ idx: 1, failed_stage: "source" }])
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("openFile with readonly: false can reset", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "writable.db")
        yield* runInto(dbFile, 3)
        yield* Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(dbFile, { readonly: false }), (c) => c.resetIndex(1)))
        const completed = yield* Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(dbFile), (c) => c.completedIndices))
        expect([...completed].sort()).toEqual([0, 2])
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("a database holding two configurations needs a configHash (prefix); without one it is Ambiguous", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "shared.db")
        const a = yield* runInto(dbFile, 3, "first")
        const b = yield* runInto(dbFile, 5, "second")
        const [hashA, hashB] = [a.probe.pipeline.configHash, b.probe.pipeline.configHash]
        expect(hashA).not.toBe(hashB)

        const ambiguous = yield* expectCheckpointError(Effect.scoped(SqliteCheckpointStore.openFile(dbFile)), "Ambiguous", dbFile)
        expect(ambiguous.message).toContain(hashA.slice(0, 16))
        expect(ambiguous.message).toContain(hashB.slice(0, 16))

        const summaries = yield* Effect.forEach([hashA.slice(0, 8), hashB], (configHash) =>
          Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(dbFile, { configHash }), (c) => c.summary)))
        expect(summaries.map((s) => [s.config_hash, s.total, s.completed])).toEqual([[hashA, 3, 3], [hashB, 5, 5]])

        yield* expectCheckpointError(
          Effect.scoped(SqliteCheckpointStore.openFile(dbFile, { configHash: "not-a-hash" })),
          "NotFound",
          dbFile
        )
      }).pipe(Effect.scoped, Effect.provide(Live)))
  })

  describe("files that are not Curator databases", () => {
    /** Runs a probe into `dbFile`, expecting it to fail with `reason` before any index ran. */
    const refuses = (dbFile: string, reason: CheckpointStore.CheckpointError["reason"]) =>
      Effect.gen(function*() {
        const probe = makeProbe(3)
        const error = yield* expectCheckpointError(
          Pipeline.run(Pipeline.withOptions(probe.pipeline, { resume: true, dbFile })),
          reason,
          dbFile
        )
        expect(probe.counts).toEqual({ source: 0, filter: 0, sink: 0 })
        return error
      })

    it.live("a text file is NotADatabase, and left untouched", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "notes.txt")
        fs.writeFileSync(dbFile, "these are my notes, not a database\n".repeat(20))
        const before = snapshot(dbFile)
        yield* refuses(dbFile, "NotADatabase")
        yield* expectCheckpointError(Effect.scoped(SqliteCheckpointStore.openFile(dbFile)), "NotADatabase", dbFile)
        expect(snapshot(dbFile)).toEqual(before)
        expect(fs.readdirSync(dir)).toEqual(["notes.txt"])
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("a directory given as dbFile is NotADatabase", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "a-directory.db")
        fs.mkdirSync(dbFile)
        yield* refuses(dbFile, "NotADatabase")
        expect(fs.statSync(dbFile).isDirectory()).toBe(true)
        expect(fs.readdirSync(dbFile)).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("a SQLite database of something else is ForeignSchema, and left untouched", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "app.db")
        const db = new Database(dbFile)
        db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO users (name) VALUES ('ada'), ('alan');")
        db.close()
        const before = snapshot(dbFile)
        const error = yield* refuses(dbFile, "ForeignSchema")
        expect(error.message).toContain("users")
        yield* expectCheckpointError(Effect.scoped(SqliteCheckpointStore.openFile(dbFile)), "ForeignSchema", dbFile)
        expect(snapshot(dbFile)).toEqual(before)
        withRaw(dbFile, (raw) => {
          expect(raw.pragma("journal_mode", { simple: true })).toBe("delete")
          expect(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([{ name: "users" }])
        }, { readonly: true })
        expect(fs.readdirSync(dir)).toEqual(["app.db"])
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("a database whose table of Curator's name lacks columns is ForeignSchema, naming the table and the columns", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "lookalike.db")
        const db = new Database(dbFile)
        db.exec(
          "CREATE TABLE pipeline_runs (run_id INTEGER PRIMARY KEY, config_hash TEXT, config_json TEXT, started_at TEXT, run_dir TEXT, total_indices INTEGER);" +
            "CREATE TABLE workers (worker_id TEXT PRIMARY KEY, run_id INTEGER);"
        )
        db.close()
        const before = snapshot(dbFile)
        const error = yield* refuses(dbFile, "ForeignSchema")
        expect(error.message).toContain("has a table workers without the columns pid, hostname, started_at")
        const read = yield* expectCheckpointError(Effect.scoped(SqliteCheckpointStore.openFile(dbFile)), "ForeignSchema", dbFile)
        expect(read.message).toContain("not a Curator checkpoint database")
        expect(snapshot(dbFile)).toEqual(before)
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("a database written by a newer Curator (migration 99) is NewerSchema, and left untouched", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "future.db")
        yield* runInto(dbFile, 2, "other")
        withRaw(dbFile, (raw) => {
          raw.prepare("INSERT INTO curator_migrations (migration_id, name) VALUES (99, 'from_the_future')").run()
        })
        const before = snapshot(dbFile)
        const error = yield* refuses(dbFile, "NewerSchema")
        expect(error.message).toContain("99")
        expect(snapshot(dbFile)).toEqual(before)
        expect(fs.readdirSync(dir)).toEqual(["future.db"])
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("openFile of a missing file is NotFound, and creates nothing", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "missing.db")
        yield* expectCheckpointError(Effect.scoped(SqliteCheckpointStore.openFile(dbFile)), "NotFound", dbFile)
        expect(fs.readdirSync(dir)).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(Live)))
  })

  describe("durability", () => {
    const Unflushed = Layer.mergeAll(
      // Nothing is written before the run's end or interruption: no timer, no full batch.
      SqliteCheckpointStore.layer({ flushInterval: "1 hour", maxBatch: 1_000_000 }),
      Backend.layerFibers,
      Logger.remove(Logger.defaultLogger)
    )

    it.live("the records of a run are in the file for openFile as soon as the run returns", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "flushed.db")
        yield* runInto(dbFile, 50)
        const { completed, workers } = yield* Effect.scoped(Effect.flatMap(
          SqliteCheckpointStore.openFile(dbFile),
          (c) => Effect.all({ completed: c.completedIndices, workers: c.workers })
        ))
        expect(completed.size).toBe(50)
        expect(workers).toHaveLength(2)
        expect(workers.every((w) => w.currentIndex === null)).toBe(true)
        expect(workers.reduce((sum, w) => sum + w.completedCount, 0)).toBe(50)
      }).pipe(Effect.scoped, Effect.provide(Unflushed)))

    it.live("an interrupted run has recorded every index whose sink finished, and no other", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "interrupted.db")
        const finished: Array<number> = []
        let blocked = 0
        const allBlocked = yield* Deferred.make<void>()
        const pipeline = Pipeline.from(Source.fromArray("Items", range(0, 20))).pipe(
          Pipeline.write(Sink.fromItems({
            name: "SlowFromSeven",
            write: (_: ReadonlyArray<number>, index) =>
              index < 7
                ? Effect.sync(() => {
                  finished.push(index)
                  return [`/out/${index}`]
                })
                : Effect.zipRight(
                  Effect.suspend(() => ++blocked === 3 ? Deferred.succeed(allBlocked, undefined) : Effect.void),
                  Effect.never
                )
          }), { resume: true, dbFile })
        )
        const fiber = yield* Effect.fork(Pipeline.run(pipeline, { concurrency: 3 }))
        yield* Deferred.await(allBlocked)
        yield* Fiber.interrupt(fiber)

        expect(finished.sort((a, b) => a - b)).toEqual(range(0, 7))
        const { completed, failed, remaining } = yield* Effect.scoped(Effect.flatMap(
          SqliteCheckpointStore.openFile(dbFile),
          (c) => Effect.all({ completed: c.completedIndices, failed: c.failedIndices, remaining: c.remainingIndices })
        ))
        expect([...completed].sort((a, b) => a - b)).toEqual(finished)
        expect(failed.size).toBe(0)
        expect(remaining).toEqual(range(7, 20))

        // A resumed run then computes only what is left.
        const resumed = yield* Pipeline.run(
          Pipeline.withOptions(
            Pipeline.from(Source.fromArray("Items", range(0, 20))).pipe(
              Pipeline.write(Sink.fromItems({ name: "SlowFromSeven", write: (_: ReadonlyArray<number>, index) => Effect.succeed([`/out/${index}`]) }))
            ),
            { resume: true, dbFile }
          )
        )
        expect(resumed.outcomes.filter((o) => o._tag === "Completed" && o.cached).map((o) => o.index)).toEqual(range(0, 7))
      }).pipe(Effect.scoped, Effect.provide(Unflushed)))
  })

  describe("two writer processes on one file", () => {
    const here = path.dirname(fileURLToPath(import.meta.url))
    const repositoryRoot = path.resolve(here, "../../..")
    const writerScript = path.join(here, "fixtures", "writer.ts")

    interface WriterReport {
      readonly computed: number
      readonly cached: number
      readonly failed: number
      /** The largest event-loop delay of the run, opening the database included. */
      readonly maxEventLoopDelayMs: number
      /** The same from the writer's first index on. */
      readonly steadyMaxEventLoopDelayMs: number
      readonly location: string
      /** When the run started and ended, in epoch milliseconds. */
      readonly startedAt: number
      readonly endedAt: number
    }

    /** Starts a writer process; it loads, says "ready", and waits for "go" on stdin. */
    const startWriter = (dbFile: string, from: number, to: number) => {
      const child: ChildProcess = spawn(
        process.execPath,
        ["--conditions=@curator/source", "--import", "tsx", writerScript, dbFile, String(from), String(to)],
        { cwd: repositoryRoot, stdio: ["pipe", "pipe", "pipe"] }
      )
      let stdout = ""
      let stderr = ""
      child.stdout!.on("data", (chunk) => (stdout += chunk))
      child.stderr!.on("data", (chunk) => (stderr += chunk))
      const ready = new Promise<void>((resolve, reject) => {
        const check = () => (stdout.includes("ready\n") ? resolve() : undefined)
        child.stdout!.on("data", check)
        child.on("exit", (code) => reject(new Error(`writer exited (${code}) before it was ready: ${stderr}`)))
      })
      const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
        child.on("exit", (code) => resolve({ code, stdout, stderr }))
      )
      return { child, ready, exited }
    }

    it.live("write disjoint indices concurrently: every index completed exactly once, no SQLITE_BUSY, the loop never frozen", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "shared.db")
        const writers = [startWriter(dbFile, 0, 1000), startWriter(dbFile, 1000, 2000)]
        yield* Effect.addFinalizer(() => Effect.sync(() => writers.forEach((w) => w.child.exitCode === null && w.child.kill())))
        yield* Effect.promise(() => Promise.all(writers.map((w) => w.ready)))
        for (const w of writers) w.child.stdin!.end("go\n")
        const results = yield* Effect.promise(() => Promise.all(writers.map((w) => w.exited)))

        for (const result of results) {
          expect(result.stderr).not.toMatch(/SQLITE_BUSY|SQLITE_LOCKED|database is locked/)
          expect(result.code, result.stderr).toBe(0)
        }
        const reports = results.map((r) => JSON.parse(r.stdout.split("\n").filter((line) => line.startsWith("{")).pop()!) as WriterReport)
        for (const report of reports) {
          expect(report).toMatchObject({ computed: 1000, cached: 0, failed: 0, location: dbFile })
        }
        // The two runs overlapped in time: they really wrote concurrently.
        expect(Math.max(...reports.map((r) => r.startedAt))).toBeLessThan(Math.min(...reports.map((r) => r.endedAt)))
        const ms = (values: ReadonlyArray<number>) => values.map((d) => `${d.toFixed(1)} ms`).join(", ")
        const delays = reports.map((r) => r.maxEventLoopDelayMs)
        const steadyDelays = reports.map((r) => r.steadyMaxEventLoopDelayMs)
        console.log(
          `two writers on one file: max event-loop delay per writer ${ms(delays)} (whole run); ${ms(steadyDelays)} (from the first index on)`
        )
        // Lock waits are retried in Effect, not slept through in SQLite's busy handler (5 s by default).
        // Only the steady part is bounded: startup (loading modules) blocks the loop whatever the store
        // does, and on a loaded 2-core machine scheduling alone delays it by a few hundred ms.
        expect(Math.max(...steadyDelays)).toBeLessThan(1_000)

        withRaw(dbFile, (db) => {
          expect(db.prepare("SELECT COUNT(*) AS n FROM pipeline_runs").get()).toEqual({ n: 1 })
          const rows = db.prepare("SELECT idx, status FROM index_results ORDER BY idx").all() as Array<{ idx: number; status: string }>
          expect(rows).toHaveLength(2000)
          expect(rows.every((row, i) => row.idx === i && row.status === "completed")).toBe(true)
          expect(db.prepare("SELECT COUNT(DISTINCT path) AS n FROM output_files").get()).toEqual({ n: 2000 })
          const pids = db.prepare("SELECT pid, SUM(completed_count) AS n FROM workers GROUP BY pid ORDER BY pid").all()
          expect(pids).toEqual(writers.map((w) => ({ pid: w.child.pid, n: 1000 })).sort((a, b) => a.pid! - b.pid!))
        }, { readonly: true })
        const summary = yield* Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(dbFile), (c) => c.summary))
        expect(summary).toMatchObject({ total: 2000, completed: 2000, failed: 0, remaining: 0 })
      }).pipe(Effect.scoped), { timeout: 60_000 })
  })
})

/**
 * The per-status totals that SQLite triggers keep (curator_status_totals):
 * after Curator's own writes (fresh records, failures recorded again as
 * successes, a reset), after writes of another tool straight into the file
 * (INSERT OR REPLACE, UPDATE, DELETE, as the Python reference may do), the
 * totals equal a count of the records, and the summary and statistics
 * users read say the same. An ignored insert that leaves them wrong is
 * detected: readers count instead, and the next writable open repairs them.
 */
import { Backend, Filter, Pipeline, Sink, Source } from "@curator/core"
import { SqliteCheckpointStore } from "@curator/node"
import { describe, expect, it } from "@effect/vitest"
import type Database from "better-sqlite3"
import { Effect, Layer, Logger, Stream } from "effect"
import * as path from "node:path"
import { tempDir, withRaw } from "./helpers.js"

const Live = Layer.mergeAll(SqliteCheckpointStore.layer(), Backend.layerFibers, Logger.remove(Logger.defaultLogger))

const n = 1000

/** Indices that fail while they are in `failing`; a filter that works on three items at once, out of order. */
const makePipeline = (dbFile: string, failing: Set<number>) =>
  Pipeline.from(Source.make({
    name: "Numbers",
    params: { n },
    length: n,
    items: (index) => failing.has(index) ? Effect.fail(new Error(`index ${index} is flaky`)) : Effect.succeed([index, index + 1])
  })).pipe(
    Pipeline.filter(Filter.make({
      name: "Shuffled",
      apply: (items: Stream.Stream<number>) =>
        Stream.mapEffect(items, (x) => Effect.as(Effect.sleep(`${x % 3} millis`), x * 2), { concurrency: 3, unordered: true })
    })),
    Pipeline.write(Sink.fromItems({ name: "Paths", write: (_: ReadonlyArray<number>, index) => Effect.succeed([`/out/${index}.json`]) })),
    Pipeline.withOptions({ dbFile, resume: true })
  )

interface Counted {
  readonly status: string
  readonly indices: number
  readonly wall_time_ns_sum: number
  readonly wall_time_ns_count: number
  readonly peak_memory_bytes_sum: number
  readonly peak_memory_bytes_count: number
}

/** The records counted by a scan, and the kept totals, per run and status. */
const countedAndKept = (db: Database) => ({
  counted: db.prepare(`SELECT run_id, status, COUNT(*) AS indices, COALESCE(SUM(wall_time_ns), 0) AS wall_time_ns_sum,
      COUNT(wall_time_ns) AS wall_time_ns_count, COALESCE(SUM(peak_memory_bytes), 0) AS peak_memory_bytes_sum,
      COUNT(peak_memory_bytes) AS peak_memory_bytes_count
    FROM index_results GROUP BY run_id, status ORDER BY run_id, status`).all() as Array<Counted>,
  kept: db.prepare(`SELECT run_id, status, indices, wall_time_ns_sum, wall_time_ns_count, peak_memory_bytes_sum, peak_memory_bytes_count
    FROM curator_status_totals WHERE indices > 0 ORDER BY run_id, status`).all() as Array<Counted>,
  markers: (db.prepare("SELECT COUNT(*) AS n FROM curator_status_totals_replacing").get() as { n: number }).n
})

/** What a user reads offline (read-only, as `curator status` and `curator metrics` do). */
const readOffline = (dbFile: string) =>
  Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(dbFile), (checkpoint) =>
    Effect.all({
      summary: checkpoint.summary,
      statistics: checkpoint.statistics(),
      completedStatistics: checkpoint.statistics("completed"),
      counts: checkpoint.recordedCounts
    })))

/** Expects what users read to be what a scan of the records says. */
const expectReadsMatchRecords = (dbFile: string) =>
  Effect.gen(function*() {
    const read = yield* readOffline(dbFile)
    const scan = withRaw(dbFile, (db) =>
      db.prepare(`SELECT SUM(status = 'completed') AS completed, SUM(status = 'error') AS failed, COUNT(*) AS n,
          AVG(wall_time_ns) AS wall_mean, SUM(wall_time_ns) AS wall_total, AVG(peak_memory_bytes) AS peak_mean,
          (SELECT SUM(wall_time_ns) FROM index_results WHERE status = 'completed') AS completed_wall,
          (SELECT AVG(peak_memory_bytes) FROM index_results WHERE status = 'completed') AS completed_peak_mean
        FROM index_results`).get(), { readonly: true }) as {
        readonly completed: number
        readonly failed: number
        readonly n: number
        readonly wall_mean: number
        readonly wall_total: number
        readonly peak_mean: number
        readonly completed_wall: number
        readonly completed_peak_mean: number
      }
    expect(read.counts).toEqual({ completed: scan.completed, failed: scan.failed })
    expect(read.summary).toMatchObject({ completed: scan.completed, failed: scan.failed, remaining: n - scan.completed - scan.failed })
    expect(read.statistics.count).toBe(scan.n)
    expect(read.statistics.wallTimeNs.total).toBe(scan.wall_total)
    expect(read.statistics.wallTimeNs.mean).toBeCloseTo(scan.wall_mean, 3)
    expect(read.statistics.peakMemoryBytes.mean).toBeCloseTo(scan.peak_mean, 3)
    expect(read.completedStatistics.wallTimeNs.total).toBe(scan.completed_wall)
    expect(read.completedStatistics.peakMemoryBytes.mean).toBeCloseTo(scan.completed_peak_mean, 3)
    return read
  })

const expectTotalsMatchRecords = (dbFile: string) => {
  const { counted, kept, markers } = withRaw(dbFile, countedAndKept, { readonly: true })
  expect(markers).toBe(0)
  expect(kept).toEqual(counted)
}

describe("status totals kept by triggers", () => {
  it.live("equal the records after a run with failures, a resume that records them again as successes, and a reset of one index", () =>
    Effect.gen(function*() {
      const dbFile = path.join(yield* tempDir(), "totals.db")
      const failing = new Set(Array.from({ length: n }, (_, i) => i).filter((i) => i % 7 === 0))
      yield* Pipeline.run(makePipeline(dbFile, failing), { concurrency: 8 })
      expectTotalsMatchRecords(dbFile)
      const first = yield* expectReadsMatchRecords(dbFile)
      expect(first.counts).toEqual({ completed: n - failing.size, failed: failing.size })

      // Resumed: most failures now succeed (an upsert turns an error row into a completed one).
      for (const i of [...failing]) if (i % 49 !== 0) failing.delete(i)
      yield* Pipeline.run(makePipeline(dbFile, failing), { concurrency: 8 })
      expectTotalsMatchRecords(dbFile)
      const second = yield* expectReadsMatchRecords(dbFile)
      expect(second.counts).toEqual({ completed: n - failing.size, failed: failing.size })

      // A reset of one index deletes its record.
      yield* Effect.scoped(Effect.flatMap(
        SqliteCheckpointStore.openFile(dbFile, { readonly: false }),
        (checkpoint) => checkpoint.resetIndex(5)
      ))
      expectTotalsMatchRecords(dbFile)
      const third = yield* expectReadsMatchRecords(dbFile)
      expect(third.counts.completed).toBe(second.counts.completed - 1)
    }).pipe(Effect.scoped, Effect.provide(Live)), 60_000)

  it.live("follow another tool's INSERT OR REPLACE, INSERT, UPDATE and DELETE; an ignored insert is counted around, then repaired", () =>
    Effect.gen(function*() {
      const dbFile = path.join(yield* tempDir(), "foreign.db")
      const failing = new Set([3, 4, 5, 6])
      yield* Pipeline.run(makePipeline(dbFile, failing), { concurrency: 4 })
      withRaw(dbFile, (db) => {
        const at = "2026-12-02T12:00:00.000000+00:00"
        // Delete triggers do not fire for the row REPLACE removes (recursive_triggers is off, as in Python's sqlite3).
        expect(db.pragma("recursive_triggers", { simple: true })).toBe(0)
        db.prepare(`INSERT OR REPLACE INTO index_results (idx, run_id, status, output_paths, completed_at, wall_time_ns, peak_memory_bytes)
          VALUES (3, 1, 'completed', '[]', ?, 1000, NULL)`).run(at)
        db.prepare(`REPLACE INTO index_results (idx, run_id, status, completed_at, wall_time_ns, peak_memory_bytes, error)
          VALUES (10, 1, 'error', ?, NULL, 77, 'broken')`).run(at)
        db.prepare("UPDATE index_results SET status = 'completed', wall_time_ns = 5, error = NULL WHERE idx = 4 AND run_id = 1").run()
        db.prepare("UPDATE index_results SET peak_memory_bytes = NULL WHERE idx BETWEEN 20 AND 29 AND run_id = 1").run()
        db.prepare("DELETE FROM index_results WHERE idx IN (11, 12) AND run_id = 1").run()
      })
      expectTotalsMatchRecords(dbFile)
      yield* expectReadsMatchRecords(dbFile)

      // An ignored insert over an existing row takes the old row out of the totals and adds nothing back.
      withRaw(dbFile, (db) =>
        db.prepare(`INSERT OR IGNORE INTO index_results (idx, run_id, status, completed_at, wall_time_ns)
          VALUES (13, 1, 'error', '2026-12-02T12:00:00.000000+00:00', 1)`).run())
      const left = withRaw(dbFile, countedAndKept, { readonly: true })
      expect(left.markers).toBe(1)
      expect(left.kept).not.toEqual(left.counted)
      // Readers see the marker and count the records instead.
      yield* expectReadsMatchRecords(dbFile)

      // The next run opens the file for writing and counts the totals afresh.
      yield* Pipeline.run(makePipeline(dbFile, failing), { concurrency: 4 })
      expectTotalsMatchRecords(dbFile)
      yield* expectReadsMatchRecords(dbFile)
    }).pipe(Effect.scoped, Effect.provide(Live)), 60_000)
})

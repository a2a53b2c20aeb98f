/**
 * What the checkpoint writer stores, on a real SQLite file: one record's bad
 * value costs only that index its record (the others of its batch are
 * written, the bad one becomes a failure that says which column held what),
 * and every text stored is valid UTF-8, even when user code hands over
 * strings with lone UTF-16 surrogates.
 */
import { Backend, type CheckpointStore, Filter, Pipeline, Sink, Source } from "@curator/core"
import { SqliteCheckpointStore } from "@curator/node"
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Layer, Logger } from "effect"
import * as path from "node:path"
import { specColumns, tempDir, withRaw } from "./helpers.js"

const request = (runDir: string): CheckpointStore.OpenRequest => ({
  configHash: "c0ffee".padEnd(64, "0"),
  configJson: "{}",
  totalIndices: 10,
  resume: true,
  runDir
})

const success = (index: number, paths: ReadonlyArray<string>): CheckpointStore.SuccessRecord => ({
  index,
  workerId: "worker-1",
  completedAt: "2026-12-02T00:00:00.000000+00:00",
  paths,
  wallTimeNs: 1_000_000,
  peakMemoryBytes: 0,
  gpuMemoryBytes: null,
  stages: [{ order: 0, name: "source", wallTimeNs: 1000 }, { order: 1, name: "sink", wallTimeNs: 2000 }],
  artifacts: []
})

/** Opens the file for a run, registers a worker, records `records`, and flushes them in one batch. */
const recordAll = (dbFile: string, records: ReadonlyArray<CheckpointStore.SuccessRecord>) =>
  Effect.gen(function*() {
    const checkpoint = yield* SqliteCheckpointStore.openForRun(dbFile, request(path.dirname(dbFile)), { maxBatch: 10_000 })
    yield* checkpoint.registerWorker({
      workerId: "worker-1",
      pid: process.pid,
      hostname: "here",
      startedAt: "2026-12-02T00:00:00.000000+00:00",
      invocationId: "inv"
    })
    for (const record of records) yield* checkpoint.recordSuccess(record)
    yield* checkpoint.flush
  }).pipe(Effect.scoped)

const resultsOf = (dbFile: string) =>
  withRaw(dbFile, (db) =>
    db.prepare("SELECT idx, status, error FROM index_results ORDER BY idx").all() as Array<
      { idx: number; status: string; error: string | null }
    >, { readonly: true })

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("one bad record costs only its own index", () => {
  it.scoped("a record the database refuses: every other record of the batch is written, the bad one is recorded failed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const dbFile = path.join(dir, "refusing.db")
      yield* recordAll(dbFile, [])
      // A rule of the database that this one record breaks (as a constraint or a trigger of a
      // user's own database would): the writer only learns it from the database's refusal.
      withRaw(dbFile, (db) =>
        db.exec(`CREATE TRIGGER refuse_bad_path BEFORE INSERT ON output_files WHEN NEW.path = '/out/bad'
          BEGIN SELECT RAISE(ABORT, 'this path is refused'); END`))

      yield* recordAll(dbFile, range(10).map((i) => success(i, [i === 7 ? "/out/bad" : `/out/${i}.json`])))

      const results = resultsOf(dbFile)
      expect(results.map((row) => [row.idx, row.status])).toEqual(range(10).map((i) => [i, i === 7 ? "error" : "completed"]))
      expect(results[7]!.error).toMatch(/^InvalidRecord: the database refused the record \(this path is refused\).*runs again next time$/)
      withRaw(dbFile, (db) => {
        const outputs = db.prepare("SELECT idx, path FROM output_files ORDER BY idx").all()
        expect(outputs).toEqual(range(10).filter((i) => i !== 7).map((i) => ({ idx: i, path: `/out/${i}.json` })))
        const stages = db.prepare("SELECT DISTINCT idx FROM stage_metrics ORDER BY idx").all()
        expect(stages).toEqual(range(10).filter((i) => i !== 7).map((idx) => ({ idx })))
        const worker = db.prepare("SELECT completed_count FROM workers").get()
        expect(worker).toEqual({ completed_count: 10 })
      }, { readonly: true })
    }))

  it.scoped("a path that is null or a number: that index is recorded failed naming the column and value, the others completed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const dbFile = path.join(dir, "bad-values.db")
      const bad: Record<number, unknown> = { 3: null, 4: 7, 5: undefined }
      yield* recordAll(
        dbFile,
        range(10).map((i) => success(i, [(i in bad ? bad[i] : `/out/${i}.json`) as string]))
      )
      const results = resultsOf(dbFile)
      expect(results.map((row) => [row.idx, row.status])).toEqual(
        range(10).map((i) => [i, i in bad ? "error" : "completed"])
      )
      expect(results[3]!.error).toMatch(/^InvalidRecord: output_files\.path: Expected string, actual null; /)
      expect(results[4]!.error).toMatch(/^InvalidRecord: output_files\.path: Expected string, actual 7; /)
      expect(results[5]!.error).toMatch(/^InvalidRecord: output_files\.path: Expected string, actual undefined; /)
      withRaw(dbFile, (db) => {
        const kinds = db.prepare("SELECT DISTINCT typeof(path) AS kind FROM output_files").all()
        expect(kinds).toEqual([{ kind: "text" }])
        expect(db.prepare("SELECT COUNT(*) AS n FROM output_files").get()).toEqual({ n: 7 })
      }, { readonly: true })
    }))
})

class Bad extends Data.TaggedError("Bad")<{ readonly message: string }> {}

const lone = "bad \ud800 thing"

describe("every text stored is valid UTF-8", () => {
  // (Params and component names cannot hold them: the configuration's canonical JSON refuses them.)
  it.scoped("errors, log lines, logger names and paths holding lone surrogates", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const dbFile = path.join(dir, "utf8.db")
      const pipeline = Pipeline.from(Source.make({
        name: "Numbers",
        length: 4,
        items: (index) => Effect.succeed([index])
      })).pipe(
        Pipeline.filter(Filter.mapEffect({
          name: "Square",
          f: (index: number) =>
            Effect.gen(function*() {
              yield* Effect.logWarning(`log ${lone}`)
              if (index === 1) return yield* new Bad({ message: `error ${lone}` })
              return index * index
            }).pipe(Effect.annotateLogs("logger", `logger \ud83d`))
        })),
        Pipeline.write(Sink.fromItems({
          name: "Paths",
          write: (_: ReadonlyArray<number>, index) => Effect.succeed([path.join(dir, `${index} \ud800.json`)])
        }))
      )
      const result = yield* Pipeline.run(Pipeline.withOptions(pipeline, { dbFile, resume: true }), { concurrency: 2 }).pipe(
        Effect.provide(Layer.mergeAll(SqliteCheckpointStore.layer(), Backend.layerFibers, Logger.remove(Logger.defaultLogger)))
      )
      expect(result.outcomes.map((outcome) => outcome._tag)).toEqual(["Completed", "Failed", "Completed", "Completed"])

      const decoder = new TextDecoder("utf-8", { fatal: true })
      const texts: Array<string> = []
      withRaw(dbFile, (db) => {
        for (const [table, columns] of Object.entries(specColumns)) {
          for (const [column, type] of columns) {
            if (type !== "TEXT") continue
            const rows = db.prepare(`SELECT CAST(${column} AS BLOB) AS bytes FROM ${table} WHERE ${column} IS NOT NULL`).all() as Array<
              { bytes: Buffer }
            >
            for (const { bytes } of rows) texts.push(decoder.decode(bytes))
          }
        }
      }, { readonly: true })
      // The lone surrogates were there and are now U+FFFD, in each kind of text.
      const stored = texts.join("\n")
      for (const expected of ["error bad \ufffd thing", "log bad \ufffd thing", "logger \ufffd", " \ufffd.json"]) {
        expect(stored).toContain(expected)
      }

      // The whole run reads back through the store.
      const checkpoint = yield* SqliteCheckpointStore.openFile(dbFile)
      expect((yield* checkpoint.failedIndices).get(1)).toContain("error bad \ufffd thing")
      expect((yield* checkpoint.logs()).some((row) => row.message.includes("log bad \ufffd thing"))).toBe(true)
      expect([...(yield* checkpoint.completedIndices)].sort()).toEqual([0, 2, 3])
    }))
})

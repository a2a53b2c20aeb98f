/**
 * Logs of a run in the SQLite `logs` table: what sources, filters and sinks
 * log (through both the item-wise and the stream paths) and what Curator
 * logs itself, with the reference's levels, the component that logged, and
 * the worker and index; level thresholds and query filters; and the lines
 * written before a run fails or is interrupted are not lost.
 */
import { Backend, type CheckpointStore, Filter, LogCapture, Pipeline, type RunResult, Sink, Source } from "@curator/core"
import { SqliteCheckpointStore } from "@curator/node"
import { describe, expect, it } from "@effect/vitest"
import { Data, Deferred, Effect, Fiber, Layer, Logger, Stream } from "effect"
import * as path from "node:path"
import { tempDir } from "./CheckpointStoreContract.js"

const Live = Layer.mergeAll(SqliteCheckpointStore.layer(), Backend.layerFibers, Logger.remove(Logger.defaultLogger))

class Boom extends Data.TaggedError("Boom")<{ readonly message: string }> {}

/** A fresh database directory for the scope, removed with everything in it when the scope closes. */
const dbDir = tempDir("curator-logs-")

/** Opens the database a run wrote, offline, and applies `f` to its checkpoint. */
const readBack = <A>(
  location: string,
  f: (checkpoint: CheckpointStore.Checkpoint) => Effect.Effect<A, CheckpointStore.CheckpointError>
) => Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(location), f))

const logsOf = (result: RunResult.RunResult<unknown>, query?: CheckpointStore.LogQuery) =>
  readBack(result.location!, (checkpoint) => checkpoint.logs(query))

/** `[logger_name, level_name, level, message]`: what a reader of the table sees of a line. */
const shown = (row: CheckpointStore.LogRow) => [row.loggerName, row.levelName, row.level, row.message] as const

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/**
 * The same three-stage pipeline two ways. "items": the source gives its
 * items at once and the sink takes them at once, so the run takes the
 * item-wise path. "streams": `read` streams, a stream filter and a stream
 * sink. Every stage logs once per index; the filter with a `shard`
 * annotation; the sink also at Debug level.
 */
const chatty = (shape: "items" | "streams", length: number, dir: string) => {
  const source = shape === "items"
    ? Source.make({
      name: "Numbers",
      params: { length, shape },
      length,
      items: (i) => Effect.as(Effect.logInfo(`read ${i}`), [i])
    })
    : Source.make({
      name: "Numbers",
      params: { length, shape },
      length,
      read: (i) => Stream.fromEffect(Effect.as(Effect.logInfo(`read ${i}`), i))
    })
  const warn = (n: number) => Effect.logWarning(`saw ${n}`).pipe(Effect.annotateLogs("shard", 3))
  const filter = shape === "items"
    ? Filter.mapEffect({ name: "Inspect", f: (n: number) => Effect.as(warn(n), n) })
    : Filter.make({ name: "Inspect", apply: (items: Stream.Stream<number>) => Stream.tap(items, warn) })
  const written = (n: number) => Effect.zipRight(Effect.logInfo(`wrote ${n}`), Effect.logDebug(`detail ${n}`))
  const sink = shape === "items"
    ? Sink.fromItems({
      name: "Collect",
      write: (items: ReadonlyArray<number>, i) => Effect.as(Effect.forEach(items, written), [`/out/${i}`])
    })
    : Sink.make({
      name: "Collect",
      write: (items: Stream.Stream<number>, i) => Effect.as(Stream.runForEach(items, written), [`/out/${i}`])
    })
  return Pipeline.from(source).pipe(Pipeline.filter(filter), Pipeline.write(sink, { dbDir: dir }))
}

describe("logs table", () => {
  for (const shape of ["items", "streams"] as const) {
    it.scopedLive(`${shape}: a source's, a filter's and a sink's logs land under their names, levels, index and worker`, () =>
      Effect.gen(function*() {
        const dir = yield* dbDir
        const result = yield* Pipeline.run(chatty(shape, 4, dir), { concurrency: 2 })
        const { logs, metrics, workers } = yield* readBack(result.location!, (c) =>
          Effect.all({ logs: c.logs(), metrics: c.metrics, workers: c.workers }))

        for (const i of range(4)) {
          expect(logs.filter((row) => row.index === i).map(shown)).toEqual([
            ["Numbers", "INFO", 20, `read ${i}`],
            ["Inspect", "WARNING", 30, `saw ${i} shard=3`],
            ["Collect", "INFO", 20, `wrote ${i}`]
          ])
        }
        // Every stage line names a worker of this run: the one recorded as having computed its index.
        const workerIds = new Set(workers.map((w) => w.workerId))
        expect(workerIds.size).toBe(2)
        const workerOf = new Map(metrics.map((m) => [m.index, m.workerId]))
        for (const row of logs.filter((row) => row.loggerName !== LogCapture.frameworkLogger)) {
          expect(workerIds.has(row.workerId!)).toBe(true)
          expect(row.workerId).toBe(workerOf.get(row.index!))
        }
        // Curator's own lines, outside any index, with its annotations rendered.
        const own = logs.filter((row) => row.loggerName === "curator")
        expect(own.map((row) => [row.levelName, row.index, row.workerId])).toEqual([
          ["INFO", null, null],
          ["INFO", null, null]
        ])
        expect(own[0]!.message).toMatch(/^run started: 4 to compute, 0 from the checkpoint /)
        expect(own[0]!.message.split(" ").slice(9).sort()).toEqual(
          ["backend=fibers", "concurrency=2", `config_hash=${result.configHash}`]
        )
        expect(own[1]!.message).toBe("run finished: 4 completed (0 from the checkpoint), 0 failed")
        expect(logs.filter((row) => row.index === null)).toEqual(own)
        for (const row of logs) expect(Number.isNaN(Date.parse(row.timestamp))).toBe(false)
      }).pipe(Effect.provide(Live)))
  }

  it.scopedLive("concurrent indices never mix their lines", () =>
    Effect.gen(function*() {
      const dir = yield* dbDir
      const pipeline = Pipeline.from(Source.fromArray("Numbers", range(12))).pipe(
        Pipeline.filter(Filter.mapEffect({
          name: "Slow",
          f: (n: number) =>
            Effect.logInfo(`begins ${n}`).pipe(
              Effect.zipRight(Effect.sleep(`${2 + ((n * 7) % 5) * 3} millis`)),
              Effect.zipRight(Effect.logInfo(`ends ${n}`)),
              Effect.as(n)
            )
        })),
        Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/drop/${i}`] }), { dbDir: dir })
      )
      const result = yield* Pipeline.run(pipeline, { concurrency: 4 })
      const { logs, metrics, workers } = yield* readBack(result.location!, (c) =>
        Effect.all({ logs: c.logs({ minLevel: 20 }), metrics: c.metrics, workers: c.workers }))

      const stageLines = logs.filter((row) => row.loggerName === "Slow")
      expect(stageLines).toHaveLength(24)
      for (const row of stageLines) expect(row.index).toBe(Number(row.message.split(" ")[1]))
      const workerOf = new Map(metrics.map((m) => [m.index, m.workerId]))
      for (const row of stageLines) expect(row.workerId).toBe(workerOf.get(row.index!))
      const workerIds = new Set(workers.map((w) => w.workerId))
      expect(workerIds.size).toBe(4)
      for (const row of stageLines) expect(workerIds.has(row.workerId!)).toBe(true)
      // The indices did overlap: some index began while another had begun and not ended.
      const open = new Set<number>()
      let overlapped = false
      for (const row of stageLines) {
        if (row.message.startsWith("begins")) {
          if (open.size > 0) overlapped = true
          open.add(row.index!)
        } else open.delete(row.index!)
      }
      expect(overlapped).toBe(true)
    }).pipe(Effect.provide(Live)))

  it.scopedLive("logged values are rendered: errors by name and message, other values as JSON", () =>
    Effect.gen(function*() {
      const dir = yield* dbDir
      const pipeline = Pipeline.from(Source.fromArray("Numbers", [0])).pipe(
        Pipeline.write(Sink.fromItems({
          name: "Collect",
          write: (_: ReadonlyArray<number>, i) =>
            Effect.all([
              Effect.logError("cannot write", new Error("disk full")),
              Effect.logWarning("retrying after", new Boom({ message: "locked" })),
              Effect.logInfo("wrote", { rows: 3, path: `/out/${i}` }, 2)
            ]).pipe(Effect.as([`/out/${i}`]))
        }), { dbDir: dir })
      )
      const logs = yield* logsOf(yield* Pipeline.run(pipeline), { index: 0 })
      expect(logs.map((row) => row.message)).toEqual([
        "cannot write Error: disk full",
        "retrying after Boom: locked",
        `wrote {"rows":3,"path":"/out/0"} 2`
      ])
    }).pipe(Effect.provide(Live)))

  describe("levels", () => {
    /** Each index's sink logs once at every level. */
    const everyLevel = (dir: string) =>
      Pipeline.from(Source.fromArray("Numbers", range(3))).pipe(
        Pipeline.write(Sink.fromItems({
          name: "Levels",
          write: (_: ReadonlyArray<number>, i) =>
            Effect.all([
              Effect.logTrace(`trace ${i}`),
              Effect.logDebug(`debug ${i}`),
              Effect.logInfo(`info ${i}`),
              Effect.logWarning(`warning ${i}`),
              Effect.logError(`error ${i}`),
              Effect.logFatal(`fatal ${i}`)
            ]).pipe(Effect.as([`/out/${i}`]))
        }), { dbDir: dir })
      )

    const levelsOf = (logs: ReadonlyArray<CheckpointStore.LogRow>, index: number) =>
      logs.filter((row) => row.index === index).map((row) => [row.levelName, row.level, row.message])

    it.scopedLive("the default threshold (Info) drops Debug and Trace; each level has the reference's number", () =>
      Effect.gen(function*() {
        const result = yield* Pipeline.run(everyLevel(yield* dbDir))
        expect(levelsOf(yield* logsOf(result), 1)).toEqual([
          ["INFO", 20, "info 1"],
          ["WARNING", 30, "warning 1"],
          ["ERROR", 40, "error 1"],
          ["CRITICAL", 50, "fatal 1"]
        ])
      }).pipe(Effect.provide(Live)))

    it.scopedLive("logLevel Debug keeps Debug, Trace keeps Trace (5), Warning drops Curator's Info lines too", () =>
      Effect.gen(function*() {
        const dir = yield* dbDir
        const debug = yield* logsOf(yield* Pipeline.run(everyLevel(dir), { logLevel: "Debug" }))
        expect(levelsOf(debug, 0).slice(0, 2)).toEqual([["DEBUG", 10, "debug 0"], ["INFO", 20, "info 0"]])
        expect(debug.some((row) => row.levelName === "TRACE")).toBe(false)

        const trace = yield* logsOf(yield* Pipeline.run(everyLevel(dir), { logLevel: "Trace" }))
        expect(levelsOf(trace, 2).slice(0, 2)).toEqual([["TRACE", 5, "trace 2"], ["DEBUG", 10, "debug 2"]])

        const warning = yield* logsOf(yield* Pipeline.run(everyLevel(dir), { logLevel: "Warning" }))
        expect(new Set(warning.map((row) => row.levelName))).toEqual(new Set(["WARNING", "ERROR", "CRITICAL"]))
        expect(warning.some((row) => row.loggerName === "curator")).toBe(false)
      }).pipe(Effect.provide(Live)))

    it.scopedLive("queries filter by minimum level, index, worker and id", () =>
      Effect.gen(function*() {
        const dir = yield* dbDir
        const result = yield* Pipeline.run(everyLevel(dir), { concurrency: 2, logLevel: "Debug" })
        const all = yield* logsOf(result)
        // 3 indices × 5 levels kept (no Trace), besides Curator's own lines.
        expect(all.filter((row) => row.index !== null)).toHaveLength(15)
        expect(all.map((row) => row.id)).toEqual([...all.map((row) => row.id)].sort((a, b) => a - b))

        const severe = yield* logsOf(result, { minLevel: 40 })
        expect(severe).toEqual(all.filter((row) => row.level >= 40))
        expect(severe.map((row) => row.levelName)).toEqual(["ERROR", "CRITICAL", "ERROR", "CRITICAL", "ERROR", "CRITICAL"])

        const ofIndex = yield* logsOf(result, { index: 2 })
        expect(ofIndex.map((row) => row.message)).toEqual(["debug 2", "info 2", "warning 2", "error 2", "fatal 2"])

        const worker = all.find((row) => row.index === 1)!.workerId!
        const ofWorker = yield* logsOf(result, { workerId: worker })
        expect(ofWorker).toEqual(all.filter((row) => row.workerId === worker))
        expect(ofWorker.length).toBeGreaterThanOrEqual(5)
        expect(ofWorker.length).toBeLessThan(all.length)

        const since = all[6]!.id
        expect(yield* logsOf(result, { sinceId: since })).toEqual(all.slice(7))
        expect(yield* logsOf(result, { sinceId: since, limit: 2 })).toEqual(all.slice(7, 9))
        expect(yield* logsOf(result, { sinceId: all[all.length - 1]!.id })).toEqual([])
        expect(yield* logsOf(result, { index: 0, minLevel: 30, workerId: all.find((r) => r.index === 0)!.workerId! }))
          .toEqual(all.filter((row) => row.index === 0 && row.level >= 30))
      }).pipe(Effect.provide(Live)))
  })

  describe("nothing logged is lost when a run stops early", () => {
    it.scopedLive("failFast: the failed index's ERROR line and its stage's earlier lines, and an in-flight index's lines", () =>
      Effect.gen(function*() {
        const dbFile = path.join(yield* dbDir, "failfast.db")
        const pipeline = Pipeline.from(Source.fromArray("Numbers", range(6))).pipe(
          Pipeline.filter(Filter.mapEffect({
            name: "Check",
            f: (n: number) =>
              Effect.logInfo(`checking ${n}`).pipe(
                // Index 0 is still at work when index 1 fails: the run interrupts it, and it says so.
                Effect.zipRight(
                  n === 0
                    ? Effect.onInterrupt(Effect.sleep("2 seconds"), () => Effect.logWarning(`abandoning ${n}`))
                    : Effect.void
                ),
                Effect.zipRight(n === 1 ? Effect.fail(new Boom({ message: `${n} is bad` })) : Effect.succeed(n))
              )
          })),
          Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/drop/${i}`] }), { dbFile })
        )
        const error = yield* Effect.flip(Pipeline.run(pipeline, { concurrency: 2, failFast: true }))
        expect(error._tag).toBe("IndexFailed")

        const { failed, logs } = yield* readBack(dbFile, (c) => Effect.all({ logs: c.logs(), failed: c.failedIndices }))
        expect(failed).toEqual(new Map([[1, "Boom: 1 is bad"]]))
        expect(logs.filter((row) => row.index === 1).map(shown)).toEqual([
          ["Check", "INFO", 20, "checking 1"],
          // The failure's line is the failing stage's, like its own lines.
          ["Check", "ERROR", 40, "index 1 failed: Boom: 1 is bad"]
        ])
        // Index 0's lines, the last one logged as the failure interrupted it: only the run's finalizer can write that one.
        expect(logs.filter((row) => row.index === 0).map(shown)).toEqual([
          ["Check", "INFO", 20, "checking 0"],
          ["Check", "WARNING", 30, "abandoning 0"]
        ])
        expect(logs.some((row) => row.index !== null && row.index > 1)).toBe(false)
        expect(logs.some((row) => row.message.startsWith("run finished"))).toBe(false)
      }).pipe(Effect.provide(Live)))

    it.scopedLive("interruption: finished indices' lines, and the lines the interrupted index logged so far", () =>
      Effect.gen(function*() {
        const dbFile = path.join(yield* dbDir, "interrupted.db")
        const reached = yield* Deferred.make<void>()
        const pipeline = Pipeline.from(Source.make({
          name: "Numbers",
          params: { length: 20 },
          length: 20,
          items: (i) =>
            Effect.logInfo(`start ${i}`).pipe(
              Effect.zipRight(i === 3 ? Deferred.succeed(reached, undefined) : Effect.void),
              Effect.zipRight(
                i === 3
                  ? Effect.onInterrupt(Effect.sleep("1 minute"), () => Effect.logWarning(`stopping ${i}`))
                  : Effect.sleep("5 millis")
              ),
              Effect.as([i])
            )
        })).pipe(
          Pipeline.write(Sink.fromItems({
            name: "Collect",
            write: (_: ReadonlyArray<number>, i) => Effect.as(Effect.logInfo(`done ${i}`), [`/out/${i}`])
          }), { dbFile })
        )
        const running = yield* Effect.fork(Pipeline.run(pipeline))
        yield* Deferred.await(reached)
        yield* Fiber.interrupt(running)

        const { completed, logs } = yield* readBack(dbFile, (c) => Effect.all({ logs: c.logs(), completed: c.completedIndices }))
        expect(completed).toEqual(new Set([0, 1, 2]))
        for (const i of [0, 1, 2]) {
          expect(logs.filter((row) => row.index === i).map(shown)).toEqual([
            ["Numbers", "INFO", 20, `start ${i}`],
            ["Collect", "INFO", 20, `done ${i}`]
          ])
        }
        // The interrupted index: what it logged before, and as it was interrupted (written by the run's finalizer).
        expect(logs.filter((row) => row.index === 3).map(shown)).toEqual([
          ["Numbers", "INFO", 20, "start 3"],
          ["Numbers", "WARNING", 30, "stopping 3"]
        ])
        expect(logs.some((row) => row.index !== null && row.index > 3)).toBe(false)
        expect(logs.filter((row) => row.index === null).map((row) => row.message.split(":")[0])).toEqual(["run started"])
      }).pipe(Effect.provide(Live)))
  })
})

/**
 * The behaviour every `CheckpointStore` must show, as one shared suite: real
 * pipelines run through the store, and their records are read back through
 * the `Checkpoint` queries. `checkpointStoreContract` defines the suite for
 * one implementation; `CheckpointStore.test.ts` runs it against each.
 */
import { Backend, CheckpointStore, Filter, Pipeline, Provenance, Sink, Source, Timestamp } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Data, Effect, Layer, Logger, Option, type Scope, Stream } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import { Boom, hex32, makeProbe, outcomesOf, type Probe, range } from "../packages/core/test/helpers.js"
import { tempDir, timestampPattern } from "../packages/node/test/helpers.js"
import * as NodeHost from "../packages/node/src/NodeHost.js"

// The probe pipeline and outcome view of the core tests serve this suite too.
export { makeProbe, outcomesOf, tempDir }

/** How a test runs a probe: which indices, how wide, and pipeline options that do not change its hash. */
export interface ProbeRun {
  readonly indices?: ReadonlyArray<number>
  readonly concurrency?: number
  readonly resume?: boolean
  readonly trackMemory?: boolean
}

/** What a test body may use: the store and backend in context, and its own database directory. */
export type Env = CheckpointStore.CheckpointStore | Backend.Backend | Scope.Scope

/**
 * Where a store keeps a database: whether `location` is the database named
 * `name` (SPEC.md's file name without `.db`, as a pattern) for runs given
 * `dbDir`. By default, a file `name.db` in `dbDir`.
 */
export type LocationCheck = (location: string, dbDir: string, name: string) => boolean

const fileInDbDir: LocationCheck = (location, dbDir, name) =>
  location.includes(dbDir) && new RegExp(`^${name}\\.db$`).test(path.basename(location))

/**
 * Defines the shared behavioural suite of a checkpoint store. Each test gets
 * a fresh temporary `dbDir` (removed afterwards) and calls `makeLayer` with
 * it once: that one store instance serves the whole test, its runs and the
 * checkpoints it opens to read them. Runs pass `dbDir` to the pipeline, so
 * no test touches the user's cache directory.
 */
export const checkpointStoreContract = (
  name: string,
  makeLayer: (dbDir: string) => Layer.Layer<CheckpointStore.CheckpointStore>,
  isLocation: LocationCheck = fileInDbDir
): void => {
  /** Runs a test body with a fresh database directory, a fresh store instance and the fibers backend. */
  const withStore = <A, E>(body: (dbDir: string) => Effect.Effect<A, E, Env>) =>
    Effect.gen(function*() {
      const dbDir = yield* tempDir("curator-contract-")
      // The store's layer is released (connections closed) before the directory is removed.
      return yield* body(dbDir).pipe(
        Effect.provide(Layer.mergeAll(makeLayer(dbDir), Backend.layerFibers, NodeHost.platform, Logger.remove(Logger.defaultLogger)))
      )
    }).pipe(Effect.scoped)

  /** Runs the probe's pipeline into `dbDir`. */
  const run = (probe: Probe, dbDir: string, options: ProbeRun = {}) =>
    Pipeline.run(
      Pipeline.withOptions(probe.pipeline, {
        dbDir,
        ...(options.resume === undefined ? {} : { resume: options.resume }),
        ...(options.trackMemory === undefined ? {} : { trackMemory: options.trackMemory })
      }),
      { indices: options.indices, concurrency: options.concurrency ?? 1 }
    )

  /**
   * Opens the checkpoint of `pipeline` through the store in context, as a
   * resumed run would (`dbDir`), or a given database (`dbFile`, e.g. a
   * fresh run's `location`), and applies `f` to it in a scope of its own.
   */
  const withCheckpoint = <A, E>(
    pipeline: Pipeline.Any,
    where: { readonly dbDir: string } | { readonly dbFile: string },
    f: (checkpoint: CheckpointStore.Checkpoint) => Effect.Effect<A, E>
  ) =>
    Effect.gen(function*() {
      const store = yield* CheckpointStore.CheckpointStore
      const length = yield* pipeline.source.length
      const checkpoint = yield* store.open({
        configHash: pipeline.configHash,
        configJson: Provenance.canonicalJson(pipeline.config),
        totalIndices: length,
        resume: true,
        ...where,
        runDir: process.cwd()
      })
      return yield* f(checkpoint)
    }).pipe(Effect.scoped)

  describe(`CheckpointStore contract: ${name}`, () => {
    for (const streamed of [false, true]) {
      it.live(`a resumed run short-circuits completed indices (${streamed ? "streamed" : "item-wise"} stages)`, () =>
        withStore((dbDir) =>
          Effect.gen(function*() {
            const probe = makeProbe({ length: 6, streamed })
            const first = yield* run(probe, dbDir, { concurrency: 2 })
            expect(outcomesOf(first)).toEqual(range(0, 6).map((index) => ({ index, cached: false, paths: probe.pathsOf(index) })))
            expect(probe.counts).toEqual({ source: 6, filter: 6, sink: 6 })
            expect(isLocation(first.location!, dbDir, probe.pipeline.configHash.slice(0, 16))).toBe(true)

            const second = yield* run(probe, dbDir, { concurrency: 2 })
            expect(probe.counts).toEqual({ source: 6, filter: 6, sink: 6 })
            expect(outcomesOf(second)).toEqual(range(0, 6).map((index) => ({ index, cached: true, paths: probe.pathsOf(index) })))
            expect(second.location).toBe(first.location)

            const completed = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.completedIndices)
            expect([...completed].sort((a, b) => a - b)).toEqual(range(0, 6))
          })
        ))
    }

    it.live("a resumed run computes only the indices not yet completed, in the requested order", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 8 })
          yield* run(probe, dbDir, { indices: [5, 1, 3] })
          expect(probe.counts.sink).toBe(3)
          const result = yield* run(probe, dbDir, { indices: [7, 5, 6, 1, 0], concurrency: 3 })
          expect(probe.counts).toEqual({ source: 6, filter: 6, sink: 6 })
          expect(outcomesOf(result)).toEqual([
            { index: 7, cached: false, paths: probe.pathsOf(7) },
            { index: 5, cached: true, paths: probe.pathsOf(5) },
            { index: 6, cached: false, paths: probe.pathsOf(6) },
            { index: 1, cached: true, paths: probe.pathsOf(1) },
            { index: 0, cached: false, paths: probe.pathsOf(0) }
          ])
        })
      ))

    it.live("resume: false recomputes everything, each run in a fresh database of its own", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 4 })
          const first = yield* run(probe, dbDir, { resume: true })
          const fresh1 = yield* run(probe, dbDir, { resume: false })
          const fresh2 = yield* run(probe, dbDir, { resume: false })
          expect(probe.counts).toEqual({ source: 12, filter: 12, sink: 12 })
          for (const result of [fresh1, fresh2]) {
            expect(outcomesOf(result)).toEqual(range(0, 4).map((index) => ({ index, cached: false, paths: probe.pathsOf(index) })))
            expect(isLocation(result.location!, dbDir, `${probe.pipeline.configHash.slice(0, 16)}_\\d+`)).toBe(true)
          }
          expect(new Set([first.location, fresh1.location, fresh2.location]).size).toBe(3)
          // Each fresh database holds the records of its own run.
          for (const result of [fresh1, fresh2]) {
            const [completed, workers] = yield* withCheckpoint(
              probe.pipeline,
              { dbFile: result.location! },
              (c) => Effect.all([c.completedIndices, c.workers])
            )
            expect([...completed].sort()).toEqual(range(0, 4))
            expect(workers).toHaveLength(1)
          }
          // The stable database was not touched by the fresh runs.
          const stable = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.workers)
          expect(stable).toHaveLength(1)
        })
      ))

    it.live("a failed index is recorded as failed, then retried by a resumed run and its failure replaced", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 8, failing: [2, 5] })
          const first = yield* run(probe, dbDir, { concurrency: 2 })
          expect(outcomesOf(first).filter((o) => "failed" in o)).toEqual([
            { index: 2, failed: "Boom: index 2 is bad" },
            { index: 5, failed: "Boom: index 5 is bad" }
          ])
          const before = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.all({
              completed: c.completedIndices,
              failed: c.failedIndices,
              remaining: c.remainingIndices,
              metrics: c.metrics,
              outputs: c.outputsOf(2)
            }))
          expect(before.failed).toEqual(new Map([[2, "Boom: index 2 is bad"], [5, "Boom: index 5 is bad"]]))
          expect([...before.completed].sort()).toEqual([0, 1, 3, 4, 6, 7])
          expect(before.remaining).toEqual([])
          expect(Option.isNone(before.outputs)).toBe(true)
          const failedRow = before.metrics.find((m) => m.index === 2)!
          expect(failedRow).toMatchObject({ status: "error", error: "Boom: index 2 is bad" })
          expect(failedRow.workerId).toMatch(hex32)

          probe.failing.clear()
          const second = yield* run(probe, dbDir, { concurrency: 2 })
          expect(probe.counts.sink).toBe(8)
          expect(probe.counts.filter).toBe(10)
          expect(outcomesOf(second)).toEqual(
            range(0, 8).map((index) => ({ index, cached: index !== 2 && index !== 5, paths: probe.pathsOf(index) }))
          )
          const after = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.all({ completed: c.completedIndices, failed: c.failedIndices, metrics: c.metrics, summary: c.summary }))
          expect(after.failed.size).toBe(0)
          expect([...after.completed].sort()).toEqual(range(0, 8))
          expect(after.metrics.find((m) => m.index === 2)).toMatchObject({ status: "completed", error: null })
          expect(after.metrics.find((m) => m.index === 2)!.stages.map((s) => s.order)).toEqual([0, 1, 2])
          expect(after.summary).toMatchObject({ completed: 8, failed: 0, errors: 0, remaining: 0 })
        })
      ))

    it.live("a failure is recorded as \"<Tag or name>: <message>\", whichever stage raised it", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          class SourceMissing extends Data.TaggedError("SourceMissing")<{ readonly message: string }> {}
          const pipeline = Pipeline.from(Source.make({
            name: "Files",
            length: 4,
            items: (index) => index === 0 ? Effect.fail(new SourceMissing({ message: "no shard 0" })) : Effect.succeed([index])
          })).pipe(
            Pipeline.filter(Filter.mapEffect({
              name: "Check",
              f: (n: number) => n === 1 ? Effect.die(new TypeError("cannot read 'x' of undefined")) : Effect.succeed(n)
            })),
            Pipeline.write(Sink.fromItems({
              name: "Out",
              write: (_: ReadonlyArray<number>, index) =>
                index === 2 ? Effect.fail(new RangeError("disk full")) : Effect.succeed([`/out/${index}`])
            }), { resume: true, dbDir })
          )
          const result = yield* Pipeline.run(pipeline)
          const expected = new Map([
            [0, "SourceMissing: no shard 0"],
            [1, "TypeError: cannot read 'x' of undefined"],
            [2, "RangeError: disk full"]
          ])
          expect(new Map(result.outcomes.flatMap((o) => o._tag === "Failed" ? [[o.index, o.message] as const] : []))).toEqual(expected)
          const failed = yield* withCheckpoint(pipeline, { dbDir }, (c) => c.failedIndices)
          expect(failed).toEqual(expected)
        })
      ))

    it.live("reset clears every record; the next run recomputes everything as new records", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 5, failing: [4] })
          yield* run(probe, dbDir, { concurrency: 2 })
          const oldWorkers = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.workers)
          const cleared = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.zipRight(
              c.reset,
              Effect.all({
                completed: c.completedIndices,
                failed: c.failedIndices,
                remaining: c.remainingIndices,
                metrics: c.metrics,
                workers: c.workers,
                logs: c.logs(),
                summary: c.summary,
                total: c.totalIndices,
                outputs: c.outputsOf(0),
                owner: c.indexOfOutput(probe.pathsOf(0)[0]!)
              })
            ))
          expect(cleared.completed.size).toBe(0)
          expect(cleared.failed.size).toBe(0)
          expect(cleared.remaining).toEqual(range(0, 5))
          expect(cleared.metrics).toEqual([])
          expect(cleared.workers).toEqual([])
          expect(cleared.logs).toEqual([])
          expect(Option.isNone(cleared.outputs)).toBe(true)
          expect(Option.isNone(cleared.owner)).toBe(true)
          expect(cleared.summary).toMatchObject({ total: 5, completed: 0, failed: 0, remaining: 5, workers: 0 })
          expect(cleared.total).toBe(5)

          // A reset is seen by a later open, too.
          const reopened = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.completedIndices)
          expect(reopened.size).toBe(0)

          probe.failing.clear()
          const again = yield* run(probe, dbDir, { concurrency: 2 })
          expect(outcomesOf(again).every((o) => "cached" in o && !o.cached)).toBe(true)
          expect(probe.counts.sink).toBe(4 + 5)
          const workers = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.workers)
          expect(workers).toHaveLength(2)
          const oldIds = new Set(oldWorkers.map((w) => w.workerId))
          expect(workers.some((w) => oldIds.has(w.workerId))).toBe(false)
        })
      ))

    it.live("resetIndex(i) forgets only index i, which the next run computes alone", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 6 })
          yield* run(probe, dbDir)
          const lane = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.workers)
          expect(lane.map((w) => w.completedCount)).toEqual([6])
          const state = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.zipRight(
              c.resetIndex(3),
              Effect.all({
                completed: c.completedIndices,
                remaining: c.remainingIndices,
                outputs: c.outputsOf(3),
                owner: c.indexOfOutput(probe.pathsOf(3)[0]!),
                other: c.outputsOf(4),
                metrics: c.metrics
              })
            ))
          expect([...state.completed].sort()).toEqual([0, 1, 2, 4, 5])
          expect(state.remaining).toEqual([3])
          expect(Option.isNone(state.outputs)).toBe(true)
          expect(Option.isNone(state.owner)).toBe(true)
          expect(state.other).toEqual(Option.some(probe.pathsOf(4)))
          expect(state.metrics.map((m) => m.index)).toEqual([0, 1, 2, 4, 5])

          const result = yield* run(probe, dbDir)
          expect(probe.counts).toEqual({ source: 7, filter: 7, sink: 7 })
          expect(outcomesOf(result).filter((o) => "cached" in o && !o.cached).map((o) => o.index)).toEqual([3])
          const after = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.all({ completed: c.completedIndices, workers: c.workers }))
          expect(after.completed.size).toBe(6)
          // Each run's lane counts what it completed; the first lane keeps its count.
          expect(after.workers.map((w) => w.completedCount)).toEqual([6, 1])
        })
      ))

    it.live("failure details: attempts, class and stage kept with each record, permanent failures counted to quarantine, lifted by resetIndex and liftQuarantine", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 4 })
          const at = yield* Timestamp.now
          const failure = (index: number, failureClass: "transient" | "permanent", stage?: string) => ({
            index,
            stage,
            workerId: "f".repeat(32),
            completedAt: at,
            error: "Boom: bad",
            wallTimeNs: 1,
            peakMemoryBytes: 0,
            attempts: 2,
            failureClass,
            quarantineAfter: 2
          })
          const details = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.gen(function*() {
              yield* c.recordFailure(failure(0, "permanent", "Check"))
              yield* c.recordFailure(failure(1, "transient"))
              yield* c.recordFailure(failure(2, "permanent", "source"))
              const once = yield* c.quarantinedIndexSet
              // A later run: 0 fails permanently again (quarantined, now in the sink), 1 again transiently
              // (its stage unknown), 2 succeeds on attempt 3.
              yield* c.recordFailure(failure(0, "permanent", "sink"))
              yield* c.recordFailure(failure(1, "transient"))
              yield* c.recordSuccess({
                index: 2,
                workerId: "f".repeat(32),
                completedAt: at,
                paths: ["/x/2"],
                wallTimeNs: 1,
                peakMemoryBytes: 0,
                gpuMemoryBytes: null,
                stages: [],
                artifacts: [],
                attempts: 3
              })
              return { once: once.size, details: yield* c.failureDetails([0, 1, 2, 3]), quarantined: yield* c.quarantinedIndexSet }
            }))
          expect(details.once).toBe(0)
          expect([...details.quarantined]).toEqual([0])
          expect(details.details.get(0)).toEqual({
            index: 0,
            attempts: 2,
            failureClass: "permanent",
            permanentFailures: 2,
            quarantined: true,
            stage: "sink"
          })
          expect(details.details.get(1)).toEqual({
            index: 1,
            attempts: 2,
            failureClass: "transient",
            permanentFailures: 0,
            quarantined: false,
            stage: null
          })
          expect(details.details.get(2)).toEqual({ index: 2, attempts: 3, failureClass: null, permanentFailures: 0, quarantined: false, stage: null })
          expect(details.details.has(3)).toBe(false)
          // The error column keeps SPEC's text.
          expect((yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.failedIndices)).get(0)).toBe("Boom: bad")

          const lifted = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.gen(function*() {
              const count = yield* c.liftQuarantine
              const afterLift = (yield* c.quarantinedIndexSet).size
              yield* c.recordFailure(failure(0, "permanent"))
              const once = (yield* c.quarantinedIndexSet).size
              yield* c.recordFailure(failure(0, "permanent"))
              const again = (yield* c.quarantinedIndexSet).size
              yield* c.resetIndex(0)
              return { count, afterLift, once, again, reset: (yield* c.quarantinedIndexSet).size, gone: (yield* c.failureDetails([0])).size }
            }))
          expect(lifted).toEqual({ count: 1, afterLift: 0, once: 0, again: 1, reset: 0, gone: 0 })
        })
      ))

    it.live("summary counts the records and describes the latest run", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 10, failing: [4] })
          const first = yield* run(probe, dbDir, { indices: [0, 1, 2, 3, 4], concurrency: 3 })
          const summary1 = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.summary)
          expect(summary1).toMatchObject({
            total: 10,
            completed: 4,
            failed: 1,
            remaining: 5,
            errors: 1,
            workers: 3,
            config_hash: probe.pipeline.configHash,
            db_path: first.location
          })

          // Index 4 still fails; 5..9 are new: 6 to compute on 2 lanes.
          yield* run(probe, dbDir, { concurrency: 2 })
          const { metrics, summary } = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.all({ summary: c.summary, metrics: c.metrics }))
          const done = metrics.filter((m) => m.status === "completed")
          const wall = done.reduce((sum, m) => sum + m.wallTimeNs!, 0)
          expect(summary).toEqual({
            total: 10,
            completed: 9,
            failed: 1,
            remaining: 0,
            errors: 1,
            avg_time_ms: Number((wall / 9 / 1e6).toFixed(3)),
            total_elapsed_s: Number((wall / 1e9).toFixed(6)),
            elapsed_s: summary.elapsed_s,
            workers: 2,
            config_hash: probe.pipeline.configHash,
            db_path: first.location
          })
          expect(summary.elapsed_s).toBeGreaterThanOrEqual(0)
          expect(summary.elapsed_s).toBeLessThan(60)
          expect(summary.avg_time_ms).toBeGreaterThan(0)
        })
      ))

    it.live("totalIndices and recordedCounts: the configuration's size and how many of its indices are recorded, without the summary's sums", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 12, failing: [1] })
          const before = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => Effect.all({ total: c.totalIndices, counts: c.recordedCounts }))
          expect(before).toEqual({ total: 12, counts: { completed: 0, failed: 0 } })
          yield* run(probe, dbDir, { indices: [0, 1, 2] })
          const { counts, summary, total } = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.all({ total: c.totalIndices, counts: c.recordedCounts, summary: c.summary }))
          expect(total).toBe(12)
          expect(counts).toEqual({ completed: 2, failed: 1 })
          expect(summary).toMatchObject({ total, completed: counts.completed, failed: counts.failed })
          const cleared = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.zipRight(c.reset, Effect.all({ total: c.totalIndices, counts: c.recordedCounts })))
          expect(cleared).toEqual({ total: 12, counts: { completed: 0, failed: 0 } })
        })
      ))

    it.live("configJson is the configuration document the run recorded, the same after reset", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 3 })
          yield* run(probe, dbDir, {})
          const recorded = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.configJson)
          expect(JSON.parse(recorded)).toEqual(probe.pipeline.config)
          const afterReset = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => Effect.zipRight(c.reset, c.configJson))
          expect(afterReset).toBe(recorded)
        })
      ))

    it.live("remainingIndices lists, sorted, the indices neither completed nor failed", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 12, failing: [9] })
          const untouched = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.remainingIndices)
          expect(untouched).toEqual(range(0, 12))
          yield* run(probe, dbDir, { indices: [7, 2, 9, 11, 0], concurrency: 3 })
          const remaining = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => c.remainingIndices)
          expect(remaining).toEqual([1, 3, 4, 5, 6, 8, 10])
        })
      ))

    it.live("metrics give each index its status, times, memory, worker and one timing per stage", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const pipeline = Pipeline.from(Source.fromArray("Words", ["a", "bb", "ccc", "dddd"])).pipe(
            Pipeline.filter(Filter.map({ name: "Upper", f: (s: string) => s.toUpperCase() })),
            Pipeline.filter(Filter.mapEffect({
              name: "Measure",
              f: (s: string) => s === "CCC" ? Effect.fail(new Boom({ message: "too long" })) : Effect.succeed(s.length)
            })),
            Pipeline.write(Sink.drain({ name: "Nowhere", pathOf: (i) => [`/dev/null/${i}`] }), { resume: true, dbDir })
          )
          yield* Pipeline.run(pipeline, { concurrency: 2 })
          const metrics = yield* withCheckpoint(pipeline, { dbDir }, (c) => c.metrics)
          expect(metrics.map((m) => [m.index, m.status])).toEqual([[0, "completed"], [1, "completed"], [2, "error"], [3, "completed"]])
          for (const m of metrics) {
            expect(m.completedAt).toMatch(timestampPattern)
            expect(m.workerId).toMatch(hex32)
            expect(Number.isInteger(m.wallTimeNs)).toBe(true)
            expect(m.wallTimeNs).toBeGreaterThan(0)
            expect(m.gpuMemoryBytes).toBeNull()
            expect(m.peakMemoryBytes).toBeGreaterThanOrEqual(0)
            if (m.status === "completed") {
              expect(m.error).toBeNull()
              expect(m.stages.map((s) => [s.order, s.name])).toEqual([[0, "source"], [1, "Upper"], [2, "Measure"], [3, "sink"]])
              for (const stage of m.stages) {
                expect(Number.isInteger(stage.wallTimeNs)).toBe(true)
                expect(stage.wallTimeNs).toBeGreaterThanOrEqual(0)
              }
            } else {
              expect(m.error).toBe("Boom: too long")
              expect(m.stages).toEqual([])
            }
          }

          // Without memory tracking, the peak is not recorded.
          const untracked = Pipeline.withOptions(pipeline, { trackMemory: false })
          yield* withCheckpoint(untracked, { dbDir }, (c) => c.resetIndex(0))
          yield* Pipeline.run(untracked, { indices: [0] })
          const row = yield* withCheckpoint(pipeline, { dbDir }, (c) => Effect.map(c.metrics, (ms) => ms.find((m) => m.index === 0)!))
          expect(row.status).toBe("completed")
          // 0, not null, when memory is not tracked: what the reference writes.
          expect(row.peakMemoryBytes).toBe(0)
        })
      ))

    it.live("workers: one row per lane, shared invocation per run, counts of completed indices, idle at the end", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 9 })
          yield* run(probe, dbDir, { concurrency: 3 })
          yield* withCheckpoint(probe.pipeline, { dbDir }, (c) => Effect.zipRight(c.resetIndex(0), c.resetIndex(1)))
          yield* run(probe, dbDir, { concurrency: 3 })
          const { metrics, workers } = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.all({ workers: c.workers, metrics: c.metrics }))

          expect(workers).toHaveLength(5)
          expect(new Set(workers.map((w) => w.workerId)).size).toBe(5)
          for (const w of workers) {
            expect(w.workerId).toMatch(hex32)
            expect(w.invocationId).toMatch(hex32)
            expect(w.pid).toBe(process.pid)
            expect(w.hostname).toBe(os.hostname())
            expect(w.startedAt).toMatch(timestampPattern)
            expect(w.lastHeartbeat).toMatch(timestampPattern)
            expect(w.lastHeartbeat >= w.startedAt).toBe(true)
            expect(w.currentIndex).toBeNull()
          }
          const invocations = new Map<string, Array<CheckpointStore.WorkerRow>>()
          for (const w of workers) invocations.set(w.invocationId, [...(invocations.get(w.invocationId) ?? []), w])
          const [firstRun, secondRun] = [...invocations.values()].sort((a, b) => b.length - a.length)
          expect(invocations.size).toBe(2)
          expect(firstRun).toHaveLength(3)
          expect(secondRun).toHaveLength(2)
          const completedBy = (ws: ReadonlyArray<CheckpointStore.WorkerRow>) => ws.reduce((sum, w) => sum + w.completedCount, 0)
          expect(completedBy(firstRun!)).toBe(9)
          expect(completedBy(secondRun!)).toBe(2)
          // Each index's result names the worker that computed it.
          for (const w of secondRun!) {
            expect(metrics.filter((m) => m.workerId === w.workerId)).toHaveLength(w.completedCount)
          }
          expect(metrics.filter((m) => m.index <= 1).every((m) => secondRun!.some((w) => w.workerId === m.workerId))).toBe(true)
        })
      ))

    it.live("outputsOf and indexOfOutput map indices to recorded paths and back", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 5, failing: [1] })
          yield* run(probe, dbDir)
          const found = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.all({
              of3: c.outputsOf(3),
              of1: c.outputsOf(1),
              of99: c.outputsOf(99),
              first: c.indexOfOutput(probe.pathsOf(4)[0]!),
              second: c.indexOfOutput(probe.pathsOf(4)[1]!),
              failed: c.indexOfOutput(probe.pathsOf(1)[0]!),
              unknown: c.indexOfOutput("/nowhere")
            }))
          expect(found.of3).toEqual(Option.some(probe.pathsOf(3)))
          expect(Option.isNone(found.of1)).toBe(true)
          expect(Option.isNone(found.of99)).toBe(true)
          expect(found.first).toEqual(Option.some(4))
          expect(found.second).toEqual(Option.some(4))
          expect(Option.isNone(found.failed)).toBe(true)
          expect(Option.isNone(found.unknown)).toBe(true)
        })
      ))

    it.live("artifacts reported by filters are recorded with the filter's name and position", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const pipeline = Pipeline.from(Source.fromArray("Meshes", ["m0", "m1", "m2"])).pipe(
            Pipeline.filter(Filter.map({ name: "Clean", f: (s: string) => s.trim() })),
            Pipeline.filter(Filter.mapEffect({
              name: "Thumbnail",
              f: (s: string) => Effect.as(Filter.recordArtifact(`/thumbs/${s}.png`), s)
            })),
            Pipeline.filter(Filter.make({
              name: "Preview",
              apply: (items: Stream.Stream<string>) => Stream.tap(items, (s) => Filter.recordArtifact(`/previews/${s}.gif`))
            })),
            Pipeline.write(Sink.make({
              name: "Store",
              // Sinks are not filters: what they report is not a filter artifact.
              write: (items: Stream.Stream<string>, index) =>
                Effect.as(Stream.runForEach(items, () => Filter.recordArtifact(`/sink/${index}`)), [`/store/${index}`])
            }), { resume: true, dbDir })
          )
          yield* Pipeline.run(pipeline, { concurrency: 2 })
          const byPath = (a: CheckpointStore.Artifact, b: CheckpointStore.Artifact) => a.path.localeCompare(b.path)
          const { all, previews, thumbnails } = yield* withCheckpoint(pipeline, { dbDir }, (c) =>
            Effect.all({ all: c.artifacts(), thumbnails: c.artifacts("Thumbnail"), previews: c.artifacts("Preview") }))
          const expectedThumbnails = range(0, 3).map((i) => ({ path: `/thumbs/m${i}.png`, index: i, filterName: "Thumbnail", filterOrder: 1 }))
          const expectedPreviews = range(0, 3).map((i) => ({ path: `/previews/m${i}.gif`, index: i, filterName: "Preview", filterOrder: 2 }))
          expect([...thumbnails].sort(byPath)).toEqual(expectedThumbnails)
          expect([...previews].sort(byPath)).toEqual(expectedPreviews)
          expect([...all].sort(byPath)).toEqual([...expectedPreviews, ...expectedThumbnails])

          const afterReset = yield* withCheckpoint(pipeline, { dbDir }, (c) => Effect.zipRight(c.resetIndex(1), c.artifacts()))
          expect(afterReset.map((a) => a.index).sort()).toEqual([0, 0, 2, 2])

          // Gathering a stateful filter: the rows of one filter position replaced by one, the others kept.
          const merged = { path: "/thumbs/all.png", index: 0, filterName: "Thumbnail", filterOrder: 1 }
          const afterReplace = yield* withCheckpoint(pipeline, { dbDir }, (c) =>
            Effect.zipRight(c.replaceArtifacts(1, [merged]), c.artifacts()))
          expect([...afterReplace].sort(byPath)).toEqual([
            ...expectedPreviews.filter((a) => a.index !== 1),
            merged
          ])
        })
      ))

    it.live("logs of a run are captured, and appendLogs adds lines; logs() filters by level, index, worker and id", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const pipeline = Pipeline.from(Source.fromArray("Items", [0, 1, 2, 3])).pipe(
            Pipeline.filter(Filter.mapEffect({
              name: "Chatty",
              f: (n: number) =>
                Effect.zipRight(
                  Effect.zipRight(
                    Effect.logInfo(`processing ${n}`),
                    n % 2 === 0 ? Effect.logWarning(`${n} is even`) : Effect.logDebug(`${n} is odd`)
                  ),
                  Effect.succeed(n)
                )
            })),
            Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/drop/${i}`] }), { resume: true, dbDir })
          )
          yield* Pipeline.run(pipeline, { concurrency: 2 })
          const logs = yield* withCheckpoint(pipeline, { dbDir }, (c) => c.logs())
          expect(logs.map((l) => l.id)).toEqual([...logs.map((l) => l.id)].sort((a, b) => a - b))
          expect(new Set(logs.map((l) => l.id)).size).toBe(logs.length)
          for (const line of logs) {
            expect(line.timestamp).toMatch(timestampPattern)
            expect([line.level, line.levelName]).toEqual(line.level === 20 ? [20, "INFO"] : [30, "WARNING"])
          }
          // Debug is below the default level: not recorded.
          expect(logs.some((l) => l.message.includes("is odd"))).toBe(false)
          const framework = logs.filter((l) => l.loggerName === "curator" && l.index === null)
          expect(framework.map((l) => l.message.split(":")[0])).toEqual(["run started", "run finished"])
          expect(framework.every((l) => l.workerId === null)).toBe(true)

          const { byIndex, byLevel, byWorker, since } = yield* withCheckpoint(pipeline, { dbDir }, (c) =>
            Effect.gen(function*() {
              const byIndex = yield* c.logs({ index: 2 })
              const workerId = byIndex[0]!.workerId!
              return {
                byIndex,
                byLevel: yield* c.logs({ minLevel: 30 }),
                byWorker: { workerId, rows: yield* c.logs({ workerId }) },
                since: { after: logs[2]!.id, rows: yield* c.logs({ sinceId: logs[2]!.id }) }
              }
            }))
          expect(byIndex.map((l) => [l.loggerName, l.level, l.message])).toEqual([
            ["Chatty", 20, "processing 2"],
            ["Chatty", 30, "2 is even"]
          ])
          expect(byIndex[0]!.workerId).toMatch(hex32)
          expect(byLevel.map((l) => l.message).sort()).toEqual(["0 is even", "2 is even"])
          expect(byWorker.rows.length).toBeGreaterThanOrEqual(2)
          expect(byWorker.rows.every((l) => l.workerId === byWorker.workerId)).toBe(true)
          expect(byWorker.rows).toEqual(logs.filter((l) => l.workerId === byWorker.workerId))
          expect(since.rows).toEqual(logs.filter((l) => l.id > since.after))
          expect(since.rows.length).toBe(logs.length - 3)

          // Lines appended by hand come after the others, and filter the same way.
          const written = yield* withCheckpoint(pipeline, { dbDir }, (c) =>
            Effect.gen(function*() {
              const timestamp = yield* Timestamp.now
              yield* c.appendLogs([
                { timestamp, level: 40, levelName: "ERROR", loggerName: "ops", message: "by hand", workerId: null, index: 3 },
                { timestamp, level: 10, levelName: "DEBUG", loggerName: "ops", message: "quiet", workerId: "w1", index: null }
              ])
              const last = logs[logs.length - 1]!.id
              return {
                appended: yield* c.logs({ sinceId: last }),
                errors: yield* c.logs({ minLevel: 40 }),
                index3: yield* c.logs({ index: 3, minLevel: 40 }),
                w1: yield* c.logs({ workerId: "w1" }),
                limited: yield* c.logs({ limit: 2 })
              }
            }))
          expect(written.appended.map((l) => [l.level, l.levelName, l.loggerName, l.message, l.workerId, l.index])).toEqual([
            [40, "ERROR", "ops", "by hand", null, 3],
            [10, "DEBUG", "ops", "quiet", "w1", null]
          ])
          expect(written.appended[0]!.id).toBeGreaterThan(logs[logs.length - 1]!.id)
          expect(written.errors.map((l) => l.message)).toEqual(["by hand"])
          expect(written.index3.map((l) => l.message)).toEqual(["by hand"])
          expect(written.w1.map((l) => l.message)).toEqual(["quiet"])
          expect(written.limited).toEqual(logs.slice(0, 2))
        })
      ))

    describe("paged queries and aggregates", () => {
      /** Every page of a paged query, read as a stream. */
      const allPages = <A>(read: (after: number | undefined) => Effect.Effect<CheckpointStore.Page<A>, CheckpointStore.CheckpointError>) =>
        Effect.map(Stream.runCollect(CheckpointStore.streamPages(read)), Chunk.toReadonlyArray)

      /** A probe run with failures, two run calls and extra log lines, and its checkpoint's whole-run reads. */
      const recorded = (dbDir: string) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 23, failing: [3, 10, 17] })
          yield* run(probe, dbDir, { indices: range(0, 12), concurrency: 3 })
          yield* run(probe, dbDir, { concurrency: 2 })
          yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.flatMap(Timestamp.now, (timestamp) =>
              c.appendLogs([
                { timestamp, level: 20, levelName: "INFO", loggerName: "ref", message: "a", workerId: "ForkServerProcess-1", index: 4 },
                { timestamp, level: 40, levelName: "ERROR", loggerName: "ref", message: "b", workerId: "ForkServerProcess-2", index: 5 },
                { timestamp, level: 20, levelName: "INFO", loggerName: "Square", message: "c", workerId: "ForkServerProcess-1", index: 6 }
              ])))
          const whole = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.all({
              metrics: c.metrics,
              completed: c.completedOutputs,
              failed: c.failedIndices,
              logs: c.logs(),
              workers: c.workers
            }))
          return { probe, ...whole }
        })

      it.live("completed and failed index sets, and every page of results, outputs and logs, equal the whole-run reads", () =>
        withStore((dbDir) =>
          Effect.gen(function*() {
            const { completed, failed, logs, metrics, probe } = yield* recorded(dbDir)
            const paged = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
              Effect.all({
                done: c.completedIndexSet,
                bad: c.failedIndexSet,
                results: allPages((after) => c.resultsPage({ after, limit: 5 })),
                errors: allPages((after) => c.resultsPage({ after, limit: 2, status: "error" })),
                middle: allPages((after) => c.resultsPage({ after, limit: 4, status: "completed", from: 5, to: 15 })),
                byWorker: allPages((after) => c.resultsPage({ after, workerId: metrics[0]!.workerId! })),
                firstPage: c.resultsPage({ limit: 5 }),
                lastPage: c.resultsPage({ limit: 5, after: 19 }),
                outputs: allPages((after) => c.outputsPage({ after, limit: 3 })),
                logPages: allPages((after) => c.logsPage({ after, limit: 4 })),
                tail: c.logsPage({ limit: 3, newestFirst: true }),
                errorsOnly: allPages((after) => c.logsPage({ after, minLevel: 40 })),
                ofRef: allPages((after) => c.logsPage({ after, loggerName: "ref", limit: 1 })),
                ofIndex: c.logsPage({ index: 6 }),
                ofLabel: c.logsPage({ workerId: "ForkServerProcess-1" }),
                before: c.logsPage({ before: logs[3]!.id, newestFirst: true }),
                one: c.metricsOf(4),
                failedOne: c.metricsOf(10),
                none: c.metricsOf(99)
              }))
            expect([...paged.done]).toEqual([...completed.keys()].sort((a, b) => a - b))
            expect(paged.done.size).toBe(20)
            expect([...paged.bad]).toEqual([3, 10, 17])
            expect(paged.results).toEqual(metrics)
            expect(paged.errors).toEqual(metrics.filter((m) => m.status === "error"))
            expect(paged.middle).toEqual(metrics.filter((m) => m.status === "completed" && m.index >= 5 && m.index <= 15))
            expect(paged.byWorker).toEqual(metrics.filter((m) => m.workerId === metrics[0]!.workerId))
            expect(paged.firstPage).toEqual({ rows: metrics.slice(0, 5), next: 4 })
            expect(paged.lastPage).toEqual({ rows: metrics.slice(20), next: undefined })
            expect(paged.outputs).toEqual([...completed].sort(([a], [b]) => a - b).map(([index, paths]) => ({ index, paths })))
            expect(paged.outputs[0]).toEqual({ index: 0, paths: probe.pathsOf(0) })
            expect(paged.logPages).toEqual(logs)
            expect(paged.tail.rows).toEqual(logs.slice(-3).reverse())
            expect(paged.errorsOnly).toEqual(logs.filter((l) => l.level >= 40))
            expect(paged.errorsOnly.map((l) => l.message)).toContain("b")
            expect(paged.ofRef).toEqual(logs.filter((l) => l.loggerName === "ref"))
            expect(paged.ofRef.map((l) => l.message)).toEqual(["a", "b"])
            expect(paged.ofIndex.rows).toEqual(logs.filter((l) => l.index === 6))
            expect(paged.ofLabel.rows.map((l) => l.message)).toEqual(["a", "c"])
            expect(paged.before.rows).toEqual(logs.slice(0, 3).reverse())
            expect(paged.one).toEqual(Option.some(metrics.find((m) => m.index === 4)))
            expect(Option.getOrThrow(paged.one).stages.map((s) => s.order)).toEqual([0, 1, 2])
            expect(paged.failedOne).toEqual(Option.some(metrics.find((m) => m.index === 10)))
            expect(Option.isNone(paged.none)).toBe(true)
            expect(failed.size).toBe(3)
          })
        ), 60_000)

      it.live("aggregates equal what the whole-run metrics give: statistics, percentiles, histogram, slowest, latest, stages, timelines", () =>
        withStore((dbDir) =>
          Effect.gen(function*() {
            const { metrics, probe } = yield* recorded(dbDir)
            const got = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
              Effect.all({
                all: c.statistics(),
                done: c.statistics("completed"),
                percentiles: c.percentiles("wallTimeNs", [0, 50, 95, 100], "completed"),
                memory: c.percentiles("peakMemoryBytes", [50], "error"),
                histogram: c.histogram("wallTimeNs", 4),
                slowest: c.slowest(5),
                latest: c.latest("error", 2),
                stages: c.stageStatistics,
                timeline: c.timeline(4),
                stageTimeline: c.stageTimeline(4)
              }))
            const done = metrics.filter((m) => m.status === "completed")
            const walls = (rows: ReadonlyArray<CheckpointStore.IndexMetrics>) => rows.map((m) => m.wallTimeNs!).sort((a, b) => a - b)
            const rank = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!
            const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)

            expect(got.all.count).toBe(23)
            expect(got.done.count).toBe(20)
            expect(got.done.wallTimeNs.total).toBe(sum(walls(done)))
            expect(got.done.wallTimeNs.mean).toBeCloseTo(sum(walls(done)) / 20, 3)
            expect(got.all.wallTimeNs.max).toBe(walls(metrics).at(-1))
            const peaks = metrics.map((m) => m.peakMemoryBytes!).sort((a, b) => a - b)
            expect(got.all.peakMemoryBytes.max).toBe(peaks.at(-1))
            expect(got.all.peakMemoryBytes.min).toBe(peaks[0])
            expect(got.all.peakMemoryBytes.mean).toBeCloseTo(sum(peaks) / 23, 3)

            expect(got.percentiles).toEqual([0, 50, 95, 100].map((p) => rank(walls(done), p)))
            expect(got.memory).toEqual([rank(metrics.filter((m) => m.status === "error").map((m) => m.peakMemoryBytes!).sort((a, b) => a - b), 50)])

            const all = walls(metrics)
            const [low, high] = [all[0]!, all.at(-1)!]
            const expectedCounts = [0, 0, 0, 0]
            for (const v of all) expectedCounts[v === high ? 3 : Math.floor(((v - low) * 4) / (high - low))]!++
            expect(got.histogram.map((bin) => bin.count)).toEqual(expectedCounts)
            expect(got.histogram[0]!.from).toBe(low)
            expect(got.histogram[3]!.to).toBe(high)

            const bySlowness = [...metrics].sort((a, b) => b.wallTimeNs! - a.wallTimeNs! || a.index - b.index)
            expect(got.slowest).toEqual(bySlowness.slice(0, 5))
            const newestErrors = metrics.filter((m) => m.status === "error")
              .sort((a, b) => b.completedAt.localeCompare(a.completedAt) || a.index - b.index)
            expect(got.latest).toEqual(newestErrors.slice(0, 2))

            expect(got.stages.map((s) => [s.order, s.name, s.count])).toEqual([[0, "source", 20], [1, "Square", 20], [2, "sink", 20]])
            for (const stage of got.stages) {
              const times = done.map((m) => m.stages.find((s) => s.order === stage.order)!.wallTimeNs).sort((a, b) => a - b)
              expect(stage.totalNs).toBe(sum(times))
              expect(stage.meanNs).toBeCloseTo(sum(times) / times.length, 3)
              expect([stage.medianNs, stage.p95Ns, stage.maxNs]).toEqual([rank(times, 50), rank(times, 95), times.at(-1)])
            }

            // 23 indices in 4 buckets: index i in bucket floor(4i / 23).
            const bucketOf = (i: number) => CheckpointStore.bucketOf(i, 23, 4)
            expect(got.timeline.reduce((n, b) => n + b.count, 0)).toBe(23)
            for (const bucket of got.timeline) {
              const members = metrics.filter((m) => bucketOf(m.index) === bucketOf(bucket.fromIndex) && m.status === bucket.status)
              expect([bucket.fromIndex, bucket.toIndex, bucket.count]).toEqual([members[0]!.index, members.at(-1)!.index, members.length])
              expect(bucket.maxWallTimeNs).toBe(Math.max(...members.map((m) => m.wallTimeNs!)))
              expect(bucket.meanWallTimeNs).toBeCloseTo(sum(members.map((m) => m.wallTimeNs!)) / members.length, 3)
            }
            expect(got.timeline.filter((b) => b.status === "error").map((b) => [b.fromIndex, b.toIndex])).toEqual([[3, 3], [10, 10], [17, 17]])
            expect(got.stageTimeline).toHaveLength(4)
            for (const bucket of got.stageTimeline) {
              const members = done.filter((m) => bucketOf(m.index) === bucketOf(bucket.fromIndex))
              expect([bucket.fromIndex, bucket.toIndex]).toEqual([members[0]!.index, members.at(-1)!.index])
              expect(bucket.stages.map((s) => s.order)).toEqual([0, 1, 2])
              bucket.stages.forEach((s) =>
                expect(s.meanNs).toBeCloseTo(sum(members.map((m) => m.stages[s.order]!.wallTimeNs)) / members.length, 3)
              )
            }
          })
        ), 60_000)

      it.live("invocations, their workers, whole-run figures, worker labels from workers and logs, artifacts of one index", () =>
        withStore((dbDir) =>
          Effect.gen(function*() {
            const { probe, workers } = yield* recorded(dbDir)
            const got = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
              Effect.gen(function*() {
                const invocations = yield* c.invocations
                return {
                  invocations,
                  members: yield* Effect.forEach(invocations, (i) => c.workersOf(i.invocationId)),
                  figures: yield* c.runFigures,
                  fork: yield* c.workerLabels("Fork", 10),
                  forkOne: yield* c.workerLabels("ForkServerProcess-1", 10),
                  byPrefix: yield* c.workerLabels(workers[0]!.workerId.slice(0, 6), 10),
                  limited: yield* c.workerLabels("", 2),
                  nobody: yield* c.workerLabels("zzz", 10)
                }
              }))
            expect(got.invocations.map((i) => [i.workerRows, i.processes, i.completed])).toEqual([[3, 1, 10], [2, 1, 10]])
            expect(got.members.map((ws) => ws.length)).toEqual([3, 2])
            expect(got.members.flat().map((w) => w.workerId).sort()).toEqual(workers.map((w) => w.workerId).sort())
            for (const [k, invocation] of got.invocations.entries()) {
              expect(got.members[k]!.every((w) => w.invocationId === invocation.invocationId)).toBe(true)
              expect(invocation.elapsedS).toBe((Date.parse(invocation.lastHeartbeat) - Date.parse(invocation.startedAt)) / 1e3)
            }
            expect(got.figures).toMatchObject({ invocations: 2, workerRows: 5, processes: 1, firstStartedAt: got.invocations[0]!.startedAt })
            expect(got.figures.spanS).toBeGreaterThanOrEqual(got.invocations[0]!.elapsedS + got.invocations[1]!.elapsedS - 0.001)
            expect(got.figures.lastActivityAt! >= got.invocations[1]!.lastHeartbeat).toBe(true)
            expect(got.fork).toEqual(["ForkServerProcess-1", "ForkServerProcess-2"])
            expect(got.forkOne).toEqual(["ForkServerProcess-1"])
            expect(got.byPrefix).toContain(workers[0]!.workerId)
            expect(got.limited).toHaveLength(2)
            expect(got.nobody).toEqual([])

            const pipeline = Pipeline.from(Source.fromArray("Meshes", ["m0", "m1"])).pipe(
              Pipeline.filter(Filter.mapEffect({ name: "Thumb", f: (s: string) => Effect.as(Filter.recordArtifact(`/t/${s}.png`), s) })),
              Pipeline.filter(Filter.mapEffect({ name: "Gif", f: (s: string) => Effect.as(Filter.recordArtifact(`/g/${s}.gif`), s) })),
              Pipeline.write(Sink.drain({ name: "Nowhere", pathOf: (i) => [`/dev/null/${i}`] }), { resume: true, dbDir })
            )
            yield* Pipeline.run(pipeline)
            const of1 = yield* withCheckpoint(pipeline, { dbDir }, (c) => c.artifactsOf(1))
            expect(of1.map((a) => [a.path, a.index, a.filterName])).toEqual([["/t/m1.png", 1, "Thumb"], ["/g/m1.gif", 1, "Gif"]])
          })
        ), 60_000)

      it.live("the change mark stays while nothing changes and moves with a record, a reset index or a log line", () =>
        withStore((dbDir) =>
          Effect.gen(function*() {
            const probe = makeProbe({ length: 4 })
            yield* run(probe, dbDir)
            const marks = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
              Effect.gen(function*() {
                const first = yield* c.changeMark
                const same = yield* c.changeMark
                yield* c.resetIndex(2)
                const afterReset = yield* c.changeMark
                yield* c.appendLogs([{ timestamp: yield* Timestamp.now, level: 20, levelName: "INFO", loggerName: "x", message: "m", workerId: null, index: null }])
                return { first, same, afterReset, afterLog: yield* c.changeMark }
              }))
            expect(marks.same).toBe(marks.first)
            expect(marks.afterReset).not.toBe(marks.first)
            expect(marks.afterLog).not.toBe(marks.afterReset)
          })
        ), 60_000)
    })

    it.live("fingerprints and measured outputs are recorded with a success, replaced with it, and gone with a failure or a reset", () =>
      withStore((dbDir) =>
        Effect.gen(function*() {
          const probe = makeProbe({ length: 5 })
          const pages = yield* withCheckpoint(probe.pipeline, { dbDir }, (c) =>
            Effect.gen(function*() {
              const at = yield* Timestamp.now
              const success = (index: number, fingerprint: string | undefined, size: number) =>
                c.recordSuccess({
                  index,
                  workerId: "w",
                  completedAt: at,
                  paths: [`/o/${index}.a`, `/o/${index}.b`],
                  wallTimeNs: 1,
                  peakMemoryBytes: 0,
                  gpuMemoryBytes: null,
                  stages: [],
                  artifacts: [],
                  ...(fingerprint === undefined ? {} : { fingerprint }),
                  outputChecks: [{ path: `/o/${index}.a`, size, hash: "00ff00ff00ff00ff" }, { path: `/o/${index}.b`, size: 0, hash: null }]
                })
              for (const index of [0, 1, 2, 3]) yield* success(index, index === 3 ? undefined : `in/${index}:10:5`, 10 + index)
              yield* success(1, "in/1:11:6", 99) // recorded again: replaced
              yield* c.recordFailure({ index: 2, workerId: "w", completedAt: at, error: "Boom: x", wallTimeNs: 1, peakMemoryBytes: 0 })
              const first = yield* c.recordedPage({ limit: 2 })
              const second = yield* c.recordedPage({ after: first.next, limit: 2 })
              yield* c.resetIndex(0)
              yield* success(0, undefined, 1) // recorded again without a fingerprint: none is left over
              const afterReset = yield* c.recordedPage({})
              return { first, second, afterReset }
            }))
          expect(pages.first.rows.map((r) => [r.index, r.fingerprint, r.outputChecks.map((o) => o.size)])).toEqual([
            [0, "in/0:10:5", [10, 0]],
            [1, "in/1:11:6", [99, 0]]
          ])
          expect(pages.first.rows[0]).toMatchObject({ paths: ["/o/0.a", "/o/0.b"], workerId: "w" })
          expect([...pages.first.rows[0]!.outputChecks].sort((a, b) => a.path.localeCompare(b.path))).toEqual([
            { path: "/o/0.a", size: 10, hash: "00ff00ff00ff00ff" },
            { path: "/o/0.b", size: 0, hash: null }
          ])
          // 2 failed: not a completed record; 3 has no fingerprint.
          expect(pages.second.rows.map((r) => [r.index, r.fingerprint])).toEqual([[3, null]])
          expect(pages.second.next).toBeUndefined()
          expect(pages.afterReset.rows.map((r) => [r.index, r.fingerprint, r.outputChecks.length])).toEqual([
            [0, null, 2],
            [1, "in/1:11:6", 2],
            [3, null, 2]
          ])
        })
      ))
  })
}

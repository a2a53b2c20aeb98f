/**
 * The memory checkpoint store, read back through the `Checkpoint` queries
 * after real runs: summary, remaining and failed indices, outputs, filter
 * artifacts, reset, resetIndex and worker rows — plus the pure helpers every
 * store shares (`databaseFileName`, `makeSummary`). The full contract shared
 * with the SQL stores runs in the cross-package suite.
 */
import { CheckpointStore, Filter, Pipeline, RunResult, Sink, Source } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { hex32, Live, makeProbe, range, readCheckpoint, Sequential, sorted, testHost } from "./helpers.js"

const summaryKeys = [
  "avg_time_ms",
  "completed",
  "config_hash",
  "db_path",
  "elapsed_s",
  "errors",
  "failed",
  "remaining",
  "total",
  "total_elapsed_s",
  "workers"
]

describe("CheckpointStore", () => {
  describe("layerMemory", () => {
    it.live("summary counts completed, failed and remaining indices and the workers of the latest run", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 8, failing: [5] })
        const first = yield* Pipeline.run(probe.pipeline, { indices: range(0, 6), concurrency: 3 })
        const summary = yield* readCheckpoint(probe.pipeline, (c) => c.summary)
        expect(Object.keys(summary).sort()).toEqual(summaryKeys)
        expect(summary).toMatchObject({
          total: 8,
          completed: 5,
          failed: 1,
          remaining: 2,
          errors: 1,
          workers: 3,
          config_hash: probe.pipeline.configHash,
          db_path: first.location
        })
        expect(summary.avg_time_ms).toBeGreaterThan(0)

        // Index 5 fails again; 6 and 7 are new: three indices on two lanes.
        yield* Pipeline.run(probe.pipeline, { concurrency: 2 })
        const { metrics, summary: after } = yield* readCheckpoint(probe.pipeline, (c) =>
          Effect.all({ summary: c.summary, metrics: c.metrics }))
        const done = metrics.filter((m) => m.status === "completed")
        const wallNs = done.reduce((sum, m) => sum + m.wallTimeNs!, 0)
        expect(after).toMatchObject({ total: 8, completed: 7, failed: 1, remaining: 0, errors: 1, workers: 2 })
        expect(after.avg_time_ms).toBe(Number((wallNs / 7 / 1e6).toFixed(3)))
        expect(after.total_elapsed_s).toBe(Number((wallNs / 1e9).toFixed(6)))
        expect(after.elapsed_s).toBeGreaterThanOrEqual(0)
        expect(after.elapsed_s).toBeLessThan(30)
      }).pipe(Effect.provide(Live)))

    it.live("remainingIndices is sorted; failedIndices maps each failed index to its message", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 12, failing: [9, 2] })
        const before = yield* readCheckpoint(probe.pipeline, (c) => c.remainingIndices)
        expect(before).toEqual(range(0, 12))
        yield* Pipeline.run(probe.pipeline, { indices: [7, 2, 9, 11, 0], concurrency: 3 })
        const recorded = yield* readCheckpoint(probe.pipeline, (c) =>
          Effect.all({ remaining: c.remainingIndices, failed: c.failedIndices, completed: c.completedIndices }))
        expect(recorded.remaining).toEqual([1, 3, 4, 5, 6, 8, 10])
        expect(recorded.failed).toEqual(new Map([[2, "Boom: index 2 is bad"], [9, "Boom: index 9 is bad"]]))
        expect(sorted(recorded.completed)).toEqual([0, 7, 11])
      }).pipe(Effect.provide(Live)))

    it.live("outputsOf and indexOfOutput map completed indices to their paths and back", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 4, failing: [1] })
        yield* Pipeline.run(probe.pipeline)
        const found = yield* readCheckpoint(probe.pipeline, (c) =>
          Effect.all({
            of2: c.outputsOf(2),
            of1: c.outputsOf(1),
            of99: c.outputsOf(99),
            first: c.indexOfOutput(probe.pathsOf(3)[0]!),
            second: c.indexOfOutput(probe.pathsOf(3)[1]!),
            ofFailed: c.indexOfOutput(probe.pathsOf(1)[0]!),
            unknown: c.indexOfOutput("/nowhere")
          }))
        expect(found.of2).toEqual(Option.some(probe.pathsOf(2)))
        expect(found.of1).toEqual(Option.none())
        expect(found.of99).toEqual(Option.none())
        expect(found.first).toEqual(Option.some(3))
        expect(found.second).toEqual(Option.some(3))
        expect(found.ofFailed).toEqual(Option.none())
        expect(found.unknown).toEqual(Option.none())
      }).pipe(Effect.provide(Live)))

    it.live("artifacts reported by filters are recorded with the filter's name and position", () =>
      Effect.gen(function*() {
        const pipeline = Pipeline.from(Source.make({
          name: "Meshes",
          length: 3,
          items: (index) => Effect.as(Filter.recordArtifact(`/source/${index}`), [`m${index}`])
        })).pipe(
          Pipeline.filter(Filter.map({ name: "Clean", f: (s: string) => s.trim() })),
          Pipeline.filter(Filter.mapEffect({
            name: "Thumbnail",
            f: (s: string) => Effect.as(Filter.recordArtifact(`/thumbs/${s}.png`), s)
          })),
          Pipeline.filter(Filter.make({
            name: "Preview",
            apply: (items: Stream.Stream<string>) => Stream.tap(items, (s) => Filter.recordArtifact(`/previews/${s}.gif`))
          })),
          Pipeline.write(Sink.fromItems({
            name: "Store",
            // Neither the source nor the sink is a filter: what they report is not recorded.
            write: (_: ReadonlyArray<string>, index) => Effect.as(Filter.recordArtifact(`/sink/${index}`), [`/store/${index}`])
          }), { resume: true })
        )
        yield* Pipeline.run(pipeline, { concurrency: 2 })
        const byPath = (a: CheckpointStore.Artifact, b: CheckpointStore.Artifact) => a.path.localeCompare(b.path)
        const { all, previews, thumbnails, unknown } = yield* readCheckpoint(pipeline, (c) =>
          Effect.all({
            all: c.artifacts(),
            thumbnails: c.artifacts("Thumbnail"),
            previews: c.artifacts("Preview"),
            unknown: c.artifacts("Clean")
          }))
        const expectedThumbnails = range(0, 3).map((i) => ({
          path: `/thumbs/m${i}.png`,
          index: i,
          filterName: "Thumbnail",
          filterOrder: 1
        }))
        const expectedPreviews = range(0, 3).map((i) => ({
          path: `/previews/m${i}.gif`,
          index: i,
          filterName: "Preview",
          filterOrder: 2
        }))
        expect([...thumbnails].sort(byPath)).toEqual(expectedThumbnails)
        expect([...previews].sort(byPath)).toEqual(expectedPreviews)
        expect([...all].sort(byPath)).toEqual([...expectedPreviews, ...expectedThumbnails])
        expect(unknown).toEqual([])
      }).pipe(Effect.provide(Live)))

    it.live("reset starts new records: nothing is completed and the next run computes everything", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 5, failing: [4] })
        yield* Pipeline.run(probe.pipeline, { concurrency: 2 })
        const oldWorkers = yield* readCheckpoint(probe.pipeline, (c) => c.workers)
        const cleared = yield* readCheckpoint(probe.pipeline, (c) =>
          Effect.zipRight(
            c.reset,
            Effect.all({
              completed: c.completedIndices,
              failed: c.failedIndices,
              remaining: c.remainingIndices,
              metrics: c.metrics,
              workers: c.workers,
              outputs: c.outputsOf(0),
              summary: c.summary
            })
          ))
        expect(cleared).toMatchObject({ metrics: [], workers: [], remaining: range(0, 5), outputs: Option.none() })
        expect(cleared.completed.size).toBe(0)
        expect(cleared.failed.size).toBe(0)
        expect(cleared.summary).toMatchObject({ total: 5, completed: 0, failed: 0, remaining: 5, workers: 0, avg_time_ms: 0 })
        // A later open sees the reset too.
        expect((yield* readCheckpoint(probe.pipeline, (c) => c.completedIndices)).size).toBe(0)

        probe.failing.clear()
        const again = yield* Pipeline.run(probe.pipeline, { concurrency: 2 })
        expect(RunResult.counts(again)).toEqual({ computed: 5, cached: 0, failed: 0 })
        expect(probe.counts.sink).toBe(4 + 5)
        const workers = yield* readCheckpoint(probe.pipeline, (c) => c.workers)
        expect(workers).toHaveLength(2)
        const oldIds = new Set(oldWorkers.map((w) => w.workerId))
        expect(workers.some((w) => oldIds.has(w.workerId))).toBe(false)
      }).pipe(Effect.provide(Live)))

    it.live("resetIndex forgets one index, which the next resumed run computes alone", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 6 })
        yield* Pipeline.run(probe.pipeline)
        const state = yield* readCheckpoint(probe.pipeline, (c) =>
          Effect.zipRight(
            c.resetIndex(3),
            Effect.all({
              completed: c.completedIndices,
              remaining: c.remainingIndices,
              outputs: c.outputsOf(3),
              owner: c.indexOfOutput(probe.pathsOf(3)[0]!),
              metrics: c.metrics
            })
          ))
        expect(sorted(state.completed)).toEqual([0, 1, 2, 4, 5])
        expect(state.remaining).toEqual([3])
        expect(state.outputs).toEqual(Option.none())
        expect(state.owner).toEqual(Option.none())
        expect(state.metrics.map((m) => m.index)).toEqual([0, 1, 2, 4, 5])

        const result = yield* Pipeline.run(probe.pipeline)
        expect(probe.counts).toEqual({ source: 7, filter: 7, sink: 7 })
        expect(result.outcomes.filter((o) => o._tag === "Completed" && !o.cached).map((o) => o.index)).toEqual([3])
        expect((yield* readCheckpoint(probe.pipeline, (c) => c.completedIndices)).size).toBe(6)
      }).pipe(Effect.provide(Live)))

    it.live("workers: one row per lane with a 32-hex id and this process, a shared invocation, counts, idle at the end", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 9, failing: [4] })
        yield* Pipeline.run(probe.pipeline, { concurrency: 3 })
        const { metrics, workers } = yield* readCheckpoint(probe.pipeline, (c) =>
          Effect.all({ workers: c.workers, metrics: c.metrics }))
        expect(workers).toHaveLength(3)
        expect(new Set(workers.map((w) => w.workerId)).size).toBe(3)
        for (const w of workers) {
          expect(w.workerId).toMatch(hex32)
          expect(w.pid).toBe(testHost.pid)
          expect(w.hostname).toBe(testHost.hostname)
          expect(w.currentIndex).toBeNull()
          expect(w.lastHeartbeat >= w.startedAt).toBe(true)
        }
        expect(new Set(workers.map((w) => w.invocationId)).size).toBe(1)
        expect(workers[0]!.invocationId).toMatch(hex32)
        expect(workers.map((w) => w.workerId)).not.toContain(workers[0]!.invocationId)
        // Completed (not failed) indices, counted per worker and named on each result.
        expect(workers.reduce((sum, w) => sum + w.completedCount, 0)).toBe(8)
        for (const w of workers) {
          expect(metrics.filter((m) => m.status === "completed" && m.workerId === w.workerId)).toHaveLength(w.completedCount)
        }
        // A second run registers new workers under a new invocation.
        yield* readCheckpoint(probe.pipeline, (c) => c.resetIndex(0))
        yield* Pipeline.run(probe.pipeline, { concurrency: 3 })
        const later = yield* readCheckpoint(probe.pipeline, (c) => c.workers)
        expect(later).toHaveLength(5)
        expect(new Set(later.map((w) => w.invocationId)).size).toBe(2)
      }).pipe(Effect.provide(Live)))

    it.live("a worker's row shows the index in progress, and its completed count grows index by index", () =>
      Effect.gen(function*() {
        const seen: Array<{ index: number; current: number | null; completed: number }> = []
        let pipeline: Pipeline.Pipeline<CheckpointStore.CheckpointError, CheckpointStore.CheckpointStore> | undefined
        pipeline = Pipeline.from(Source.fromArray("Items", range(0, 4))).pipe(
          Pipeline.write(Sink.fromItems({
            name: "Watch",
            write: (_: ReadonlyArray<number>, index) =>
              readCheckpoint(pipeline!, (c) => c.workers).pipe(
                Effect.map((workers) => {
                  seen.push({ index, current: workers[0]!.currentIndex, completed: workers[0]!.completedCount })
                  return [`/out/${index}`]
                })
              )
          }), { resume: true })
        )
        yield* Pipeline.run(pipeline)
        expect(seen).toEqual(range(0, 4).map((index) => ({ index, current: index, completed: index })))
        const [worker] = yield* readCheckpoint(pipeline, (c) => c.workers)
        expect(worker).toMatchObject({ currentIndex: null, completedCount: 4 })
      }).pipe(Effect.provide(Sequential)))

    it.effect("each layer instance holds its own databases", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 3 })
        yield* Pipeline.run(probe.pipeline).pipe(Effect.provide(Live))
        const elsewhere = yield* readCheckpoint(probe.pipeline, (c) => c.completedIndices).pipe(Effect.provide(Live))
        expect(elsewhere.size).toBe(0)
        // The same instance sees its run.
        const same = yield* Effect.zipRight(Pipeline.run(probe.pipeline), readCheckpoint(probe.pipeline, (c) => c.completedIndices))
          .pipe(Effect.provide(Live))
        expect(sorted(same)).toEqual([0, 1, 2])
      }))
  })

  describe("databaseFileName", () => {
    const hash = "0123456789abcdef".repeat(4)
    it("is the hash's first 16 hex digits, alone with resume, else followed by the time", () => {
      expect(CheckpointStore.databaseFileName(hash, true, 1_700_000_000_000_000n)).toBe("0123456789abcdef.db")
      expect(CheckpointStore.databaseFileName(hash, false, 1_700_000_000_123_456n)).toBe("0123456789abcdef_1700000000123456.db")
    })
  })

  describe("makeSummary", () => {
    it("derives remaining, errors, averages and the latest run's elapsed time from counts", () => {
      expect(CheckpointStore.makeSummary({
        total: 10,
        completed: 3,
        failed: 2,
        completedWallTimeNs: 4_000_000_000,
        latestInvocation: {
          startedAt: "2026-01-01T00:00:00.000000+00:00",
          lastHeartbeat: "2026-01-01T00:00:02.500000+00:00",
          workers: 4
        },
        configHash: "abc",
        location: "memory:/abc.db"
      })).toEqual({
        total: 10,
        completed: 3,
        failed: 2,
        remaining: 5,
        errors: 2,
        avg_time_ms: 1333.333,
        total_elapsed_s: 4,
        elapsed_s: 2.5,
        workers: 4,
        config_hash: "abc",
        db_path: "memory:/abc.db"
      })
    })

    it("reports zeros when nothing ran", () => {
      expect(CheckpointStore.makeSummary({
        total: 3,
        completed: 0,
        failed: 0,
        completedWallTimeNs: 0,
        latestInvocation: undefined,
        configHash: "abc",
        location: "x"
      })).toMatchObject({ remaining: 3, avg_time_ms: 0, total_elapsed_s: 0, elapsed_s: 0, workers: 0 })
    })
  })
})

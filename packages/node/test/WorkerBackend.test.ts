/**
 * The worker-thread backend against the in-process ones: the same pipelines
 * (exported by one fixture module, so the threads load the values the test
 * runs) give the same records on `sequential`, `fibers` and `workers`, into
 * real SQLite files. Then what only threads can do: die mid-index (exit,
 * uncaught exception, out of memory) and be replaced; fail up front on a bad
 * module; refuse a pipeline the threads did not load; and stop at once when
 * a run is interrupted, leaving no thread behind.
 *
 * Thread pools take seconds to start (each thread loads Effect and
 * transpiles TypeScript), so each describe block shares one pool.
 */
import { Backend, type CheckpointStore, Pipeline, type Progress, RunResult } from "@curator/core"
import { SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { afterAll, describe, expect, it, layer } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Logger, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { threadId } from "node:worker_threads"
import type { Shard } from "./fixtures/workerPipelines.js"
import { expectSpecColumns, tempDir, withRaw } from "./helpers.js"

// The fixture's pipelines read these when the module loads, here and in every
// worker thread (threads inherit the environment), so they are set first.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-workers-"))
const environment = ["CURATOR_TEST_OUT", "CURATOR_TEST_N", "PSNC_CACHE_DIR"].map((name) => [name, process.env[name]] as const)
process.env.CURATOR_TEST_OUT = path.join(scratch, "out")
process.env.CURATOR_TEST_N = "12"
// Every run names its own dbDir; this only guards ~/.cache/psnc should one not.
process.env.PSNC_CACHE_DIR = path.join(scratch, "cache")
const fixtures = await import("./fixtures/workerPipelines.js")
const fixtureModule = fileURLToPath(new URL("./fixtures/workerPipelines.ts", import.meta.url))
const N = fixtures.n

/** Worker threads alive in this process (each keeps one MessagePort handle active). */
const liveThreads = () => process.getActiveResourcesInfo().filter((kind) => kind === "MessagePort").length
const threadsAtStart = liveThreads()

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true })
  for (const [name, value] of environment) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
})

/**
 * Timeouts of tests that start threads: generous, as starting threads is CPU
 * bound and this file may share the CPUs with other test files.
 */
const threadTimeout = 240_000

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

/** The SQLite store, without console logging in the test process. */
const Store = Layer.merge(SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger))

type BackendName = "sequential" | "fibers" | "workers"

/** The backend layers under test; the worker pool loads `exportName` from the fixture module. */
const backends: Record<BackendName, (exportName: string) => Layer.Layer<Backend.Backend, Backend.BackendError>> = {
  sequential: () => Backend.layerSequential,
  fibers: () => Backend.layerFibers,
  workers: (exportName) => WorkerBackend.layer({ module: fixtureModule, exportName, threads: 2 })
}

/** Removes a variant's outputs, so a run's files are its own. */
const clearOutputs = (variant: string) => fs.rmSync(path.join(fixtures.outDir, variant), { recursive: true, force: true })

/** A variant's output files (not its artifacts): file name → contents. */
const outputsOf = (variant: string): Record<string, string> => {
  const dir = path.join(fixtures.outDir, variant)
  if (!fs.existsSync(dir)) return {}
  return Object.fromEntries(
    fs.readdirSync(dir).filter((name) => name.endsWith(".json")).sort().map((name) => [name, fs.readFileSync(path.join(dir, name), "utf8")])
  )
}

/** What the sink of `variant` writes for `index`, whichever backend ran it. */
const expectedOutput = (variant: string, index: number) =>
  JSON.stringify([{ variant, index, square: index * index }]) + "\n"

/** Everything a run recorded, read back from its database file. */
const readBack = (location: string) =>
  Effect.gen(function*() {
    const checkpoint = yield* SqliteCheckpointStore.openFile(location)
    return yield* Effect.all({
      completed: checkpoint.completedIndices,
      failed: checkpoint.failedIndices,
      metrics: checkpoint.metrics,
      workers: checkpoint.workers,
      artifacts: checkpoint.artifacts(),
      logs: checkpoint.logs()
    })
  })

/** Expects the file to hold SPEC.md's seven tables with their columns. */
const expectSchema = (location: string) => withRaw(location, expectSpecColumns, { readonly: true })

/** Expects one worker row per lane, as every backend must record them; returns their ids. */
const expectWorkers = (workers: ReadonlyArray<CheckpointStore.WorkerRow>, lanes: number) => {
  expect(workers).toHaveLength(lanes)
  for (const worker of workers) {
    // Threads are workers of this process: the parent registers them.
    expect(worker.pid).toBe(process.pid)
    expect(worker.hostname).toBe(os.hostname())
    expect(worker.currentIndex).toBeNull()
  }
  expect(new Set(workers.map((worker) => worker.invocationId)).size).toBe(1)
  return new Set(workers.map((worker) => worker.workerId))
}

/** What each backend observed, compared across backends at the end. */
const observed: Partial<Record<BackendName, Record<string, unknown>>> = {}
const observe = (backend: BackendName, variant: string, value: unknown) => {
  observed[backend] = { ...observed[backend], [variant]: value }
}

/** Runs `pipeline` into a fresh temporary dbDir on the backend in context. */
const runFresh = (pipeline: Pipeline.Pipeline<unknown>, options: { readonly onProgress?: Progress.ProgressHandler } = {}) =>
  Effect.gen(function*() {
    const dbDir = yield* tempDir("curator-workers-db-")
    const result = yield* Pipeline.run(Pipeline.withOptions(pipeline, { dbDir }), { concurrency: 2, ...options })
    return { dbDir, result, location: result.location! }
  })

const suite = (backend: BackendName) =>
  describe(backend, () => {
    const timeout = backend === "workers" ? threadTimeout : 10_000
    const pool = { timeout: "120 seconds", excludeTestServices: true } as const

    layer(backends[backend]("pipeline"), pool)("pipeline", (it) => {
      it.scoped("computes every index: files, metrics, artifacts, logs and workers recorded in SPEC.md's database", () =>
        Effect.gen(function*() {
          clearOutputs("pipeline")
          const { location, result } = yield* runFresh(fixtures.pipeline)
          expect(RunResult.counts(result)).toEqual({ computed: N, cached: 0, failed: 0 })
          expect(RunResult.paths(result)).toEqual(range(0, N).map((i) => [fixtures.outputPath("pipeline", i)]))
          const files = outputsOf("pipeline")
          expect(Object.values(files)).toEqual(range(0, N).map((i) => expectedOutput("pipeline", i)))

          expectSchema(location)
          const records = yield* readBack(location)
          expect([...records.completed].sort((a, b) => a - b)).toEqual(range(0, N))
          expect(records.failed.size).toBe(0)

          const workerIds = expectWorkers(records.workers, backend === "sequential" ? 1 : 2)
          expect(records.workers.reduce((sum, worker) => sum + worker.completedCount, 0)).toBe(N)

          // Stage metrics: source, filter, sink, for every index, on its worker.
          expect(records.metrics.map((m) => m.index).sort((a, b) => a - b)).toEqual(range(0, N))
          for (const metrics of records.metrics) {
            expect(metrics.status).toBe("completed")
            expect(workerIds.has(metrics.workerId!)).toBe(true)
            expect(metrics.wallTimeNs).toBeGreaterThan(0)
            expect(metrics.stages.map((s) => [s.order, s.name])).toEqual([[0, "source"], [1, "Describe"], [2, "sink"]])
            for (const stage of metrics.stages) expect(stage.wallTimeNs).toBeGreaterThanOrEqual(0)
          }

          // The filter's artifacts, with its name and position.
          expect([...records.artifacts].sort((a, b) => a.index - b.index)).toEqual(
            range(0, N).map((index) => ({
              path: fixtures.artifactPath("pipeline", index),
              index,
              filterName: "Describe",
              filterOrder: 0
            }))
          )
          for (const artifact of records.artifacts) expect(fs.existsSync(artifact.path)).toBe(true)

          // Logs written in the filter (in a thread, for workers) with the worker and index.
          const filtered = records.logs.filter((log) => log.message.startsWith("filtered"))
          expect(filtered.map((log) => log.index).sort((a, b) => a! - b!)).toEqual(range(0, N))
          for (const log of filtered) {
            expect(log.message).toBe(`filtered ${log.index}`)
            expect(log).toMatchObject({ level: 20, levelName: "INFO", loggerName: "Describe" })
            expect(workerIds.has(log.workerId!)).toBe(true)
            // The log's worker is the one that recorded its index.
            expect(log.workerId).toBe(records.metrics.find((m) => m.index === log.index)!.workerId)
          }
          expect(records.logs.some((log) => log.loggerName === "curator" && log.message.startsWith("run finished"))).toBe(true)

          observe(backend, "pipeline", { completed: [...records.completed].sort((a, b) => a - b), failed: [...records.failed], files })
        }).pipe(Effect.provide(Store)), timeout)

      it.scoped("with resume, a second run computes nothing: no stage runs, no thread gets work", () =>
        Effect.gen(function*() {
          const dbDir = yield* tempDir("curator-workers-db-")
          const pipeline = Pipeline.withOptions(fixtures.pipeline, { dbDir, resume: true })
          clearOutputs("pipeline")
          const first = yield* Pipeline.run(pipeline, { concurrency: 2 })
          expect(RunResult.counts(first)).toEqual({ computed: N, cached: 0, failed: 0 })
          const workersAfterFirst = (yield* readBack(first.location!)).workers

          // Any stage that ran again (here or in a thread) would write its files again.
          clearOutputs("pipeline")
          const events: Array<Progress.ProgressEvent["_tag"]> = []
          const second = yield* Pipeline.run(pipeline, { concurrency: 2, onProgress: (event) => events.push(event._tag) })
          expect(RunResult.counts(second)).toEqual({ computed: 0, cached: N, failed: 0 })
          expect(RunResult.paths(second)).toEqual(RunResult.paths(first))
          expect(second.location).toBe(first.location)
          expect(events).toEqual(["RunStarted"])
          expect(fs.existsSync(path.join(fixtures.outDir, "pipeline"))).toBe(false)
          // No lane was opened: the second run registered no worker.
          expect((yield* readBack(second.location!)).workers).toEqual(workersAfterFirst)
        }).pipe(Effect.provide(Store)), timeout)

      if (backend === "workers") {
        it.scoped("a pipeline whose configuration differs from the module's is refused with both hashes; the pool stays usable", () =>
          Effect.gen(function*() {
            const other = fixtures.makeShards({ variant: "pipeline", params: { edition: 2 } })
            expect(other.configHash).not.toBe(fixtures.pipeline.configHash)
            clearOutputs("pipeline")
            const error = yield* Effect.flip(runFresh(other))
            expect(error).toBeInstanceOf(Backend.BackendError)
            const message = (error as Backend.BackendError).message
            expect(message).toContain(fixtures.pipeline.configHash.slice(0, 16))
            expect(message).toContain(other.configHash.slice(0, 16))
            expect(message).toContain(fixtureModule)
            expect(outputsOf("pipeline")).toEqual({})

            // The refused run gave its threads back: the next run has both (and does not wait for one).
            const { location, result } = yield* runFresh(fixtures.pipeline).pipe(Effect.timeout("30 seconds"))
            expect(RunResult.counts(result)).toEqual({ computed: N, cached: 0, failed: 0 })
            expect((yield* readBack(location)).workers).toHaveLength(2)
          }).pipe(Effect.provide(Store)), timeout)
      }
    })

    layer(backends[backend]("failing"), pool)("failing", (it) => {
      it.scoped("a failing index is recorded with its error; the others complete", () =>
        Effect.gen(function*() {
          clearOutputs("failing")
          const { location, result } = yield* runFresh(fixtures.failing)
          expect(RunResult.counts(result)).toEqual({ computed: N - 1, cached: 0, failed: 1 })
          const failedOutcome = result.outcomes[3]!
          expect(failedOutcome).toMatchObject({ _tag: "Failed", index: 3, message: "BadShard: shard 3 is corrupt" })

          const records = yield* readBack(location)
          expect([...records.completed].sort((a, b) => a - b)).toEqual(range(0, N).filter((i) => i !== 3))
          expect(records.failed).toEqual(new Map([[3, "BadShard: shard 3 is corrupt"]]))
          const files = outputsOf("failing")
          expect(files).toEqual(Object.fromEntries(
            range(0, N).filter((i) => i !== 3).map((i) => [path.basename(fixtures.outputPath("failing", i)), expectedOutput("failing", i)])
          ))
          // The failed index logged before failing, and the failure is logged.
          expect(records.logs.some((log) => log.message === "filtered 3" && log.index === 3)).toBe(true)
          expect(records.logs.some((log) => log.levelName === "ERROR" && log.message.includes("index 3 failed: BadShard"))).toBe(true)
          expect(records.artifacts.map((a) => a.index)).not.toContain(3)
          expectWorkers(records.workers, backend === "sequential" ? 1 : 2)
          expectSchema(location)

          observe(backend, "failing", { completed: [...records.completed].sort((a, b) => a - b), failed: [...records.failed], files })
        }).pipe(Effect.provide(Store)), timeout)
    })

    layer(backends[backend]("grouped"), pool)("grouped", (it) => {
      it.scoped("each partition group is processed in order by one lane", () =>
        Effect.gen(function*() {
          clearOutputs("grouped")
          const { location, result } = yield* runFresh(fixtures.grouped)
          expect(RunResult.counts(result)).toEqual({ computed: N, cached: 0, failed: 0 })
          const records = yield* readBack(location)
          const workerOf = new Map(records.metrics.map((m) => [m.index, m.workerId]))
          const shards = range(0, N).map((index) =>
            (JSON.parse(fs.readFileSync(fixtures.outputPath("grouped", index), "utf8")) as Array<Shard>)[0]!
          )
          for (let group = 0; group < N / 3; group++) {
            const members = shards.slice(group * 3, group * 3 + 3)
            // One worker, one thread, in the group's order.
            expect(new Set(members.map((shard) => workerOf.get(shard.index))).size).toBe(1)
            expect(new Set(members.map((shard) => shard.threadId)).size).toBe(1)
            expect(members[0]!.seq! < members[1]!.seq! && members[1]!.seq! < members[2]!.seq!).toBe(true)
          }
          // In process, the test's thread; on workers, the pool's threads.
          for (const shard of shards) {
            if (backend === "workers") expect(shard.threadId).not.toBe(threadId)
            else expect(shard.threadId).toBe(threadId)
          }
          observe(backend, "grouped", { completed: [...records.completed].sort((a, b) => a - b), failed: [...records.failed] })
        }).pipe(Effect.provide(Store)), timeout)
    })
  })

describe("WorkerBackend", () => {
  suite("sequential")
  suite("fibers")
  suite("workers")

  it("every backend recorded the same completed and failed indices and wrote the same files", () => {
    expect(Object.keys(observed).sort()).toEqual(["fibers", "sequential", "workers"])
    expect(observed.fibers).toEqual(observed.sequential)
    expect(observed.workers).toEqual(observed.sequential)
  })

  // This block and the next are concurrent, and run together: most of their
  // time goes to starting threads, which keeps every CPU busy.
  describe.concurrent("a thread that dies mid-index", () => {
    // With two threads, the survivor's next index waits for the replacement (see
    // the `exits` fixture), so both share the rest; with one, the replacement
    // must take over the rest of the work. The memory limit leaves a thread room
    // to load Effect, the platform and the pipeline module (over 32 MB now);
    // index 2 then exhausts it.
    const deaths = [
      { exportName: "exits", why: "exit code 7", detail: /^exited with code 7$/, threads: 2, resourceLimits: undefined },
      { exportName: "throwsUncaught", why: "boom", detail: /^boom$/, threads: 1, resourceLimits: undefined },
      { exportName: "oom", why: "out of memory", detail: /^[^()]*memory limit[^()]*$/, threads: 1, resourceLimits: { maxOldGenerationSizeMb: 96 } }
    ] as const

    for (const { detail, exportName, resourceLimits, threads, why } of deaths) {
      it.scopedLive(`${exportName} (${threads} thread${threads === 1 ? "" : "s"}): the index in flight is recorded as WorkerDied (${why}), the thread is replaced, the others complete`, () =>
        Effect.gen(function*() {
          clearOutputs(exportName)
          const { location, result } = yield* runFresh(fixtures[exportName]).pipe(
            Effect.provide(WorkerBackend.layer({ module: fixtureModule, exportName, threads, resourceLimits }))
          )
          expect(RunResult.counts(result)).toEqual({ computed: N - 1, cached: 0, failed: 1 })
          const died = result.outcomes[2]!
          expect(died._tag).toBe("Failed")
          const message = (died as RunResult.Failed<unknown>).message
          // The reason itself, not the wrappers it reached the parent in.
          const [, reason] = message.match(/^WorkerDied: the worker thread died while processing index 2 \((.*)\); it was replaced$/) ?? []
          expect(reason, message).toMatch(detail)

          const records = yield* readBack(location)
          expect(records.failed).toEqual(new Map([[2, message]]))
          expect([...records.completed].sort((a, b) => a - b)).toEqual(range(0, N).filter((i) => i !== 2))
          expect(Object.keys(outputsOf(exportName))).toEqual(
            range(0, N).filter((i) => i !== 2).map((i) => path.basename(fixtures.outputPath(exportName, i)))
          )
          // A worker row per thread, and one more for the replacement, started after the death was recorded.
          expectWorkers(records.workers, threads + 1)
          const death = records.metrics.find((m) => m.index === 2)!
          const latest = [...records.workers].sort((a, b) => a.startedAt.localeCompare(b.startedAt))[threads]!
          expect(latest.startedAt >= death.completedAt).toBe(true)
          expect(latest.workerId).not.toBe(death.workerId)
          if (threads === 1) {
            // The replacement computed every index after the death.
            const after = records.metrics.filter((m) => m.index > 2)
            expect(after.length).toBe(N - 3)
            for (const m of after) expect(m.workerId).toBe(latest.workerId)
          }
        }).pipe(Effect.provide(Store)), threadTimeout)
    }

    it.scopedLive("in the middle of a partition group (1 thread): the replacement takes the rest of the group first, in order", () =>
      Effect.gen(function*() {
        clearOutputs("groupedExits")
        const { location, result } = yield* runFresh(fixtures.groupedExits).pipe(
          Effect.provide(WorkerBackend.layer({ module: fixtureModule, exportName: "groupedExits", threads: 1 }))
        )
        expect(RunResult.counts(result)).toEqual({ computed: N - 1, cached: 0, failed: 1 })
        expect((result.outcomes[4] as RunResult.Failed<unknown>).message).toMatch(/^WorkerDied: the worker thread died while processing index 4 /)
        const records = yield* readBack(location)
        expectWorkers(records.workers, 2)
        const metricOf = new Map(records.metrics.map((m) => [m.index, m]))
        const first = metricOf.get(3)!.workerId
        const replacement = metricOf.get(5)!.workerId
        expect(replacement).not.toBe(first)
        expect(metricOf.get(4)!.workerId).toBe(first)
        // The replacement's first index is 5, the rest of the broken group;
        // then it claims the next groups and keeps their order.
        const seqOf = new Map(range(0, N).filter((i) => i !== 4).map((index) => {
          const [shard] = JSON.parse(fs.readFileSync(fixtures.outputPath("groupedExits", index), "utf8")) as Array<Shard>
          return [index, shard!.seq!] as const
        }))
        expect(seqOf.get(5)).toBe(1)
        for (const index of range(6, N)) {
          expect(metricOf.get(index)!.workerId).toBe(replacement)
          expect(seqOf.get(index)).toBe(seqOf.get(index - 1)! + 1)
        }
      }).pipe(Effect.provide(Store)), threadTimeout)
  })

  describe.concurrent("a module the threads cannot use fails the layer up front", () => {
    // With two threads, the one still starting when the other fails must be stopped too.
    const cases = [
      { what: "a missing module file", module: path.join(scratch, "missing.ts"), exportName: "pipeline", threads: 1, says: "does not exist" },
      { what: "a missing export", module: fixtureModule, exportName: "nothing", threads: 2, says: `has no export "nothing"` },
      { what: "an export that is not a pipeline", module: fixtureModule, exportName: "notAPipeline", threads: 1, says: "is not a pipeline (it is number)" }
    ]
    for (const { exportName, module, says, threads, what } of cases) {
      it.scopedLive(`${what}: BackendError, and nothing runs`, () =>
        Effect.gen(function*() {
          const dbDir = yield* tempDir("curator-workers-db-")
          clearOutputs("pipeline")
          const error = yield* Effect.flip(
            Pipeline.run(Pipeline.withOptions(fixtures.pipeline, { dbDir })).pipe(
              Effect.provide(WorkerBackend.layer({ module, exportName, threads }))
            )
          )
          expect(error).toBeInstanceOf(Backend.BackendError)
          expect((error as Backend.BackendError).message).toContain(says)
          expect((error as Backend.BackendError).message).toContain(module)
          // The run never started: no database, no output.
          expect(fs.readdirSync(dbDir)).toEqual([])
          expect(outputsOf("pipeline")).toEqual({})
        }).pipe(Effect.provide(Store)), threadTimeout)
    }
  })

  describe("interruption", () => {
    it.scopedLive("stops the run at once: finished indices are recorded, the threads are stopped, none is left running", () =>
      Effect.gen(function*() {
        const dbDir = yield* tempDir("curator-workers-db-")
        clearOutputs("slow")
        const before = liveThreads()
        const poolScope = yield* Scope.make()
        const pool = yield* Layer.buildWithScope(
          WorkerBackend.layer({ module: fixtureModule, exportName: "slow", threads: 2 }),
          poolScope
        )
        expect(liveThreads()).toBe(before + 2)

        // A lane starts its next index only once the previous one is recorded:
        // when four have started, at least two are recorded.
        const fourStarted = yield* Deferred.make<void>()
        let started = 0
        const run = yield* Pipeline.run(Pipeline.withOptions(fixtures.slow, { dbDir }), {
          concurrency: 2,
          onProgress: (event) => {
            if (event._tag === "IndexStarted" && ++started === 4) Deferred.unsafeDone(fourStarted, Exit.void)
          }
        }).pipe(Effect.provide(pool), Effect.fork)
        yield* Deferred.await(fourStarted)
        // Interrupt while a thread is in the middle of an index (its marker is written, its output not yet).
        const midIndex = () =>
          range(0, N).some((i) => fs.existsSync(fixtures.startedPath(i)) && !fs.existsSync(fixtures.outputPath("slow", i)))
        yield* Effect.sleep("5 millis").pipe(Effect.repeat({ until: midIndex }), Effect.timeout("2 seconds"))

        const interruptedAt = performance.now()
        yield* Fiber.interrupt(run)
        expect(performance.now() - interruptedAt).toBeLessThan(2_000)

        // Nothing goes on computing in the background: no index finishes later.
        const outputsAtInterrupt = outputsOf("slow")
        yield* Effect.sleep("400 millis")
        expect(outputsOf("slow")).toEqual(outputsAtInterrupt)

        const dbFile = fs.readdirSync(dbDir).find((name) => name.endsWith(".db"))!
        const records = yield* readBack(path.join(dbDir, dbFile))
        const completed = [...records.completed].sort((a, b) => a - b)
        expect(completed.length).toBeGreaterThanOrEqual(2)
        expect(completed.length).toBeLessThan(N)
        // Every index recorded as completed wrote its whole output...
        for (const index of completed) {
          expect(outputsAtInterrupt[path.basename(fixtures.outputPath("slow", index))]).toBe(expectedOutput("slow", index))
        }
        // ...and those in flight when the run stopped are not recorded at all.
        const inFlight = range(0, N).filter((index) => fs.existsSync(fixtures.startedPath(index)) && !completed.includes(index))
        expect(inFlight.length).toBeGreaterThan(0)
        for (const index of inFlight) {
          expect(records.completed.has(index)).toBe(false)
          expect(records.failed.has(index)).toBe(false)
        }

        // The interrupted threads were terminated; closing the pool stops the rest.
        expect(liveThreads()).toBeLessThan(before + 2)
        yield* Scope.close(poolScope, Exit.void)
        expect(liveThreads()).toBe(before)
      }).pipe(Effect.provide(Store)), threadTimeout)
  })

  describe("interrupting the pool's start", () => {
    it.scopedLive("stops the threads being started", () =>
      Effect.gen(function*() {
        const before = liveThreads()
        const starting = yield* Effect.fork(Effect.scoped(Layer.build(
          WorkerBackend.layer({ module: fixtureModule, exportName: "pipeline", threads: 2 })
        )))
        // Both threads exist and are loading.
        yield* Effect.sleep("5 millis").pipe(Effect.repeat({ until: () => liveThreads() === before + 2 }), Effect.timeout("10 seconds"))
        const interruptedAt = performance.now()
        yield* Fiber.interrupt(starting)
        expect(performance.now() - interruptedAt).toBeLessThan(2_000)
        expect(liveThreads()).toBe(before)
      }), threadTimeout)
  })

  it("no worker thread started by these tests is left running", () => {
    expect(liveThreads()).toBe(threadsAtStart)
  })
})

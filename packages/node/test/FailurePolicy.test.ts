/**
 * The failure policy, the same on every backend (sequential, fibers,
 * worker threads, and `curator runner` processes where PostgreSQL is
 * available), with real failures: a flaky stage retried in the run until
 * it succeeds (each attempt logged under its index and worker, the
 * attempts recorded); failures classed transient or permanent and recorded
 * with the index; permanent failures quarantined after K runs and lifted
 * by reset; an index stuck past its timeout (on a thread, in a CPU loop
 * that only terminating the thread stops — also on a runner computing on
 * threads); an error budget that stops the run gracefully; the same policy
 * on a pipeline whose stage needs a service and works on several items at
 * once; an index that produces nothing flagged stalled while it runs (on the
 * cluster too: the submitter polls the runners for the indices in flight).
 */
import { Backend, Pipeline, type Progress, RunResult } from "@curator/core"
import { SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Logger, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { makeRunners } from "./clusterRunners.js"
import { allFail, flaky, resetAttempts, serviced, slow, stalls, stuck } from "./fixtures/failurePolicy.js"
import { postgresUrl, skipReason } from "./postgres.js"

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-failure-"))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

const fixture = fileURLToPath(new URL("./fixtures/failurePolicy.ts", import.meta.url))

type BackendName = "sequential" | "fibers" | "workers" | "cluster"
const skipped = (name: BackendName) => name === "cluster" && postgresUrl === undefined

// The stalled index of `stalls` waits until this file exists: each stall case releases it once it has seen what it checks.
const stallRelease = path.join(scratch, "release-stalled-index")
process.env.CURATOR_TEST_STALL_RELEASE = stallRelease
const holdStalled = () => fs.rmSync(stallRelease, { force: true })
const releaseStalled = () => fs.writeFileSync(stallRelease, "")

/** One runner per pipeline (concurrency 2), shared by the cases that run it; a run of 20 indices or fewer sends batches of one. */
const cluster = makeRunners({ fixture, scratch, env: () => ({ CURATOR_TEST_STALL_RELEASE: stallRelease }) })
afterAll(cluster.stopAll, 60_000)

const backendLayer = (name: BackendName, exportName: string): Layer.Layer<Backend.Backend, Backend.BackendError> =>
  name === "sequential"
    ? Backend.layerSequential
    : name === "fibers"
    ? Backend.layerFibers
    : name === "workers"
    ? WorkerBackend.layer({ module: fixture, exportName, threads: 2 })
    : cluster.layer(exportName)

let databases = 0
const freshFile = () => path.join(scratch, `run-${++databases}.db`)

const runOn = <E>(pipeline: Pipeline.Pipeline<E, never>, backend: Layer.Layer<Backend.Backend>, dbFile: string) =>
  Pipeline.run(Pipeline.withOptions(pipeline, { dbFile, resume: true }), { concurrency: 2 }).pipe(
    Effect.provide(Layer.mergeAll(backend, SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger)))
  )

const readBack = (location: string, indices: ReadonlyArray<number>) =>
  Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(location), (c) =>
    Effect.all({ logs: c.logs(), details: c.failureDetails(indices), failed: c.failedIndices })))

const withCheckpointRead = <A, E>(location: string, f: (c: import("@curator/core").CheckpointStore.Checkpoint) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(location), f))

const withCheckpoint = <A, E>(location: string, f: (c: import("@curator/core").CheckpointStore.Checkpoint) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(location, { readonly: false }), f))

describe.each(["sequential", "fibers", "workers", "cluster"] as const)("on %s", (name) => {
  if (name === "cluster" && postgresUrl !== undefined) {
    // Started together, so that their start-up overlaps.
    beforeAll(() =>
      Promise.all([
        cluster.runnerOf("flaky"),
        cluster.runnerOf("stuck", "workers"),
        cluster.runnerOf("allFail"),
        cluster.runnerOf("serviced"),
        cluster.runnerOf("slow"),
        cluster.runnerOf("stalls"),
        cluster.runnerOf("stalls", "workers")
      ]), 180_000)
  }
  const live = skipped(name) ? it.live.skip : it.live
  const suffix = skipped(name) ? ` (${skipReason})` : ""

  live(`retries a flaky stage until it succeeds, classes failures, quarantines permanent ones after K runs, lifts them on reset${suffix}`, () =>
    Effect.scoped(Effect.gen(function*() {
      resetAttempts()
      const backend = Layer.succeedContext(yield* Layer.build(backendLayer(name, "flaky")))
      const dbFile = freshFile()
      const first = yield* runOn(flaky, backend, dbFile)
      expect(first.outcomes.map((o) => o._tag)).toEqual(["Completed", "Completed", "Failed", "Failed", "Completed"])
      const { details, failed, logs } = yield* readBack(dbFile, [0, 1, 2, 3])
      // The flaky index: completed on attempt 3, both retries logged with its index and worker.
      expect(details.get(1)).toMatchObject({ attempts: 3, failureClass: null, quarantined: false })
      const retries = logs.filter((line) => line.message.includes("of index 1 failed"))
      expect(retries.map((line) => line.message.slice(0, 32))).toEqual([
        "attempt 1/5 of index 1 failed: B",
        "attempt 2/5 of index 1 failed: B"
      ])
      expect(retries[0]!.message).toContain("Blip: connection reset (attempt 1); retrying in 5 milliseconds")
      for (const line of retries) {
        expect(line.index).toBe(1)
        expect(line.workerId).toMatch(/^[0-9a-f]{32}$/)
      }
      // A defect and an error that says it is permanent: not retried, recorded with their class; SPEC's error text kept.
      expect(details.get(2)).toMatchObject({ attempts: 1, failureClass: "permanent", permanentFailures: 1, stage: "Fetch" })
      expect(details.get(3)).toMatchObject({ attempts: 1, failureClass: "permanent", permanentFailures: 1, stage: "Fetch" })
      // A success at the first attempt keeps no details (one attempt, no failure).
      expect(details.has(0)).toBe(false)
      expect(failed.get(2)).toBe("Error: assertion failed: negative size")
      expect(failed.get(3)).toBe("Corrupt: truncated header")

      // A second run fails them again: now quarantined (K = 2); a third skips them and reports them.
      yield* runOn(flaky, backend, dbFile)
      const third = yield* runOn(flaky, backend, dbFile)
      expect(third.quarantined).toEqual([2, 3])
      const skipped = third.outcomes.filter(RunResult.isFailed)
      expect(skipped.map((o) => o.message.split(":")[0])).toEqual(["Quarantined", "Quarantined"])
      expect((yield* readBack(dbFile, [2, 3])).details.get(2)).toMatchObject({ permanentFailures: 2, quarantined: true })

      // Lifted: one by resetting the index, the other with the quarantine of all.
      yield* withCheckpoint(dbFile, (c) => c.resetIndex(2))
      expect(yield* withCheckpoint(dbFile, (c) => c.liftQuarantine)).toBe(1)
      const fourth = yield* runOn(flaky, backend, dbFile)
      expect(fourth.quarantined).toEqual([])
      expect(fourth.outcomes.filter(RunResult.isFailed).map((o) => o.message)).toEqual([
        "Error: assertion failed: negative size",
        "Corrupt: truncated header"
      ])
    })), 120_000)

  live(`an index past its timeout is recorded as IndexTimeout naming its stage, and the next index runs${suffix}`, () =>
    Effect.scoped(Effect.gen(function*() {
      // On the cluster: a runner computing on worker threads, where the index spins in a CPU loop. (An index
      // waiting on a runner's main thread times out there: the test of a stage that needs a service shows it.)
      const layer = name === "cluster" ? cluster.layer("stuck", { backend: "workers" }) : backendLayer(name, "stuck")
      const backend = Layer.succeedContext(yield* Layer.build(layer))
      const result = yield* runOn(stuck, backend, freshFile())
      expect(result.outcomes.map((o) => o._tag)).toEqual(["Completed", "Failed", "Completed"])
      const timedOut = result.outcomes[1] as RunResult.Failed<unknown>
      expect(timedOut.message).toMatch(/^IndexTimeout: index 1 exceeded 300 milliseconds in stage Spin/)
      // On a thread the CPU loop ignored interruption: the thread was terminated and replaced.
      if (name === "workers" || name === "cluster") expect(timedOut.message).toContain("the worker thread did not stop and was replaced")
      else expect(timedOut.message).not.toContain("replaced")
      const { details, logs } = yield* readBack(result.location!, [1])
      // Recorded in the stage it was stuck in (on a thread, as the thread last told its probe), and its line is that stage's.
      expect(details.get(1)).toMatchObject({ failureClass: "transient", stage: "Spin" })
      expect(logs.filter((line) => line.message.startsWith("index 1 failed")).map((line) => [line.levelName, line.loggerName]))
        .toEqual([["ERROR", "Spin"]])
    })), 120_000)

  live(`a stage that needs a service and works on three items at once: retried, timed out and classed as a plain one${suffix}`, () =>
    Effect.scoped(Effect.gen(function*() {
      const backend = Layer.succeedContext(yield* Layer.build(backendLayer(name, "serviced")))
      const result = yield* runOn(serviced, backend, freshFile())
      expect(result.outcomes.map((o) => o._tag)).toEqual(["Completed", "Completed", "Failed", "Failed"])
      // Every item of the flaky index arrives once, from its third attempt.
      expect(RunResult.paths(result).slice(0, 2)).toEqual([["/virtual/0/0,1,2,3"], ["/virtual/1/10,11,12,13"]])
      const failures = result.outcomes.filter(RunResult.isFailed)
      expect(failures[0]!.message).toMatch(/^IndexTimeout: index 2 exceeded 1 second in stage Lookup/)
      expect(failures[1]!.message).toBe("Corrupt: truncated record")
      const { details, logs } = yield* readBack(result.location!, [0, 1, 2, 3])
      expect(details.get(1)).toMatchObject({ attempts: 3, failureClass: null })
      // A timeout is transient: tried again up to maxAttempts; a corrupt record is not.
      expect(details.get(2)).toMatchObject({ attempts: 3, failureClass: "transient" })
      expect(details.get(3)).toMatchObject({ attempts: 1, failureClass: "permanent" })
      const retries = logs.filter((line) => /^attempt \d\/3 of index \d failed/.test(line.message))
      // (Indices 1 and 2 run at once: their lines interleave.)
      expect(retries.map((line) => `${line.index}: ${line.message.slice(0, 28)}`).sort()).toEqual([
        "1: attempt 1/3 of index 1 faile",
        "1: attempt 2/3 of index 1 faile",
        "2: attempt 1/3 of index 2 faile",
        "2: attempt 2/3 of index 2 faile"
      ])
    })), 120_000)

  // (On the cluster: the submitter polls the runner for the indices of a batch in flight; the runner computes on
  // fibers, then on worker threads, where it reads the thread's probe from shared memory.)
  live(`heartbeats carry the items so far; an index that produces nothing for stallAfter is flagged stalled while it runs${suffix}`, () =>
    Effect.scoped(Effect.gen(function*() {
      const layers = name === "cluster" ? [cluster.layer("stalls"), cluster.layer("stalls", { backend: "workers" })] : [backendLayer(name, "stalls")]
      for (const layer of layers) {
        const backend = Layer.succeedContext(yield* Layer.build(layer))
        const dbFile = freshFile()
        const stalled = yield* Deferred.make<Progress.IndexStalled>()
        const onProgress = (event: Progress.ProgressEvent) => {
          if (event._tag === "IndexStalled") Effect.runSync(Deferred.succeed(stalled, event))
        }
        // While index 0 waits: once flagged, its worker's progress row says stalled (after the next heartbeat is
        // written). Then it is released (or after 30 s, when it was never flagged).
        holdStalled()
        const seen = yield* Effect.fork(Effect.gen(function*() {
          const event = yield* Deferred.await(stalled)
          yield* Effect.sleep("300 millis")
          const progress = yield* withCheckpointRead(dbFile, (c) => c.workerProgress)
          return { event, beat: progress.get(event.workerId) }
        }).pipe(Effect.timeout("30 seconds"), Effect.option, Effect.ensuring(Effect.sync(releaseStalled))))
        const result = yield* Pipeline.run(Pipeline.withOptions(stalls, { dbFile }), { concurrency: 2, onProgress }).pipe(
          Effect.provide(Layer.mergeAll(backend, SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger)))
        )
        const flagged = yield* Fiber.join(seen)
        expect(Option.isSome(flagged), "index 0 was never flagged stalled").toBe(true)
        const { beat, event } = Option.getOrThrow(flagged)
        expect(event).toMatchObject({ index: 0, items: 0 })
        expect(beat).toMatchObject({ index: 0, items: 0, stalled: true })
        // It finished after all (warn only); the flag went with it, and the warning is in the log.
        expect(result.outcomes.map((o) => o._tag)).toEqual(["Completed", "Completed"])
        const after = yield* withCheckpointRead(dbFile, (c) => Effect.all({ progress: c.workerProgress, logs: c.logs() }))
        expect(after.progress.get(event.workerId)).toMatchObject({ index: null, stalled: false })
        expect(after.logs.some((line) => /^index 0 on worker \w+ has produced nothing new for (\d+ milliseconds|[\d.]+ seconds?) in stage Wait \(0 items so far\): stalled$/.test(line.message))).toBe(true)
      }
      // onStall: "interrupt" gives it up as a timeout would: on a thread, the thread is terminated and replaced.
      // On the cluster it runs on another machine: warned about, and it goes on.
      // (On the cluster, it is released once flagged; elsewhere, the interruption ends it.)
      holdStalled()
      const interrupted = yield* Pipeline.run(Pipeline.withOptions(stalls, { dbFile: freshFile() }), {
        failurePolicy: { onStall: "interrupt" },
        onProgress: (event) => {
          if (event._tag === "IndexStalled" && name === "cluster") releaseStalled()
        }
      }).pipe(Effect.provide(Layer.mergeAll(backendLayer(name, "stalls"), SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger))))
      const { details, logs } = yield* readBack(interrupted.location!, [0])
      const warning = logs.find((line) => line.message.includes("has produced nothing new"))?.message
      if (name === "cluster") {
        expect(interrupted.outcomes.map((o) => o._tag)).toEqual(["Completed", "Completed"])
        expect(warning).toMatch(/: stalled; not interrupted: it runs on another machine, where only its indexTimeout can stop it$/)
      } else {
        expect((interrupted.outcomes[0] as RunResult.Failed<unknown>).message).toBe(
          "IndexTimeout: index 0 produced nothing new for 400 milliseconds in stage Wait (stalled)" +
            (name === "workers" ? "; the worker thread was terminated and replaced" : "")
        )
        expect(interrupted.outcomes[1]!._tag).toBe("Completed")
        expect(details.get(0)).toMatchObject({ stage: "Wait" })
        expect(warning).toMatch(/: stalled; interrupting it$/)
      }
    })), 120_000)

  live(`the error budget stops the run gracefully: 5 to 5 + concurrency failures, the rest not run${suffix}`, () =>
    Effect.scoped(Effect.gen(function*() {
      const backend = Layer.succeedContext(yield* Layer.build(backendLayer(name, "allFail")))
      const result = yield* runOn(allFail, backend, freshFile())
      const failed = result.outcomes.filter(RunResult.isFailed).length
      expect(failed).toBeGreaterThanOrEqual(5)
      expect(failed).toBeLessThanOrEqual(5 + 2)
      expect(result.outcomes.filter(RunResult.isNotRun)).toHaveLength(20 - failed)
      expect(result.budgetExceeded).toBe("the error budget of 5 failures (maxFailures) was reached")
    })), 120_000)

  // (The budget's stop on several runners at once is this stop: the submitter tells every runner holding a batch.
  // Worker threads are stopped the same way in WorkerBackend.test.ts.)
  if (name !== "workers") {
    live(`a graceful stop reaches where indices run: those in flight finish and are recorded, the rest are not run${suffix}`, () =>
      Effect.scoped(Effect.gen(function*() {
        const backend = Layer.succeedContext(yield* Layer.build(backendLayer(name, "slow")))
        const first = yield* Deferred.make<void>()
        const onProgress = (event: Progress.ProgressEvent) => {
          if (event._tag === "IndexFinished") Effect.runSync(Deferred.succeed(first, undefined))
        }
        const result = yield* Pipeline.run(Pipeline.withOptions(slow, { dbFile: freshFile() }), {
          concurrency: 2,
          onProgress,
          stop: Deferred.await(first)
        }).pipe(Effect.provide(Layer.mergeAll(backend, SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger))))
        const completed = result.outcomes.filter((o) => o._tag === "Completed").length
        // The first, and those started before the stop was seen (the stop is asked for from another fiber;
        // on the cluster, all 20 were sent at once, and the runner hears of it through a message).
        expect(completed).toBeGreaterThanOrEqual(1)
        expect(completed).toBeLessThanOrEqual(name === "cluster" ? 6 : 3)
        expect(result.outcomes.filter(RunResult.isNotRun)).toHaveLength(20 - completed)
        const summary = yield* withCheckpointRead(result.location!, (c) => c.summary)
        expect(summary.completed).toBe(completed)
      })), 120_000)
  }
})

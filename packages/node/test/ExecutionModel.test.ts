/**
 * The execution model, the same on every backend (sequential, fibers,
 * worker threads, and a cluster of `curator runner` processes where
 * PostgreSQL is available): a pipeline's services travel with it and are
 * built once where its indices are computed; a concurrent filter's logs,
 * artifacts and spans are its own; a typed failure arrives as the same
 * error value; a span a user opens in a filter is a child of that filter's
 * stage span.
 */
import { Backend, Pipeline, RunResult } from "@curator/core"
import { SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Cause, Effect, Layer, Logger, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { BadInput, concurrent, failing, failingStreams, withService } from "./fixtures/executionModel.js"
import { makeRunners } from "./clusterRunners.js"
import { postgresUrl, skipReason } from "./postgres.js"

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-model-"))
const resources = path.join(scratch, "resources")
fs.mkdirSync(resources)
process.env.CURATOR_TEST_RESOURCES = resources
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

const fixture = fileURLToPath(new URL("./fixtures/executionModel.ts", import.meta.url))

/**
 * The cluster: for each pipeline of the fixture, one `curator runner`
 * process (concurrency 2) over a fresh PostgreSQL database of its own (a
 * runner serves one pipeline), with its own resources directory. All are
 * started together when the cluster tests begin, and stopped (SIGTERM) at
 * the end, or by the service test, which counts the releases.
 */
const runnerResources = (exportName: string) => path.join(scratch, `runner-${exportName}`)
const cluster = makeRunners({
  fixture,
  scratch,
  env: (exportName) => {
    fs.mkdirSync(runnerResources(exportName), { recursive: true })
    return { PSNC_CACHE_DIR: path.join(scratch, "cache"), CURATOR_TEST_RESOURCES: runnerResources(exportName) }
  }
})

type BackendName = "sequential" | "fibers" | "workers" | "cluster"
const backendLayer = (name: BackendName, exportName: string): Layer.Layer<Backend.Backend, Backend.BackendError> =>
  name === "sequential"
    ? Backend.layerSequential
    : name === "fibers"
    ? Backend.layerFibers
    : name === "workers"
    ? WorkerBackend.layer({ module: fixture, exportName, threads: 2 })
    : cluster.layer(exportName)

let databases = 0
const freshDir = () => path.join(scratch, `db-${++databases}`)

/** Runs a closed pipeline on a backend already built, recording into a fresh SQLite database. */
const runOn = <E>(pipeline: Pipeline.Pipeline<E, never>, backend: Layer.Layer<Backend.Backend>) =>
  Pipeline.run(Pipeline.withOptions(pipeline, { dbDir: freshDir() }), { concurrency: 2 }).pipe(
    Effect.provide(Layer.mergeAll(backend, SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger)))
  )

const marks = (event: "acquired" | "released", dir = resources) => fs.readdirSync(dir).filter((name) => name.startsWith(event)).length

const recorded = (location: string) =>
  Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(location), (c) =>
    Effect.all({ logs: c.logs(), artifacts: c.artifacts() })))

const withSpans = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const exporter = new InMemorySpanExporter()
    return Effect.map(effect, () => exporter.getFinishedSpans()).pipe(
      Effect.provide(NodeSdk.layer(() => ({ resource: { serviceName: "curator-test" }, spanProcessor: new SimpleSpanProcessor(exporter) })))
    )
  })

/** What each backend's typed failure looked like, per failing pipeline, compared across backends at the end. */
const failures = { failing: new Map<BackendName, unknown>(), failingStreams: new Map<BackendName, unknown>() }

const backends = ["sequential", "fibers", "workers", "cluster"] as const
const skipped = (name: BackendName) => name === "cluster" && postgresUrl === undefined

describe.each(backends)("on %s", (name) => {
  if (name === "cluster" && postgresUrl !== undefined) {
    // Started together, so that their start-up overlaps.
    beforeAll(() => Promise.all(["withService", "concurrent", "failing", "failingStreams"].map((exportName) => cluster.runnerOf(exportName))), 120_000)
    afterAll(cluster.stopAll, 60_000)
  }
  const live = skipped(name) ? it.live.skip : it.live
  const suffix = skipped(name) ? ` (${skipReason})` : ""

  live(`a pipeline's service is built once where indices are computed, and released when that place shuts down${suffix}`, () =>
    Effect.gen(function*() {
      for (const file of fs.readdirSync(resources)) fs.rmSync(path.join(resources, file))
      const runner = name === "cluster" ? yield* Effect.promise(() => cluster.runnerOf("withService")) : undefined
      const result = yield* Effect.scoped(Effect.gen(function*() {
        const backend = yield* Layer.build(backendLayer(name, "withService"))
        const provided = Layer.succeedContext(backend)
        const first = yield* runOn(withService, provided)
        const second = yield* runOn(withService, provided)
        if (runner === undefined) {
          // In this process: once per run (two runs), released as each run ends.
          // In worker threads: once per thread (two threads), for both runs, still held.
          expect(marks("acquired")).toBe(2)
          expect(marks("released")).toBe(name === "workers" ? 0 : 2)
        } else {
          // On the runner: once (when it started), for both runs, still held; never in the submitting process.
          expect([marks("acquired", runnerResources("withService")), marks("released", runnerResources("withService"))]).toEqual([1, 0])
          expect(marks("acquired")).toBe(0)
        }
        return [first, second]
      }))
      for (const run of result) {
        expect(RunResult.paths(run).map((paths) => paths![0]!.split("/").pop())).toEqual(["[10]", "[20]", "[30]", "[40]"])
      }
      if (runner === undefined) {
        // The pool is gone: every acquisition was released.
        expect(marks("released")).toBe(marks("acquired"))
      } else {
        // Leaving the cluster does not release the runner's service; the runner's shutdown does.
        expect(marks("released", runnerResources("withService"))).toBe(0)
        yield* Effect.promise(() => cluster.stop(runner))
        expect([marks("acquired", runnerResources("withService")), marks("released", runnerResources("withService"))]).toEqual([1, 1])
      }
    }), 120_000)

  live(`a filter with a concurrent stream operator: its logs and artifacts are its own, the source's are the source's${suffix}`, () =>
    Effect.gen(function*() {
      const result = yield* Effect.scoped(Effect.flatMap(Layer.build(backendLayer(name, "concurrent")), (backend) =>
        runOn(concurrent, Layer.succeedContext(backend))))
      expect(RunResult.counts(result)).toEqual({ computed: 3, cached: 0, failed: 0 })
      const { artifacts, logs } = yield* recorded(result.location!)
      const enriching = logs.filter((line) => line.message.startsWith("enriching"))
      const yielding = logs.filter((line) => line.message.startsWith("source yields"))
      expect(enriching).toHaveLength(18)
      expect(yielding).toHaveLength(18)
      expect(new Set(enriching.map((line) => line.loggerName))).toEqual(new Set(["Enrich"]))
      expect(new Set(yielding.map((line) => line.loggerName))).toEqual(new Set(["Slow"]))
      for (const line of [...enriching, ...yielding]) expect(line.index).not.toBeNull()
      expect(artifacts).toHaveLength(18)
      expect(new Set(artifacts.map((a) => `${a.filterName}:${a.filterOrder}`))).toEqual(new Set(["Enrich:0"]))
      expect(artifacts.filter((a) => a.index === 2).map((a) => a.path).sort()).toEqual(
        [0, 1, 2, 3, 4, 5].map((k) => `/artifacts/${k}`)
      )
    }), 120_000)

  live(`a user's span inside a filter is a child of that filter's stage span${suffix}`, () =>
    Effect.gen(function*() {
      const spans: ReadonlyArray<ReadableSpan> = yield* withSpans(Effect.scoped(
        Effect.flatMap(Layer.build(backendLayer(name, "concurrent")), (backend) => runOn(concurrent, Layer.succeedContext(backend)))
      ))
      const users = spans.filter((span) => span.name === "user.enrich")
      expect(users).toHaveLength(18)
      const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]))
      for (const span of users) {
        const parent = byId.get(span.parentSpanContext?.spanId ?? "")
        expect(parent?.name).toBe("curator.stage Enrich")
        expect(byId.get(parent?.parentSpanContext?.spanId ?? "")?.name).toBe("curator.index")
      }
    }), 120_000)

  const failingPipelines = [["failing", failing, "items"], ["failingStreams", failingStreams, "streams"]] as const
  for (const [exportName, pipeline, route] of failingPipelines) {
    live(`a typed failure arrives as the same error value, recorded with the stage it failed in (${route} path)${suffix}`, () =>
      Effect.gen(function*() {
        const result = yield* Effect.scoped(Effect.flatMap(Layer.build(backendLayer(name, exportName)), (backend) =>
          runOn(pipeline, Layer.succeedContext(backend))))
        const failed = result.outcomes.filter(RunResult.isFailed)
        expect(failed.map((o) => o.index)).toEqual([1, 3])
        // The stage as stage_metrics names it; the failure's ERROR line is that stage's (its component's name, as its own lines).
        const { details, logs } = yield* Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(result.location!), (c) =>
          Effect.all({ details: c.failureDetails([0, 1, 2, 3]), logs: c.logs({ minLevel: 40 }) })))
        expect([...details.values()].map((d) => [d.index, d.stage])).toEqual([[1, "Check"], [3, "source"]])
        expect(logs.filter((line) => / failed: /.test(line.message)).map((line) => [line.index, line.loggerName]).sort())
          .toEqual([[1, "Check"], [3, "Numbers"]])
        expect(failed[0]!.message).toMatch(/^BadInput: /)
        const error = Option.getOrThrow(Cause.failureOption(failed[0]!.cause))
        expect(error).toBeInstanceOf(BadInput)
        expect(error).toEqual(new BadInput({ value: 2, reason: "two is not allowed" }))
        expect(Option.getOrThrow(Cause.failureOption(failed[1]!.cause))).toEqual(new BadInput({ value: 4, reason: "four cannot be read" }))
        failures[exportName].set(name, {
          cause: failed[0]!.cause._tag,
          tag: (error as BadInput)._tag,
          fields: { ...(error as BadInput) },
          message: failed[0]!.message
        })
        if (failures[exportName].size === backends.filter((b) => !skipped(b)).length) {
          const [sequential, ...others] = [...failures[exportName].values()]
          for (const other of others) expect(other).toEqual(sequential)
        }
      }), 120_000)
  }
})

/**
 * Curator's spans, read back through OpenTelemetry's in-memory exporter:
 * `curator.run` at the root, one `curator.index` per index, and under each
 * computed index a real span per stage; attributes, error status of a
 * failed index and of its failing stage, cached indices; and runs without a
 * tracer.
 */
import { Backend, type CheckpointStore, Pipeline } from "@curator/core"
import { SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Logger } from "effect"
import { fileURLToPath } from "node:url"
import { tempDir } from "./CheckpointStoreContract.js"
import { makeSquares, squaresFailingOne } from "./fixtures/squares.js"

const Live = Layer.mergeAll(SqliteCheckpointStore.layer(), Backend.layerFibers, Logger.remove(Logger.defaultLogger))

/** A fresh database directory for the scope, removed with everything in it when the scope closes. */
const dbDir = tempDir("curator-tracing-")

/**
 * Runs `effect` under OpenTelemetry's Node SDK with an in-memory exporter,
 * and returns its result with the spans finished by then. The spans are read
 * inside the SDK's layer: releasing it shuts the exporter down, which
 * empties it.
 */
const withSpans = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const exporter = new InMemorySpanExporter()
    return Effect.map(effect, (value) => ({ value, spans: exporter.getFinishedSpans() })).pipe(
      Effect.provide(NodeSdk.layer(() => ({
        resource: { serviceName: "curator-test" },
        spanProcessor: new SimpleSpanProcessor(exporter)
      })))
    )
  })

/** Nanoseconds since the epoch, exactly (an HrTime's nanoseconds do not fit a double). */
const nanos = ([seconds, ns]: readonly [number, number]) => BigInt(seconds) * 1_000_000_000n + BigInt(ns)

const idOf = (span: ReadableSpan) => span.spanContext().spanId
const childrenOf = (spans: ReadonlyArray<ReadableSpan>, parent: ReadableSpan) =>
  spans.filter((span) => span.parentSpanContext?.spanId === idOf(parent))
const named = (spans: ReadonlyArray<ReadableSpan>, name: string) => spans.filter((span) => span.name === name)
const byIndex = (spans: ReadonlyArray<ReadableSpan>) =>
  [...named(spans, "curator.index")].sort((a, b) => Number(a.attributes["curator.index"]) - Number(b.attributes["curator.index"]))

/** Three stages; the filter fails on the indices in `failing`. */
const makePipeline = (length: number, dir: string, options: { readonly failing?: ReadonlyArray<number>; readonly resume?: boolean } = {}) =>
  Pipeline.withOptions(makeSquares(length, options), { dbDir: dir, resume: options.resume ?? false })

/** The fixture module worker threads load the pipeline from. */
const squaresModule = fileURLToPath(new URL("./fixtures/squares.ts", import.meta.url))

const workersOf = (location: string): Effect.Effect<ReadonlyArray<string>, CheckpointStore.CheckpointError> =>
  Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(location), (c) => c.workers)).pipe(
    Effect.map((workers) => workers.map((w) => w.workerId))
  )

describe("tracing", () => {
  it.scopedLive("the run at the root, one child per index, a real span per stage under it", () =>
    Effect.gen(function*() {
      const pipeline = makePipeline(4, yield* dbDir)
      const { spans, value: result } = yield* withSpans(Pipeline.run(pipeline, { concurrency: 2 }))
      const workers = yield* workersOf(result.location!)

      const runs = named(spans, "curator.run")
      expect(runs).toHaveLength(1)
      const run = runs[0]!
      expect(run.parentSpanContext).toBeUndefined()
      expect(run.status.code).toBe(1)
      expect(run.attributes).toMatchObject({
        "curator.config_hash": pipeline.configHash,
        "curator.backend": "fibers",
        "curator.concurrency": 2,
        "curator.indices": 4,
        "curator.db_path": result.location
      })
      expect(run.resource.attributes["service.name"]).toBe("curator-test")

      const indices = byIndex(spans)
      expect(indices.map((span) => span.attributes["curator.index"])).toEqual([0, 1, 2, 3])
      for (const index of indices) {
        expect(index.parentSpanContext?.spanId).toBe(idOf(run))
        expect(index.spanContext().traceId).toBe(run.spanContext().traceId)
        expect(index.status.code).toBe(1)
        expect(index.attributes).toMatchObject({ "curator.cached": false, "curator.status": "completed" })
        expect(workers).toContain(index.attributes["curator.worker_id"])
        expect(nanos(index.startTime)).toBeGreaterThanOrEqual(nanos(run.startTime))
        expect(nanos(index.endTime)).toBeLessThanOrEqual(nanos(run.endTime))

        const stages = childrenOf(spans, index).filter((span) => span.name.startsWith("curator.stage"))
          .sort((a, b) => Number(a.attributes["curator.stage.order"]) - Number(b.attributes["curator.stage.order"]))
        expect(stages.map((span) => [span.name, span.attributes["curator.stage.name"], span.attributes["curator.stage.order"]]))
          .toEqual([
            ["curator.stage Numbers", "Numbers", 0],
            ["curator.stage Square", "Square", 1],
            ["curator.stage Collect", "Collect", 2]
          ])
        // Real spans of each stage, within the index, in order (these stages run one after another).
        for (const stage of stages) {
          expect(nanos(stage.startTime)).toBeGreaterThanOrEqual(nanos(index.startTime))
          expect(nanos(stage.endTime)).toBeLessThanOrEqual(nanos(index.endTime))
          expect(stage.status.code).toBe(1)
        }
        for (let k = 1; k < stages.length; k++) expect(nanos(stages[k]!.startTime)).toBeGreaterThanOrEqual(nanos(stages[k - 1]!.endTime))
        for (const stage of stages) expect(childrenOf(spans, stage)).toEqual([])
      }
      // Curator's spans are these and no others (the store's SQL spans aside).
      expect(spans.filter((span) => span.name.startsWith("curator.")).length).toBe(1 + 4 + 4 * 3)
    }).pipe(Effect.provide(Live)))

  it.scopedLive("a failed index's span has an error status, and so has the span of the stage that failed; the others are fine", () =>
    Effect.gen(function*() {
      const { spans, value: result } = yield* withSpans(Pipeline.run(makePipeline(3, yield* dbDir, { failing: [1] })))
      expect(result.outcomes.map((o) => o._tag)).toEqual(["Completed", "Failed", "Completed"])
      const [zero, one, two] = byIndex(spans)
      expect(one!.status.code).toBe(2)
      expect(one!.status.message).toContain("index 1 is bad")
      expect(one!.attributes["curator.status"]).toBe("error")
      expect(one!.events.map((event) => event.name)).toContain("exception")
      const failedStages = childrenOf(spans, one!).filter((span) => span.status.code === 2)
      expect(failedStages.map((span) => span.name)).toEqual(["curator.stage Square"])
      for (const fine of [zero!, two!]) {
        expect(fine.status.code).toBe(1)
        expect(fine.attributes["curator.status"]).toBe("completed")
      }
      // The run itself went on and succeeded.
      expect(named(spans, "curator.run")[0]!.status.code).toBe(1)
    }).pipe(Effect.provide(Live)))

  it.scopedLive("indices taken from the checkpoint are marked cached and have no stage spans", () =>
    Effect.gen(function*() {
      const pipeline = makePipeline(4, yield* dbDir, { resume: true })
      yield* Pipeline.run(pipeline, { indices: [0, 2] })
      const { spans, value: result } = yield* withSpans(Pipeline.run(pipeline, { concurrency: 2 }))
      expect(result.outcomes.map((o) => o._tag === "Completed" && o.cached)).toEqual([true, false, true, false])

      const run = named(spans, "curator.run")[0]!
      const indices = byIndex(spans)
      expect(indices.map((span) => [span.attributes["curator.index"], span.attributes["curator.cached"]])).toEqual([
        [0, true],
        [1, false],
        [2, true],
        [3, false]
      ])
      for (const index of indices) {
        expect(index.parentSpanContext?.spanId).toBe(idOf(run))
        expect(index.attributes["curator.status"]).toBe("completed")
        const stages = childrenOf(spans, index).filter((span) => span.name.startsWith("curator.stage"))
        if (index.attributes["curator.cached"] === true) {
          expect(childrenOf(spans, index)).toEqual([])
          expect(index.attributes["curator.worker_id"]).toBeUndefined()
        } else {
          expect(stages).toHaveLength(3)
        }
      }
    }).pipe(Effect.provide(Live)))

  it.scopedLive("on worker threads the tree is the same: the stages computed in a thread lie under the parent's index span", () =>
    Effect.gen(function*() {
      const pipeline = Pipeline.withOptions(squaresFailingOne, { dbDir: yield* dbDir })
      const { spans, value: result } = yield* withSpans(Pipeline.run(pipeline, { concurrency: 2 })).pipe(
        Effect.provide(WorkerBackend.layer({ module: squaresModule, exportName: "squaresFailingOne", threads: 2 }))
      )
      expect(result.outcomes.map((o) => o._tag)).toEqual(["Completed", "Failed", "Completed", "Completed"])
      const workers = yield* workersOf(result.location!)
      expect(workers).toHaveLength(2)

      const run = named(spans, "curator.run")[0]!
      expect(run.attributes["curator.backend"]).toBe("workers")
      const indices = byIndex(spans)
      expect(indices.map((span) => span.attributes["curator.index"])).toEqual([0, 1, 2, 3])
      for (const index of indices) {
        expect(index.parentSpanContext?.spanId).toBe(idOf(run))
        expect(workers).toContain(index.attributes["curator.worker_id"])
        const stages = childrenOf(spans, index)
        if (index.attributes["curator.index"] === 1) {
          expect(index.status.code).toBe(2)
          expect(index.status.message).toContain("index 1 is bad")
          expect(stages.filter((span) => span.status.code === 2).map((span) => span.name)).toEqual(["curator.stage Square"])
        } else {
          expect(index.status.code).toBe(1)
          expect(stages.map((span) => span.attributes["curator.stage.name"]).sort()).toEqual(["Collect", "Numbers", "Square"])
        }
      }
    }).pipe(Effect.provide(Live)), 120_000)

  it.scopedLive("without a tracer a run works as usual", () =>
    Effect.gen(function*() {
      const result = yield* Pipeline.run(makePipeline(3, yield* dbDir, { failing: [2] }), { concurrency: 2 })
      expect(result.outcomes.map((o) => o._tag)).toEqual(["Completed", "Completed", "Failed"])
      const workers = yield* workersOf(result.location!)
      expect(workers).toHaveLength(2)
    }).pipe(Effect.provide(Live)))
})

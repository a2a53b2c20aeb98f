/**
 * The benchmark workloads. Each runs real pipelines on the real SQLite
 * store in a temporary directory and returns one JSON-able record.
 */
import { Backend, type CheckpointStore, Filter, Pipeline, Sink, Source } from "@curator/core"
import { FileSink, SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor
} from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { progress } from "./progress.js"

export interface Measurement {
  readonly workload: string
  readonly n: number
  readonly backend: string
  readonly seconds: number
  readonly indices_per_s: number
  readonly [extra: string]: string | number
}

const temporaryDirectory = (label: string) => fs.mkdtempSync(path.join(os.tmpdir(), `curator-bench-${label}-`))

const fibers = (): Layer.Layer<Backend.Backend | CheckpointStore.CheckpointStore> =>
  Layer.merge(Backend.layerFibers, SqliteCheckpointStore.layer())

const timed = async <A>(effect: Effect.Effect<A, unknown>): Promise<number> => {
  const started = performance.now()
  await Effect.runPromise(effect)
  return (performance.now() - started) / 1000
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits))

const concurrency = 4

/** N indices, one item each, a pass-through filter, a sink that returns a path and writes nothing. */
const overheadPipeline = (n: number, dbDir: string, shape: "items" | "streams") =>
  Pipeline.from(
    shape === "items"
      ? Source.make({ name: "Numbers", params: { n }, length: n, items: (i) => Effect.succeed([i]) })
      : Source.make({ name: "Numbers", params: { n }, length: n, read: (i) => Stream.make(i) })
  ).pipe(
    Pipeline.filter(Filter.map({ name: "PassThrough", f: (x: number) => x })),
    Pipeline.write(
      shape === "items"
        ? Sink.drain<number>({ name: "NoWrite", pathOf: (i) => [`/dev/null/${i}`] })
        : Sink.make({ name: "NoWrite", write: (items: Stream.Stream<number>, i) => Effect.as(Stream.runDrain(items), [`/dev/null/${i}`]) })
    ),
    Pipeline.withOptions({ dbDir })
  )

const runOn = (pipeline: Pipeline.Pipeline<unknown, never>, options: Partial<Pipeline.Options> = {}) =>
  Pipeline.run(Pipeline.withOptions(pipeline, options), { concurrency }).pipe(
    Effect.provide(fibers())
  )

const warmUp = async (dbDir: string) => {
  await Effect.runPromise(runOn(overheadPipeline(3000, dbDir, "items")))
  await Effect.runPromise(runOn(overheadPipeline(1000, dbDir, "streams")))
}

export const overhead = async (n: number): Promise<Measurement> => {
  const dbDir = temporaryDirectory("overhead")
  await warmUp(dbDir)
  const tracked = await timed(runOn(overheadPipeline(n, dbDir, "items")))
  const untracked = await timed(runOn(overheadPipeline(n, dbDir, "items"), { trackMetrics: false }))
  const streaming = await timed(runOn(overheadPipeline(n, dbDir, "streams")))
  const streamingUntracked = await timed(
    runOn(overheadPipeline(n, dbDir, "streams"), { trackMetrics: false })
  )
  fs.rmSync(dbDir, { recursive: true, force: true })
  return {
    workload: "overhead",
    n,
    backend: "fibers",
    concurrency,
    seconds: round(tracked),
    indices_per_s: Math.round(n / tracked),
    untracked_seconds: round(untracked),
    untracked_indices_per_s: Math.round(n / untracked),
    streams_indices_per_s: Math.round(n / streaming),
    streams_untracked_indices_per_s: Math.round(n / streamingUntracked)
  }
}

/** N indices already completed, run again with resume: every one comes from the checkpoint. */
export const resume = async (n: number): Promise<Measurement> => {
  const dbDir = temporaryDirectory("resume")
  const pipeline = Pipeline.withOptions(overheadPipeline(n, dbDir, "items"), { resume: true })
  await Effect.runPromise(runOn(pipeline))
  const seconds = await timed(
    Effect.flatMap(runOn(pipeline), (result) =>
      result.outcomes.every((o) => o._tag === "Completed" && o.cached)
        ? Effect.void
        : Effect.dieMessage("the resumed run computed some indices again"))
  )
  fs.rmSync(dbDir, { recursive: true, force: true })
  return { workload: "resume", n, backend: "fibers", seconds: round(seconds), indices_per_s: Math.round(n / seconds) }
}

/** The sink writes one small JSON file per index. */
export const files = async (n: number): Promise<Measurement> => {
  const dbDir = temporaryDirectory("files")
  const outDir = path.join(dbDir, "out")
  const pipeline = Pipeline.from(
    Source.make({ name: "Records", params: { n }, length: n, items: (i) => Effect.succeed([{ id: i, value: i * 0.5 }]) })
  ).pipe(
    Pipeline.filter(Filter.map({ name: "Label", f: (r: { id: number; value: number }) => ({ ...r, label: `r${r.id}` }) })),
    Pipeline.write(FileSink.json({ dir: outDir })),
    Pipeline.withOptions({ dbDir })
  )
  const seconds = await timed(runOn(pipeline))
  const written = fs.readdirSync(outDir).length
  fs.rmSync(dbDir, { recursive: true, force: true })
  return { workload: "files", n, backend: "fibers", seconds: round(seconds), indices_per_s: Math.round(n / seconds), files_written: written }
}

/** One index whose source streams N items through a filter into a counting sink: memory must stay bounded. */
export const stream = async (n: number): Promise<Measurement> => {
  const dbDir = temporaryDirectory("stream")
  let counted = 0
  const pipeline = Pipeline.from(
    Source.make({ name: "Range", params: { n }, length: 1, read: () => Stream.range(0, n - 1) })
  ).pipe(
    Pipeline.filter(Filter.map({ name: "Square", f: (x: number) => ({ x, square: x * x }) })),
    Pipeline.write(
      Sink.make({
        name: "Count",
        write: (items: Stream.Stream<{ x: number; square: number }>) =>
          Effect.map(Stream.runFold(items, 0, (count) => count + 1), (count) => {
            counted = count
            return []
          })
      })
    ),
    Pipeline.withOptions({ dbDir })
  )
  globalThis.gc?.()
  const baseline = process.memoryUsage.rss()
  let peak = baseline
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 10)
  const seconds = await timed(runOn(pipeline))
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage.rss())
  fs.rmSync(dbDir, { recursive: true, force: true })
  if (counted !== n) throw new Error(`the sink counted ${counted} items, expected ${n}`)
  return {
    workload: "stream",
    n,
    backend: "fibers",
    seconds: round(seconds),
    indices_per_s: round(1 / seconds),
    items_per_s: Math.round(n / seconds),
    peak_rss_growth_mb: round((peak - baseline) / 2 ** 20, 1)
  }
}

/**
 * N indices each burning ~25 ms of CPU: sequential, fibers and a pool of two
 * worker threads. The pool's start (threads loading the module) is timed
 * apart from the run; it is paid once per layer, not per run.
 */
export const cpu = async (n: number): Promise<Measurement> => {
  process.env.CURATOR_BENCH_CPU_N = String(n)
  const module = path.join(import.meta.dirname, "pipelines", "cpu.ts")
  const { pipeline } = await import("./pipelines/cpu.js")
  const dbDir = temporaryDirectory("cpu")
  const run = (concurrency: number) =>
    Pipeline.run(Pipeline.withOptions(pipeline, { dbDir }), { concurrency }).pipe(Effect.provide(SqliteCheckpointStore.layer()))
  const sequential = await timed(Effect.provide(run(1), Backend.layerSequential))
  const fibersTwo = await timed(Effect.provide(run(2), Backend.layerFibers))
  const workers = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const started = performance.now()
    const backend = yield* WorkerBackend.make({ module, threads: 2 })
    const poolStart = (performance.now() - started) / 1000
    const runStarted = performance.now()
    yield* Effect.provideService(run(2), Backend.Backend, backend)
    return { poolStart, run: (performance.now() - runStarted) / 1000 }
  })))
  fs.rmSync(dbDir, { recursive: true, force: true })
  return {
    workload: "cpu",
    n,
    backend: "workers",
    seconds: round(workers.run),
    indices_per_s: round(n / workers.run, 1),
    sequential_seconds: round(sequential),
    fibers_2_seconds: round(fibersTwo),
    workers_2_seconds: round(workers.run),
    workers_2_pool_start_seconds: round(workers.poolStart),
    workers_speedup_over_sequential: round(sequential / workers.run, 2),
    workers_speedup_including_pool_start: round(sequential / (workers.run + workers.poolStart), 2)
  }
}

/** The per-index overhead of the worker pool: the overhead pipeline on two threads, against fibers. */
export const pool = async (n: number): Promise<Measurement> => {
  process.env.CURATOR_BENCH_OVERHEAD_N = String(n)
  const module = path.join(import.meta.dirname, "pipelines", "overhead.ts")
  const { pipeline } = await import("./pipelines/overhead.js")
  const dbDir = temporaryDirectory("pool")
  const run = Pipeline.run(Pipeline.withOptions(pipeline, { dbDir }), { concurrency: 2 }).pipe(
    Effect.provide(SqliteCheckpointStore.layer())
  )
  const fibersSeconds = await timed(Effect.provide(run, Backend.layerFibers))
  const workersSeconds = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const backend = yield* WorkerBackend.make({ module, threads: 2 })
    const started = performance.now()
    yield* Effect.provideService(run, Backend.Backend, backend)
    return (performance.now() - started) / 1000
  })))
  fs.rmSync(dbDir, { recursive: true, force: true })
  return {
    workload: "pool",
    n,
    backend: "workers",
    seconds: round(workersSeconds),
    indices_per_s: Math.round(n / workersSeconds),
    per_index_us: round((workersSeconds / n) * 1e6, 1),
    fibers_indices_per_s: Math.round(n / fibersSeconds),
    fibers_per_index_us: round((fibersSeconds / n) * 1e6, 1)
  }
}

/**
 * The cost of tracing on the overhead workload (item-wise, tracked, fibers,
 * concurrency 4): no tracer; OpenTelemetry's Node SDK exporting each span
 * to memory as it ends (SimpleSpanProcessor); and the SDK batching them
 * (BatchSpanProcessor with its defaults, which drops spans once its queue
 * of 2048 is full). Only the run is timed; the spans are counted after a
 * flush, before the SDK shuts down (shutting down empties the exporter).
 */
export const tracing = async (n: number): Promise<Measurement> => {
  const dbDir = temporaryDirectory("tracing")
  await warmUp(dbDir)
  const pipeline = overheadPipeline(n, dbDir, "items")
  const untraced = await timed(runOn(pipeline))
  const traced = (makeProcessor: (exporter: InMemorySpanExporter) => SpanProcessor) => {
    const exporter = new InMemorySpanExporter()
    const spanProcessor = makeProcessor(exporter)
    return Effect.runPromise(Effect.gen(function*() {
      const started = performance.now()
      yield* runOn(pipeline)
      const seconds = (performance.now() - started) / 1000
      yield* Effect.promise(() => spanProcessor.forceFlush())
      const spans = exporter.getFinishedSpans()
      const curator = spans.filter((span) => span.name.startsWith("curator.")).length
      const sql = spans.filter((span) => span.name.startsWith("sql.")).length
      return { seconds, spans: spans.length, curator, sql }
    }).pipe(Effect.provide(NodeSdk.layer(() => ({ resource: { serviceName: "curator-bench" }, spanProcessor })))))
  }
  const inMemory = await traced((exporter) => new SimpleSpanProcessor(exporter))
  const batch = await traced((exporter) => new BatchSpanProcessor(exporter))
  fs.rmSync(dbDir, { recursive: true, force: true })
  return {
    workload: "tracing",
    n,
    backend: "fibers",
    concurrency,
    seconds: round(untraced),
    indices_per_s: Math.round(n / untraced),
    in_memory_seconds: round(inMemory.seconds),
    in_memory_indices_per_s: Math.round(n / inMemory.seconds),
    in_memory_spans: inMemory.spans,
    in_memory_curator_spans: inMemory.curator,
    in_memory_sql_spans: inMemory.sql,
    batch_seconds: round(batch.seconds),
    batch_indices_per_s: Math.round(n / batch.seconds),
    batch_spans_exported: batch.spans,
    batch_curator_spans_exported: batch.curator,
    batch_sql_spans_exported: batch.sql
  }
}

export const workloads = {
  pool: { run: pool, defaultN: 10_000 },
  cpu: { run: cpu, defaultN: 40 },
  overhead: { run: overhead, defaultN: 50_000 },
  resume: { run: resume, defaultN: 100_000 },
  files: { run: files, defaultN: 5_000 },
  stream: { run: stream, defaultN: 1_000_000 },
  tracing: { run: tracing, defaultN: 20_000 },
  progress: { run: progress, defaultN: 20_000 }
} as const

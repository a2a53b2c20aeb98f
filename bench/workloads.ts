/**
 * The benchmark workloads. Each runs real pipelines on the real SQLite
 * store in a temporary directory (the cluster workload: on PostgreSQL, in a
 * database of its own) and returns one JSON-able record.
 */
import { Backend, Filter, Pipeline, Sink, Source } from "@curator/core"
import { NodeHost, SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { ClusterBackend } from "@curator/node/cluster"
import { PgCheckpointStore } from "@curator/node/postgres"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor
} from "@opentelemetry/sdk-trace-base"
import { PgClient } from "@effect/sql-pg"
// The shard count, which the benchmark waits to see shared (not a public setting).
import { shardingConfig } from "../packages/node/src/internal/clusterProtocol.js"
import { Effect, Layer, Redacted, Stream } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { cli } from "./cli.js"
import { compiled, runCompiled, runScript } from "./compiled.js"
import { concurrency, heartbeatsByDefault, overheadPipeline, round, runOn, temporaryDirectory, timed, warmUp } from "./overheadPipeline.js"
import { progress } from "./progress.js"
import { plan } from "./plan.js"
import { scale } from "./scale.js"
import type { Measurement } from "./measurement.js"

export type { Measurement } from "./measurement.js"

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/**
 * Per-index overhead, three variants (tracked, untracked, streams), one
 * JSON line each with its baseline (bench/overheadRun.ts). Timed as
 * compiled JavaScript against Curator's dist (bench/compiled.ts; build it
 * first), in a process of its own: under tsx, its keep-names helper was
 * ~15% of the untracked profile, a cost users' compiled code does not pay.
 */
export const overhead = async (n: number): Promise<ReadonlyArray<Measurement>> =>
  runCompiled("overheadRun.ts", [String(n)]) as ReadonlyArray<Measurement>

/**
 * Formats read and written through Curator beside the same libraries
 * without it (bench/formats.ts), compiled in a process of its own as
 * `overhead` is, so that both sides run the code users run.
 */
const formats = async (rows: number): Promise<ReadonlyArray<Measurement>> =>
  runCompiled("formatsRun.ts", [String(rows)]) as ReadonlyArray<Measurement>

/**
 * What heartbeats and the stall watchdog cost the tracked overhead run:
 * runs with them and without, in pairs whose order alternates. The second
 * run of a pair costs more than the first (seen: up to 20%: the first
 * one's garbage), so runs are compared with runs in the same place of a
 * pair: the ratio of the medians of the first runs with and without, and
 * of the second runs, and their geometric mean — for wall time and for
 * this process's CPU time (on fibers the whole run is this process).
 * Issue 18's goal: at most 5% slower.
 */
export const heartbeats = async (n: number): Promise<Measurement> => {
  const pairs = 20
  const dbDir = temporaryDirectory("heartbeats")
  await warmUp(dbDir)
  // [place in the pair][on/off]: seconds.
  const wall = [{ on: [] as Array<number>, off: [] as Array<number> }, { on: [] as Array<number>, off: [] as Array<number> }]
  const cpu = [{ on: [] as Array<number>, off: [] as Array<number> }, { on: [] as Array<number>, off: [] as Array<number> }]
  for (let pair = 0; pair < pairs; pair++) {
    const order = pair % 2 === 0 ? [true, false] : [false, true]
    for (let place = 0; place < 2; place++) {
      const heartbeats = order[place]!
      const before = process.cpuUsage()
      const seconds = await timed(runOn(overheadPipeline(n, dbDir, "items"), {}, heartbeats))
      const used = process.cpuUsage(before)
      wall[place]![heartbeats ? "on" : "off"].push(seconds)
      cpu[place]![heartbeats ? "on" : "off"].push((used.user + used.system) / 1e6)
    }
  }
  fs.rmSync(dbDir, { recursive: true, force: true })
  type Runs = ReadonlyArray<{ readonly on: ReadonlyArray<number>; readonly off: ReadonlyArray<number> }>
  const slowdown = (runs: Runs) =>
    round((Math.sqrt(runs.map((place) => median(place.on) / median(place.off)).reduce((a, b) => a * b, 1)) - 1) * 100, 1)
  const all = (runs: Runs, key: "on" | "off") => runs.flatMap((place) => place[key])
  return {
    workload: "heartbeats",
    n,
    backend: "fibers",
    concurrency,
    pairs,
    seconds: round(median(all(wall, "on"))),
    indices_per_s: Math.round(n / median(all(wall, "on"))),
    baseline: "the same tracked overhead run without heartbeats and the stall watchdog",
    baseline_seconds: round(median(all(wall, "off"))),
    cpu_seconds: round(median(all(cpu, "on"))),
    baseline_cpu_seconds: round(median(all(cpu, "off"))),
    slowdown_percent: slowdown(wall),
    cpu_slowdown_percent: slowdown(cpu),
    goal_slowdown_percent: 5
  }
}

/**
 * One tracked overhead run (after the warm-up), for comparing whole
 * processes: with `CURATOR_BENCH_HEARTBEATS=off` beside one without, timed
 * from outside run by run, for what heartbeats cost when a process's own
 * pairs are too noisy to tell (issue 18).
 */
export const tracked = async (n: number): Promise<Measurement> => {
  const dbDir = temporaryDirectory("tracked")
  await warmUp(dbDir)
  const seconds = await timed(runOn(overheadPipeline(n, dbDir, "items")))
  fs.rmSync(dbDir, { recursive: true, force: true })
  return {
    workload: "tracked",
    n,
    backend: "fibers",
    concurrency,
    heartbeats: heartbeatsByDefault ? "on" : "off",
    seconds: round(seconds),
    indices_per_s: Math.round(n / seconds),
    baseline: "the same process with CURATOR_BENCH_HEARTBEATS=off, timed beside it"
  }
}

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

/**
 * Files written by the sink beside a plain Node loop writing the same
 * files (bench/files.ts), compiled in a process of its own as `overhead`
 * is: the plain loop is the baseline, so both sides run the code users run.
 */
const files = async (n: number): Promise<ReadonlyArray<Measurement>> =>
  runCompiled("filesRun.ts", [String(n)]) as ReadonlyArray<Measurement>

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
  const compiledStart = poolStarts(module)
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
    workers_speedup_including_pool_start: round(sequential / (workers.run + workers.poolStart), 2),
    // The pool above started under tsx; a user's compiled pipeline starts as `dist_pool_start_js` does.
    workers_speedup_including_compiled_pool_start: round(sequential / (workers.run + compiledStart.dist_pool_start_js_seconds!), 2),
    goal_speedup_including_pool_start: 1.5,
    ...compiledStart
  }
}

/**
 * Pool start of 2 threads with Curator compiled (its `dist`, bench/poolStart.ts
 * in a process of its own), on the cpu pipeline compiled to JavaScript and
 * as TypeScript, each beside its floor (2 bare threads importing the same
 * module); three rounds, alternated; medians, wall and CPU seconds.
 */
const poolStarts = (tsModule: string): Record<string, number> => {
  const script = compiled("poolStart.ts")
  const jsModule = compiled("pipelines/cpu.ts")
  const figures: Record<string, Array<{ seconds: number; cpu_seconds: number }>> = {}
  for (let round = 0; round < 3; round++) {
    for (const [name, mode, module] of [
      ["js", "pool", jsModule],
      ["js_floor", "floor", jsModule],
      ["ts", "pool", tsModule],
      ["ts_floor", "floor", tsModule]
    ] as const) {
      ;(figures[name] ??= []).push(runScript(script, [mode, module]).at(-1) as { seconds: number; cpu_seconds: number })
    }
  }
  const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[1]!
  const out: Record<string, number> = {}
  for (const [name, runs] of Object.entries(figures)) {
    out[`dist_pool_start_${name}_seconds`] = round(median(runs.map((r) => r.seconds)))
    out[`dist_pool_start_${name}_cpu_seconds`] = round(median(runs.map((r) => r.cpu_seconds)))
  }
  return out
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

const postgresUrl = () => {
  const url = process.env.CURATOR_BENCH_POSTGRES_URL ?? process.env.CURATOR_TEST_POSTGRES_URL
  if (url === undefined || url === "") {
    throw new Error("the cluster workload needs a PostgreSQL server: set CURATOR_BENCH_POSTGRES_URL=postgresql://user:password@127.0.0.1:5432/postgres")
  }
  return url
}

/** A new database on the server for `use`, dropped afterwards. */
const withDatabase = async <A>(serverUrl: string, use: (url: string) => Promise<A>): Promise<A> => {
  const name = `curator_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`
  const onServer = (statement: (sql: PgClient.PgClient) => Effect.Effect<unknown, unknown>) =>
    Effect.runPromise(
      Effect.scoped(Effect.flatMap(PgClient.make({ url: Redacted.make(serverUrl) }), statement)).pipe(Effect.provide(Reactivity.layer))
    )
  await onServer((sql) => sql`CREATE DATABASE ${sql(name)}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  try {
    return await use(url.href)
  } finally {
    await onServer((sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`)
  }
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

/** Starts `count` `curator runner` processes on loopback, resolved once each serves; `stop` ends them. */
const startRunners = async (count: number, module: string, url: string, options: { readonly concurrency: number }) => {
  const bin = path.join(import.meta.dirname, "..", "packages", "node", "bin", "curator.mjs")
  const runners = await Promise.all(Array.from({ length: count }, async () => {
    const port = await freePort()
    // CURATOR_BENCH_RUNNER_NODE_ARGS: flags for the runners' node (e.g. --cpu-prof), space-separated.
    const nodeArgs = (process.env.CURATOR_BENCH_RUNNER_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "")
    const child = spawn(process.execPath, [
      ...nodeArgs, bin, "runner", module, "--postgres", url, "--host", "127.0.0.1", "--port", String(port), "--concurrency", String(options.concurrency)
    ], { stdio: ["ignore", "ignore", "pipe"], env: process.env })
    await new Promise<void>((resolve, reject) => {
      let stderr = ""
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk
        if (stderr.includes("serving")) resolve()
      })
      child.on("exit", (code) => reject(new Error(`a runner exited (${code}) before serving:\n${stderr}`)))
    })
    return child
  }))
  return {
    stop: () =>
      Promise.all(runners.map((child) =>
        new Promise<void>((resolve) => {
          child.on("exit", () => resolve())
          child.kill("SIGTERM")
        })
      ))
  }
}

/**
 * Waits until `count` runners hold all the shards between them (each shard
 * is a PostgreSQL advisory lock of its runner's connection), so that a
 * measurement does not include runners still taking over their share.
 */
const shardsShared = (url: string, count: number) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const sql = yield* PgClient.make({ url: Redacted.make(url) })
    for (;;) {
      const holders = yield* sql<{ shards: number }>`
        SELECT count(*)::int AS shards FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() GROUP BY l.pid`
      if (holders.length === count && holders.reduce((sum, h) => sum + h.shards, 0) === shardingConfig.shardsPerGroup) return
      yield* Effect.sleep("100 millis")
    }
  })).pipe(Effect.provide(Reactivity.layer), Effect.timeout("60 seconds")))

/** Times a run of `pipeline` on the cluster backend (joining the cluster is timed apart), recording into PostgreSQL. */
const onCluster = (pipeline: Pipeline.Pipeline<unknown, never>, url: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const joined = performance.now()
    const backend = yield* Layer.build(ClusterBackend.layer({ postgres: url }))
    const joinSeconds = (performance.now() - joined) / 1000
    const started = performance.now()
    const result = yield* Pipeline.run(pipeline).pipe(
      Effect.provide(backend),
      Effect.provide(PgCheckpointStore.layer({ url }))
    )
    if (result.outcomes.some((o) => o._tag !== "Completed")) return yield* Effect.dieMessage("an index failed on the cluster")
    return { joinSeconds, seconds: (performance.now() - started) / 1000 }
  })))

/**
 * The cluster backend on one machine: the `cpu` pipeline (N indices of
 * ~25 ms CPU) on 1, 2 and 3 runner processes (one index at a time each;
 * with 2 cores, expect no gain past 2), and the cost per index of the
 * cluster path: the overhead pipeline (nothing to compute) on one runner
 * against the fibers backend in this process, both recording into
 * PostgreSQL at concurrency 4.
 */
export const cluster = async (n: number): Promise<Measurement> => {
  const serverUrl = postgresUrl()
  process.env.CURATOR_BENCH_CPU_N = String(n)
  const overheadN = 2000
  process.env.CURATOR_BENCH_OVERHEAD_N = String(overheadN)
  const cpuModule = path.join(import.meta.dirname, "pipelines", "cpu.ts")
  const overheadModule = path.join(import.meta.dirname, "pipelines", "overhead.ts")
  const { pipeline: cpuPipeline } = await import("./pipelines/cpu.js")
  const { pipeline: overheadPipeline } = await import("./pipelines/overhead.js")

  /** Times `pipeline` on `count` new runners of `module`, once they share the shards, in a database of its own. */
  const onRunners = (count: number, module: string, pipeline: Pipeline.Pipeline<unknown, never>, runnerConcurrency: number) =>
    withDatabase(serverUrl, async (url) => {
      const started = await startRunners(count, module, url, { concurrency: runnerConcurrency })
      try {
        await shardsShared(url, count)
        return await onCluster(pipeline, url)
      } finally {
        await started.stop()
      }
    })

  const runners: Record<number, { seconds: number; joinSeconds: number }> = {}
  // CURATOR_BENCH_CLUSTER_PARTS=overhead: only the per-index cost (no cpu runs).
  const counts = process.env.CURATOR_BENCH_CLUSTER_PARTS === "overhead" ? [] : [1, 2, 3]
  for (const count of counts) runners[count] = await onRunners(count, cpuModule, cpuPipeline, 1)
  const overheadCluster = await onRunners(1, overheadModule, overheadPipeline, concurrency)
  const overheadFibers = await withDatabase(serverUrl, (url) =>
    timed(Pipeline.run(overheadPipeline, { concurrency }).pipe(
      Effect.provide(Backend.layerFibers),
      Effect.provide(PgCheckpointStore.layer({ url }))
    )))
  if (counts.length === 0) {
    return {
      workload: "cluster",
      n: overheadN,
      backend: "cluster",
      seconds: round(overheadCluster.seconds),
      indices_per_s: round(overheadN / overheadCluster.seconds, 1),
      cluster_per_index_us: round((overheadCluster.seconds / overheadN) * 1e6, 1),
      fibers_pg_per_index_us: round((overheadFibers / overheadN) * 1e6, 1)
    }
  }
  const rate = (count: number) => round(n / runners[count]!.seconds, 1)
  return {
    workload: "cluster",
    n,
    backend: "cluster",
    seconds: round(runners[3]!.seconds),
    indices_per_s: rate(3),
    runners_1_indices_per_s: rate(1),
    runners_2_indices_per_s: rate(2),
    runners_3_indices_per_s: rate(3),
    speedup_2_runners: round(runners[1]!.seconds / runners[2]!.seconds, 2),
    speedup_3_runners: round(runners[1]!.seconds / runners[3]!.seconds, 2),
    join_seconds: round(runners[3]!.joinSeconds),
    overhead_n: overheadN,
    cluster_per_index_us: round((overheadCluster.seconds / overheadN) * 1e6, 1),
    fibers_pg_per_index_us: round((overheadFibers / overheadN) * 1e6, 1)
  }
}

export const workloads = {
  pool: { run: pool, defaultN: 10_000 },
  cpu: { run: cpu, defaultN: 40 },
  overhead: { run: overhead, defaultN: 50_000 },
  heartbeats: { run: heartbeats, defaultN: 20_000 },
  tracked: { run: tracked, defaultN: 100_000 },
  resume: { run: resume, defaultN: 100_000 },
  files: { run: files, defaultN: 5_000 },
  stream: { run: stream, defaultN: 1_000_000 },
  tracing: { run: tracing, defaultN: 20_000 },
  progress: { run: progress, defaultN: 20_000 },
  cluster: { run: cluster, defaultN: 120 },
  scale: { run: scale, defaultN: 1_000_000 },
  plan: { run: plan, defaultN: 1_000_000 },
  formats: { run: formats, defaultN: 1_000_000 },
  cli: { run: cli, defaultN: 5 }
} as const

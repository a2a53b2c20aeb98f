/**
 * The overhead pipeline and how the workloads run it (fibers, SQLite,
 * concurrency 4, after a warm-up), shared by `bench overhead` — compiled,
 * in a process of its own (bench/overheadRun.ts) — and by the workloads
 * that run it under tsx in bench/workloads.ts (heartbeats, tracked,
 * resume, tracing); `bench files` (bench/files.ts, compiled) runs its own
 * pipeline the same way. Imports only packages, so that it runs either way.
 */
import { Backend, type CheckpointStore, Filter, Pipeline, type RunResult, Sink, Source } from "@curator/core"
import { SqliteCheckpointStore } from "@curator/node"
import { Effect, Layer, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as Heartbeat from "../packages/core/src/internal/heartbeat.js"

/**
 * Heartbeats and the stall watchdog, turned off to measure what they cost
 * (not a public setting): the switch of the Curator this process loaded —
 * its sources under tsx, its dist when compiled — found beside its entry,
 * so that it is the one the run reads.
 */
const { enabled: heartbeatsEnabled }: typeof Heartbeat = await import(
  import.meta.resolve("@curator/core").replace(/index\.(ts|js)$/, "internal/heartbeat.$1")
)

export const temporaryDirectory = (label: string) => fs.mkdtempSync(path.join(os.tmpdir(), `curator-bench-${label}-`))

const fibers = (): Layer.Layer<Backend.Backend | CheckpointStore.CheckpointStore> =>
  Layer.merge(Backend.layerFibers, SqliteCheckpointStore.layer())

export const timed = async <A>(effect: Effect.Effect<A, unknown>): Promise<number> => {
  const started = performance.now()
  await Effect.runPromise(effect)
  return (performance.now() - started) / 1000
}

export const round = (value: number, digits = 3) => Number(value.toFixed(digits))

export const concurrency = 4

/** N indices, one item each, a pass-through filter, a sink that returns a path and writes nothing. */
export const overheadPipeline = (n: number, dbDir: string, shape: "items" | "streams") =>
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

/** CURATOR_BENCH_HEARTBEATS=off: every run of the process without heartbeats, to compare whole processes. */
export const heartbeatsByDefault = process.env.CURATOR_BENCH_HEARTBEATS !== "off"

export const runOn = (
  pipeline: Pipeline.Pipeline<unknown, never>,
  options: Partial<Pipeline.Options> = {},
  heartbeats = heartbeatsByDefault
): Effect.Effect<RunResult.RunResult<unknown>, Pipeline.RunError<unknown>> =>
  Pipeline.run(Pipeline.withOptions(pipeline, options), { concurrency }).pipe(
    Effect.provide(fibers()),
    Effect.locally(heartbeatsEnabled, heartbeats)
  )

export const warmUp = async (dbDir: string) => {
  await Effect.runPromise(runOn(overheadPipeline(3000, dbDir, "items")))
  await Effect.runPromise(runOn(overheadPipeline(1000, dbDir, "streams")))
}

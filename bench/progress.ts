/**
 * What `curator run`'s progress display costs the overhead workload (N
 * trivial indices, fibers, concurrency 4, SQLite checkpoints): the same
 * pipeline run without a progress handler, with a handler that does nothing
 * (the cost of the events themselves), with the handler and the plain
 * renderer on a non-terminal stream (what a log or a pipe gets), and with
 * the live renderer on a terminal-like stream redrawing every 200 ms.
 * Also the handler alone (per index) and one live frame, timed in
 * isolation. Variants are interleaved and repeated; reports the median wall
 * time and the median CPU time (user + system, steadier on a busy machine)
 * of each, and their slowdown against the bare run.
 */
import { Backend, Filter, Pipeline, type Progress, Sink, Source } from "@curator/core"
import { SqliteCheckpointStore } from "@curator/node"
import { Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Writable } from "node:stream"
import * as ProgressDisplay from "../packages/node/src/cli/ProgressDisplay.js"

const repetitions = 7

type Variant = "bare" | "noop" | "plain" | "live"
const variants: ReadonlyArray<Variant> = ["bare", "noop", "plain", "live"]

/** A stream that discards what it is given, as a terminal (`isTTY`) or not. */
const discarding = (isTTY: boolean): NodeJS.WriteStream => {
  const stream = new Writable({ write: (_chunk, _encoding, done) => done() }) as unknown as NodeJS.WriteStream
  Object.assign(stream, { isTTY, columns: 120, rows: 40 })
  return stream
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** The handler alone, per index (two events), and one live frame, measured in isolation. */
const isolated = () => {
  const state = ProgressDisplay.makeState()
  const handle = ProgressDisplay.handler(state)
  const workers = Array.from({ length: 4 }, (_, k) => String(k).repeat(32))
  handle({ _tag: "RunStarted", total: 1e6, cached: 0, backend: "fibers", concurrency: 4, location: undefined })
  const events = 1e6
  let started = performance.now()
  for (let i = 0; i < events; i++) {
    const workerId = workers[i & 3]!
    handle({ _tag: "IndexStarted", index: i, workerId })
    handle({ _tag: "IndexFinished", index: i, workerId, status: "completed", wallTimeNs: 1000 })
  }
  const handlerNs = ((performance.now() - started) * 1e6) / events
  const frames = 10_000
  started = performance.now()
  for (let k = 0; k < frames; k++) ProgressDisplay.frame(state, performance.now(), { columns: 120, maxWorkers: 16 })
  const frameUs = ((performance.now() - started) * 1e3) / frames
  return { handler_ns_per_index: Number(handlerNs.toFixed(1)), frame_us: Number(frameUs.toFixed(1)) }
}

export const progress = async (n: number) => {
  const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), "curator-bench-progress-"))
  const pipeline = Pipeline.from(Source.make({ name: "Numbers", params: { n }, length: n, items: (i) => Effect.succeed([i]) })).pipe(
    Pipeline.filter(Filter.map({ name: "PassThrough", f: (x: number) => x })),
    Pipeline.write(Sink.drain<number>({ name: "NoWrite", pathOf: (i) => [`/dev/null/${i}`] })),
    Pipeline.withOptions({ dbDir })
  )
  const layer = Layer.mergeAll(Backend.layerFibers, SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger))

  const once = (variant: Variant) =>
    Effect.gen(function*() {
      const state = ProgressDisplay.makeState()
      const onProgress: Progress.ProgressHandler | undefined = variant === "bare"
        ? undefined
        : variant === "noop"
        ? () => {}
        : yield* ProgressDisplay.start(state, {
          stream: discarding(variant === "live"),
          mode: variant,
          // A line every second rather than every 5 s, so that the plain renderer runs a few times per run.
          interval: variant === "plain" ? "1 second" : "200 millis"
        })
      const started = performance.now()
      const cpu = process.cpuUsage()
      yield* Pipeline.run(pipeline, { concurrency: 4, onProgress })
      const used = process.cpuUsage(cpu)
      return { wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 }
    }).pipe(Effect.scoped, Effect.provide(layer))

  const wall: Record<Variant, Array<number>> = { bare: [], noop: [], plain: [], live: [] }
  const cpu: Record<Variant, Array<number>> = { bare: [], noop: [], plain: [], live: [] }
  await Effect.runPromise(once("bare")) // warm-up
  for (let r = 0; r < repetitions; r++) {
    // Rotate the order so that no variant always runs first.
    for (let k = 0; k < variants.length; k++) {
      const variant = variants[(r + k) % variants.length]!
      const measured = await Effect.runPromise(once(variant))
      wall[variant].push(measured.wall)
      cpu[variant].push(measured.cpu)
    }
  }
  fs.rmSync(dbDir, { recursive: true, force: true })

  const slowdown = (values: Record<Variant, Array<number>>, variant: Variant) =>
    Number(((median(values[variant]) / median(values.bare) - 1) * 100).toFixed(1))
  const pct = (variant: Variant) => ({
    [`${variant}_indices_per_s`]: Math.round(n / median(wall[variant])),
    [`${variant}_wall_slowdown_pct`]: slowdown(wall, variant),
    [`${variant}_cpu_slowdown_pct`]: slowdown(cpu, variant)
  })
  return {
    workload: "progress",
    n,
    backend: "fibers",
    seconds: Number(median(wall.bare).toFixed(3)),
    indices_per_s: Math.round(n / median(wall.bare)),
    repetitions,
    ...pct("noop"),
    ...pct("plain"),
    ...pct("live"),
    ...isolated()
  }
}

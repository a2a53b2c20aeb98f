/**
 * One run of N indices in a process of its own, for `bench scale`'s memory
 * figures: `stream` drains `Pipeline.stream`, `run` gathers `Pipeline.run`.
 * With `resume`, the database in DIR already holds every index completed:
 * every outcome comes from the checkpoint. Prints one JSON line with the
 * process's peak RSS (its own, from the kernel) and the run's time.
 *
 *   node runMemory.mjs stream|run N DIR   (compiled: bench/compiled.ts)
 */
import { Pipeline, Sink, Source } from "@curator/core"
import { NodeCurator } from "@curator/node"
import { Effect, Logger, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as v8 from "node:v8"

const [mode, size, dbDir] = process.argv.slice(2)
const n = Number(size)

const pipeline = Pipeline.from(
  Source.make({ name: "Numbers", params: { n }, length: n, items: (i) => Effect.succeed([i]) })
).pipe(
  Pipeline.write(Sink.drain<number>({ name: "NoWrite", pathOf: (i) => [`/dev/null/${i}`] })),
  Pipeline.withOptions({ dbDir: dbDir!, resume: true, trackMemory: false })
)

const baseline = process.memoryUsage.rss()
// The parts of the process's memory at their highest, sampled every 100 ms:
// what grows — the JS heap (used, and what V8 reserved for it), memory held
// outside it (buffers), or the rest of the RSS (SQLite's cache, the code).
const highest = { heap_used_mb: 0, heap_total_mb: 0, external_mb: 0, rss_mb: 0, rss_anon_mb: 0, rss_file_mb: 0, rss_shmem_mb: 0 }
/** The kinds of resident memory (Linux): anonymous (heaps: V8's, malloc's), file-backed (code, mapped files), shared. */
const residentKinds = (): Record<"rss_anon_mb" | "rss_file_mb" | "rss_shmem_mb", number> | undefined => {
  try {
    const status = fs.readFileSync("/proc/self/status", "utf8")
    const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024
    return { rss_anon_mb: kb("RssAnon"), rss_file_mb: kb("RssFile"), rss_shmem_mb: kb("RssShmem") }
  } catch {
    return undefined
  }
}
const sampler = setInterval(() => {
  const usage = process.memoryUsage()
  highest.heap_used_mb = Math.max(highest.heap_used_mb, usage.heapUsed / 2 ** 20)
  highest.heap_total_mb = Math.max(highest.heap_total_mb, usage.heapTotal / 2 ** 20)
  highest.external_mb = Math.max(highest.external_mb, usage.external / 2 ** 20)
  highest.rss_mb = Math.max(highest.rss_mb, usage.rss / 2 ** 20)
  const kinds = residentKinds()
  if (kinds !== undefined) {
    highest.rss_anon_mb = Math.max(highest.rss_anon_mb, kinds.rss_anon_mb)
    highest.rss_file_mb = Math.max(highest.rss_file_mb, kinds.rss_file_mb)
    highest.rss_shmem_mb = Math.max(highest.rss_shmem_mb, kinds.rss_shmem_mb)
  }
}, 100)
const started = performance.now()
let outcomes = 0
const program = mode === "run"
  ? Effect.map(Pipeline.run(pipeline, { concurrency: 4 }), (result) => {
    outcomes = result.outcomes.length
  })
  : Stream.runForEach(Pipeline.stream(pipeline, { concurrency: 4 }), () =>
    Effect.sync(() => {
      outcomes++
      // CURATOR_BENCH_HEAP_SNAPSHOT=DIR: a heap snapshot half-way, to see what the heap holds.
      if (outcomes === Math.floor(n / 2) && process.env.CURATOR_BENCH_HEAP_SNAPSHOT !== undefined) {
        v8.writeHeapSnapshot(path.join(process.env.CURATOR_BENCH_HEAP_SNAPSHOT, `${mode}-${n}.heapsnapshot`))
      }
    }))

await Effect.runPromise(program.pipe(Effect.provide(NodeCurator.layer()), Effect.provide(Logger.remove(Logger.defaultLogger))))
const seconds = (performance.now() - started) / 1000
clearInterval(sampler)
if (outcomes !== n) throw new Error(`${outcomes} outcomes for ${n} indices`)
console.log(JSON.stringify({
  mode,
  n,
  seconds: Number(seconds.toFixed(2)),
  indices_per_s: Math.round(n / seconds),
  // maxRSS is in KiB.
  peak_rss_mb: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
  rss_at_start_mb: Number((baseline / 2 ** 20).toFixed(1)),
  ...Object.fromEntries(Object.entries(highest).map(([key, mb]) => [`highest_${key}`, Number(mb.toFixed(1))]))
}))

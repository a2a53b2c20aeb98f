/**
 * One run of N indices in a process of its own, for `bench scale`'s memory
 * figures: `stream` drains `Pipeline.stream`, `run` gathers `Pipeline.run`.
 * With `resume`, the database in DIR already holds every index completed:
 * every outcome comes from the checkpoint. Prints one JSON line with the
 * process's peak RSS (its own, from the kernel) and the run's time.
 *
 *   tsx --conditions @curator/source bench/runMemory.ts stream|run N DIR
 */
import { Pipeline, Sink, Source } from "@curator/core"
import { NodeCurator } from "@curator/node"
import { Effect, Logger, Stream } from "effect"

const [mode, size, dbDir] = process.argv.slice(2)
const n = Number(size)

const pipeline = Pipeline.from(
  Source.make({ name: "Numbers", params: { n }, length: n, items: (i) => Effect.succeed([i]) })
).pipe(
  Pipeline.write(Sink.drain<number>({ name: "NoWrite", pathOf: (i) => [`/dev/null/${i}`] })),
  Pipeline.withOptions({ dbDir: dbDir!, resume: true, trackMemory: false })
)

const baseline = process.memoryUsage.rss()
const started = performance.now()
let outcomes = 0
const program = mode === "run"
  ? Effect.map(Pipeline.run(pipeline, { concurrency: 4 }), (result) => {
    outcomes = result.outcomes.length
  })
  : Stream.runForEach(Pipeline.stream(pipeline, { concurrency: 4 }), () =>
    Effect.sync(() => {
      outcomes++
    }))

await Effect.runPromise(program.pipe(Effect.provide(NodeCurator.layer()), Effect.provide(Logger.remove(Logger.defaultLogger))))
const seconds = (performance.now() - started) / 1000
if (outcomes !== n) throw new Error(`${outcomes} outcomes for ${n} indices`)
console.log(JSON.stringify({
  mode,
  n,
  seconds: Number(seconds.toFixed(2)),
  indices_per_s: Math.round(n / seconds),
  // maxRSS is in KiB.
  peak_rss_mb: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
  rss_at_start_mb: Number((baseline / 2 ** 20).toFixed(1))
}))

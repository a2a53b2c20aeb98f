/**
 * Runs the prime-counting pipeline on a pool of two worker threads, with
 * checkpoints in SQLite (in `$PSNC_CACHE_DIR`, else `~/.cache/psnc`), and
 * prints a summary. Run it twice: the second run finds every block done and
 * starts no computation. Ctrl-C stops the threads at once; run again to
 * resume.
 *
 *   npx tsx --conditions @curator/source examples/worker-pool/main.ts
 */
import { Pipeline, RunResult } from "@curator/core"
import { SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { outputDir, pipeline, type PrimeCount } from "./pipeline.js"

/** The module the threads load: this file's sibling, as TypeScript source or compiled. */
const module = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./pipeline.ts" : "./pipeline.js", import.meta.url))

const program = Effect.gen(function*() {
  const started = performance.now()
  const result = yield* Pipeline.run(pipeline, { concurrency: 2 })
  const seconds = (performance.now() - started) / 1000
  const { cached, computed, failed } = RunResult.counts(result)

  const counts = result.outcomes.flatMap((outcome) =>
    outcome._tag === "Completed"
      ? outcome.paths.map((path) => JSON.parse(fs.readFileSync(path, "utf8"))[0] as PrimeCount)
      : []
  )
  const primes = counts.reduce((sum, count) => sum + count.primes, 0)
  const largest = Math.max(...counts.map((count) => count.largest ?? 0))

  yield* Console.log(
    `${result.outcomes.length} blocks in ${seconds.toFixed(2)} s: ${computed} computed on worker threads, ${cached} from the checkpoint, ${failed} failed.`
  )
  yield* Console.log(`${primes} primes below ${counts.at(-1)?.to ?? 0}; the largest is ${largest}. Counts written to ${outputDir}`)
  yield* Console.log(`Checkpoint database: ${result.location}`)

  const checkpoint = yield* SqliteCheckpointStore.openFile(result.location!)
  const { avg_time_ms, completed, total, workers } = yield* checkpoint.summary
  yield* Console.log("Summary:", { total, completed, failed, workers, avg_time_ms })
}).pipe(
  Effect.scoped,
  // The pool starts with the layer (each thread loads `module`) and stops with it.
  Effect.provide(Layer.merge(WorkerBackend.layer({ module, threads: 2 }), SqliteCheckpointStore.layer()))
)

NodeRuntime.runMain(program)

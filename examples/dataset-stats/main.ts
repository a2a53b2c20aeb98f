/**
 * Runs the dataset-stats pipeline on two worker threads, gathers the
 * per-worker shards of its corpus statistics into one JSON file, and prints
 * it. Run it twice: the second run finds every document done, and the
 * statistics stay the same (each document is counted once, even across
 * crashes and resumes).
 *
 *   npm run example:stats
 */
import { Gather, Pipeline, RunResult } from "@curator/core"
import { SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { fileURLToPath } from "node:url"
import { outDir, pipeline, stats } from "./pipeline.js"

const program = Effect.gen(function*() {
  const result = yield* Pipeline.run(pipeline, { concurrency: 2, gather: true })
  const { cached, computed, failed } = RunResult.counts(result)
  yield* Console.log(`${result.outcomes.length} documents: ${computed} now, ${cached} from the checkpoint, ${failed} failed`)
  yield* Console.log(`cleaned documents in ${outDir}/documents; checkpoint ${result.location}`)
  const merged = yield* Gather.readGathered(stats)
  yield* Console.log(`corpus statistics (${outDir}/stats.json):\n${JSON.stringify(merged, null, 2)}`)
}).pipe(
  Effect.provide(
    // The pool starts with the layer (each thread loads the module) and stops with it.
    Layer.merge(
      WorkerBackend.layer({ module: fileURLToPath(new URL("./pipeline.ts", import.meta.url)), threads: 2 }),
      SqliteCheckpointStore.layer()
    )
  )
)

NodeRuntime.runMain(program)

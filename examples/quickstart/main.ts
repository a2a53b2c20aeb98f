/**
 * Runs the quickstart pipeline end to end on the default SQLite checkpoint
 * store (in `$PSNC_CACHE_DIR`, else `~/.cache/psnc`), then prints where the
 * outputs and the database went. Run it twice: the second run finds every
 * document done and skips it. Ctrl-C stops it cleanly; run again to resume.
 *
 *   npm run example
 */
import { Pipeline, RunResult } from "@curator/core"
import { NodeCurator, SqliteCheckpointStore } from "@curator/node"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { outputDir, pipeline } from "./pipeline.js"

const program = Effect.gen(function*() {
  const result = yield* Pipeline.run(pipeline, { concurrency: 4 })
  const { cached, computed, failed } = RunResult.counts(result)
  const written = result.outcomes.flatMap((outcome) => (outcome._tag === "Completed" ? outcome.paths : []))

  yield* Console.log(`Processed ${result.outcomes.length} documents: ${computed} now, ${cached} from the checkpoint, ${failed} failed.`)
  yield* Console.log(`${written.length} documents kept, cleaned and written to ${outputDir}`)
  yield* Console.log(`Checkpoint database: ${result.location}`)

  const checkpoint = yield* SqliteCheckpointStore.openFile(result.location!)
  yield* Console.log("Summary:", yield* checkpoint.summary)
}).pipe(Effect.scoped, Effect.provide(NodeCurator.layer()))

NodeRuntime.runMain(program)

/**
 * Parquet curation end to end: generates a small Parquet dataset (20,000
 * documents in 10 row groups, once), curates it one row group per index on
 * the default SQLite checkpoint store (`$PSNC_CACHE_DIR`, else
 * `~/.cache/psnc`), writes Parquet shards, then reads the shards back and
 * checks their row count against the input. Run it twice: the second run
 * finds every row group done.
 *
 *   npm run example:parquet [-- <work directory>]
 */
import { Pipeline, RunResult } from "@curator/core"
import { FileSource, Parquet } from "@curator/formats"
import { NodeCurator } from "@curator/node"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Document, keeps, makePipeline } from "./pipeline.js"

const workDir = path.resolve(process.argv[2] ?? path.join(os.tmpdir(), "curator-parquet-curation"))
const input = path.join(workDir, "documents.parquet")
const outputDir = path.join(workDir, "shards")

const words = ["data", "curation", "pipeline", "checkpoint", "parquet", "row", "group", "shard", "resume", "index"]

/** Document `id`, the same on every run (a small linear congruential generator seeded by the id). */
const documentOf = (id: number): Document => {
  let seed = (id * 2654435761) >>> 0
  const next = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32
  const length = Math.floor(next() * 12)
  const text = Array.from({ length }, () => words[Math.floor(next() * words.length)]).join(next() < 0.3 ? "   " : " ")
  return { id, lang: next() < 0.8 ? "en" : "fr", text: next() < 0.5 ? `  ${text.toUpperCase()}` : text, score: Math.round(next() * 100) / 100 }
}

const documents = 20_000

/** Writes the input once, with Curator's own Parquet sink (10 row groups of 2,000 rows). */
const generate = Effect.gen(function* () {
  if (fs.existsSync(input)) return
  const sink = Parquet.write({ dir: workDir, fileName: () => path.basename(input), schema: Document, rowGroupSize: 2_000 })
  yield* sink.write(Stream.range(0, documents - 1).pipe(Stream.map(documentOf)), 0)
  yield* Console.log(`Generated ${documents} documents in ${input}`)
})

const program = Effect.gen(function* () {
  yield* generate
  const result = yield* Pipeline.run(makePipeline(input, outputDir), { concurrency: 2 })
  const { cached, computed, failed } = RunResult.counts(result)
  yield* Console.log(`Curated ${result.outcomes.length} row groups: ${computed} now, ${cached} from the checkpoint, ${failed} failed.`)
  yield* Console.log(`Checkpoint database: ${result.location}`)

  // Read the shards back (a file source over the output) and check the count against the input.
  const shards = FileSource.glob("shard-*.parquet", { root: outputDir, read: Parquet.read({ columns: ["id"] }) })
  const written = yield* Stream.range(0, (yield* shards.length) - 1).pipe(
    Stream.flatMap((index) => shards.read(index)),
    Stream.runCount
  )
  const expected = yield* Parquet.read({ schema: Document })(input).pipe(Stream.filter(keeps), Stream.runCount)
  yield* Console.log(`${written} rows in ${yield* shards.length} shards under ${outputDir}; ${expected} expected.`)
  if (written !== expected || failed > 0) return yield* Effect.dieMessage("the shards do not hold the rows the curation keeps")
}).pipe(Effect.provide(NodeCurator.layer()))

NodeRuntime.runMain(program)

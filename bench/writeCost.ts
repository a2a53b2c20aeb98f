/**
 * The write cost of Curator's query indexes (migration `2_query_indexes`,
 * the `curator_*` indexes): the same run of N indices, each logging one
 * line, recorded through the real writer into a database with those
 * indexes and into one without them (dropped after the schema was made;
 * the migration, recorded as applied, does not make them again). Each run
 * is in a process of its own; the two kinds alternate, twice each.
 *
 *   tsx --conditions @curator/source bench/writeCost.ts N DIR with|without
 */
import { Filter, Pipeline, Sink, Source } from "@curator/core"
import { NodeCurator } from "@curator/node"
import Database from "better-sqlite3"
import { Effect, Logger } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

const [size, dir, kind] = process.argv.slice(2)
const n = Number(size)
const dbFile = path.join(dir!, `${kind}.db`)
for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(dbFile + suffix, { force: true })

const pipelineOf = (length: number) =>
  Pipeline.from(Source.make({ name: "Numbers", params: { n }, length, items: (i) => Effect.succeed([i]) })).pipe(
    Pipeline.filter(Filter.mapEffect({ name: "Square", f: (x: number) => Effect.as(Effect.logInfo(`squaring ${x}`), x * x) })),
    Pipeline.write(Sink.drain<number>({ name: "NoWrite", pathOf: (i) => [`/dev/null/${i}`] })),
    Pipeline.withOptions({ dbFile, resume: true, trackMemory: false })
  )

const run = (indices: ReadonlyArray<number> | undefined) =>
  Effect.runPromise(
    Pipeline.run(pipelineOf(n), { concurrency: 4, indices }).pipe(
      Effect.provide(NodeCurator.layer()),
      Effect.provide(Logger.remove(Logger.defaultLogger))
    )
  )

// The schema and its migrations, with index 0 recorded.
await run([0])
if (kind === "without") {
  const db = new Database(dbFile)
  const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'curator\\_%' ESCAPE '\\'").pluck().all()
  for (const name of names) db.exec(`DROP INDEX "${name}"`)
  db.close()
}
const started = performance.now()
await run(undefined)
const seconds = (performance.now() - started) / 1000
const db = new Database(dbFile, { readonly: true })
const indexes = db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'curator\\_%' ESCAPE '\\'").pluck().get()
db.close()
console.log(JSON.stringify({ kind, n: n - 1, seconds, indices_per_s: Math.round((n - 1) / seconds), curator_indexes: indexes, size_mb: fs.statSync(dbFile).size / 2 ** 20 }))

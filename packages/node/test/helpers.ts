/**
 * Helpers of the SQLite tests: temporary directories, a pipeline that counts
 * its calls, and raw access to database files with better-sqlite3.
 */
import { Filter, Pipeline, Sink, Source } from "@curator/core"
import Database from "better-sqlite3"
import { Effect, type Scope } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A temporary directory for the scope, removed with everything in it when the scope closes. */
export const tempDir = (prefix = "curator-node-"): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** An ISO-8601 UTC timestamp with microseconds, as Python's `isoformat()` writes it. */
export const timestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/

/** A pipeline of `length` indices whose stages count their calls; `label` changes its configuration. */
export const makeProbe = (length: number, label = "probe") => {
  const counts = { source: 0, filter: 0, sink: 0 }
  const pathsOf = (index: number) => [`/out/${label}/${index}.json`]
  const pipeline = Pipeline.from(Source.make({
    name: "Numbers",
    params: { length, label },
    length,
    items: (index) =>
      Effect.sync(() => {
        counts.source++
        return [index]
      })
  })).pipe(
    Pipeline.filter(Filter.map({
      name: "Double",
      f: (n: number) => {
        counts.filter++
        return n * 2
      }
    })),
    Pipeline.write(Sink.fromItems({
      name: "Collect",
      params: { dir: `/out/${label}` },
      write: (_: ReadonlyArray<number>, index) =>
        Effect.sync(() => {
          counts.sink++
          return pathsOf(index)
        })
    }))
  )
  return { pipeline, counts, pathsOf }
}

/** Runs `f` on a better-sqlite3 connection to `file`, closed afterwards. */
export const withRaw = <A>(file: string, f: (db: Database) => A, options: { readonly readonly?: boolean } = {}): A => {
  const db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: true })
  try {
    return f(db)
  } finally {
    db.close()
  }
}

/** The bytes and modification time of a file, to show that it was left untouched. */
export const snapshot = (file: string) => {
  const stat = fs.statSync(file)
  return { sha256: createHash("sha256").update(fs.readFileSync(file)).digest("hex"), mtimeMs: stat.mtimeMs, size: stat.size }
}

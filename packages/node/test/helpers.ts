/**
 * Helpers of the SQLite tests: temporary directories, a pipeline that counts
 * its calls, and raw access to database files with better-sqlite3.
 */
import { Filter, Pipeline, Sink, Source } from "@curator/core"
import { expect } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, type Scope } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** `[name, declared type, NOT NULL, primary-key position]` of each column, in order, as SPEC.md defines them. */
export const specColumns: Record<string, ReadonlyArray<readonly [string, string, 0 | 1, number]>> = {
  pipeline_runs: [
    ["run_id", "INTEGER", 0, 1],
    ["config_hash", "TEXT", 1, 0],
    ["config_json", "TEXT", 1, 0],
    ["started_at", "TEXT", 1, 0],
    ["run_dir", "TEXT", 0, 0],
    ["total_indices", "INTEGER", 0, 0]
  ],
  index_results: [
    ["idx", "INTEGER", 1, 1],
    ["run_id", "INTEGER", 1, 2],
    ["status", "TEXT", 1, 0],
    ["output_paths", "TEXT", 0, 0],
    ["completed_at", "TEXT", 1, 0],
    ["wall_time_ns", "INTEGER", 0, 0],
    ["peak_memory_bytes", "INTEGER", 0, 0],
    ["gpu_memory_bytes", "INTEGER", 0, 0],
    ["error", "TEXT", 0, 0],
    ["worker_id", "TEXT", 0, 0]
  ],
  stage_metrics: [
    ["idx", "INTEGER", 1, 1],
    ["run_id", "INTEGER", 1, 2],
    ["stage_order", "INTEGER", 1, 3],
    ["stage_name", "TEXT", 1, 0],
    ["wall_time_ns", "INTEGER", 1, 0]
  ],
  workers: [
    ["worker_id", "TEXT", 0, 1],
    ["run_id", "INTEGER", 1, 0],
    ["pid", "INTEGER", 1, 0],
    ["hostname", "TEXT", 1, 0],
    ["started_at", "TEXT", 1, 0],
    ["last_heartbeat", "TEXT", 1, 0],
    ["current_index", "INTEGER", 0, 0],
    ["completed_count", "INTEGER", 1, 0],
    ["invocation_id", "TEXT", 0, 0]
  ],
  output_files: [
    ["path", "TEXT", 1, 1],
    ["idx", "INTEGER", 1, 0],
    ["run_id", "INTEGER", 1, 2],
    ["seq", "INTEGER", 1, 0]
  ],
  filter_artifacts: [
    ["path", "TEXT", 1, 1],
    ["idx", "INTEGER", 1, 2],
    ["run_id", "INTEGER", 1, 3],
    ["filter_name", "TEXT", 1, 0],
    ["filter_order", "INTEGER", 1, 0]
  ],
  logs: [
    ["id", "INTEGER", 0, 1],
    ["run_id", "INTEGER", 1, 0],
    ["timestamp", "TEXT", 1, 0],
    ["level", "INTEGER", 1, 0],
    ["level_name", "TEXT", 1, 0],
    ["logger_name", "TEXT", 1, 0],
    ["message", "TEXT", 1, 0],
    ["worker_id", "TEXT", 0, 0],
    ["idx", "INTEGER", 0, 0]
  ]
}

export interface ColumnInfo {
  readonly name: string
  readonly type: string
  readonly notnull: number
  readonly pk: number
  readonly dflt_value: string | null
}

/** Expects every table of SPEC.md with exactly its columns, types, NOT NULLs and primary keys. */
export const expectSpecColumns = (db: Database) => {
  for (const [table, columns] of Object.entries(specColumns)) {
    const info = db.prepare(`PRAGMA table_info(${table})`).all() as Array<ColumnInfo>
    expect(info.map((c) => [c.name, c.type, c.notnull, c.pk]), table).toEqual(columns)
  }
}

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

/** A TCP port free on 127.0.0.1 now (for a runner to listen on). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

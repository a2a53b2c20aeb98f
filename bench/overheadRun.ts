/**
 * `bench overhead`'s measurement, in a process of its own as compiled
 * JavaScript against Curator's dist (bench/compiled.ts): what users' code
 * pays per index, without tsx's loader and its keep-names helper (~15% of
 * the untracked profile under tsx). Per-index overhead, three variants,
 * one JSON line each with its baseline measured in the same run: tracked
 * (items path, SQLite) beside bare better-sqlite3 inserting the same rows;
 * untracked beside a plain loop calling the same stage functions; the
 * stream-shaped variant (source `read`, a stream-consuming sink) beside a
 * plain loop running the same streams.
 *
 *   node overheadRun.mjs N   (compiled: bench/compiled.ts)
 */
import Database from "better-sqlite3"
import { Effect, type Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Measurement } from "./measurement.js"
import { concurrency, overheadPipeline, round, runOn, temporaryDirectory, timed, warmUp } from "./overheadPipeline.js"

/**
 * The physical-limit baseline of the untracked items path: a plain loop
 * calling the same stage functions (the source's `items`, the filter's
 * step, the sink's `writeItems`) in one Effect, with nothing of Curator's
 * around them.
 */
const plainStageLoop = (n: number, shape: "items" | "streams"): number => {
  const pipeline = overheadPipeline(n, os.tmpdir(), shape)
  const { filters, sink, source } = pipeline
  const step = filters[0]!.itemwise!
  const once = shape === "items"
    ? (i: number) =>
      Effect.flatMap(source.items!(i), (items) =>
        sink.writeItems!(items.flatMap((item) => step._tag === "Sync" ? step.f(item) : []), i))
    : (i: number) => sink.write(filters[0]!.apply(source.read(i) as Stream.Stream<number>) as Stream.Stream<number>, i)
  const loop = Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* (once(i) as Effect.Effect<unknown>)
  })
  Effect.runSync(loop) // warm-up, as the measured runs are
  const started = performance.now()
  Effect.runSync(loop)
  return (performance.now() - started) / 1000
}

/**
 * The physical-limit baseline of the tracked path: the rows Curator wrote
 * for the run (results, stage times, outputs), inserted by bare
 * better-sqlite3 into a fresh database of the same schema (tables and
 * indexes copied from Curator's), 2000 indices per transaction with
 * prepared single-row statements, WAL and no foreign-key checks as Curator
 * opens it.
 */
const bareSqliteInsert = (location: string, configHash: string): { seconds: number; rows: number; indices: number } => {
  const source = new Database(location, { readonly: true })
  const runId = (source.prepare("SELECT run_id FROM pipeline_runs WHERE config_hash = ?").get(configHash) as { run_id: number }).run_id
  const schema = source.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index'").all() as Array<{ sql: string }>
  const tables = ["index_results", "stage_metrics", "output_files"]
  const rowsOf = Object.fromEntries(tables.map((table) => [table, source.prepare(`SELECT * FROM ${table} WHERE run_id = ? ORDER BY idx`).all(runId) as Array<Record<string, unknown>>]))
  source.close()
  const dir = temporaryDirectory("bare-sqlite")
  const db = new Database(path.join(dir, "bare.db"))
  db.pragma("journal_mode = WAL")
  db.pragma("foreign_keys = OFF") // as Curator opens it
  for (const { sql } of schema) db.exec(sql)
  const inserts = Object.fromEntries(tables.map((table) => {
    const columns = Object.keys(rowsOf[table]![0] ?? {})
    return [table, db.prepare(`INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")})`)]
  }))
  const byIndex = new Map<unknown, Array<[string, Record<string, unknown>]>>()
  for (const table of tables) for (const row of rowsOf[table]!) {
    const rows = byIndex.get(row.idx) ?? []
    rows.push([table, row])
    byIndex.set(row.idx, rows)
  }
  const batches: Array<Array<[string, Record<string, unknown>]>> = []
  let batch: Array<[string, Record<string, unknown>]> = []
  let inBatch = 0
  for (const rows of byIndex.values()) {
    batch.push(...rows)
    if (++inBatch === 2000) {
      batches.push(batch)
      batch = []
      inBatch = 0
    }
  }
  if (batch.length > 0) batches.push(batch)
  const writeBatch = (rows: Array<[string, Record<string, unknown>]>) => {
    db.exec("BEGIN")
    for (const [table, row] of rows) inserts[table]!.run(row)
    db.exec("COMMIT")
  }
  const started = performance.now()
  for (const rows of batches) writeBatch(rows)
  const seconds = (performance.now() - started) / 1000
  db.close()
  fs.rmSync(dir, { recursive: true, force: true })
  return { seconds, rows: batches.reduce((sum, rows) => sum + rows.length, 0), indices: byIndex.size }
}

const n = Number(process.argv[2])
const dbDir = temporaryDirectory("overhead")
await warmUp(dbDir)
let trackedRun: { readonly location: string | undefined } | undefined
const trackedPipeline = overheadPipeline(n, dbDir, "items")
const tracked = await timed(Effect.map(runOn(trackedPipeline), (result) => void (trackedRun = result)))
const bare = bareSqliteInsert(trackedRun!.location!, trackedPipeline.configHash)
const untracked = await timed(runOn(overheadPipeline(n, dbDir, "items"), { trackMetrics: false }))
const plain = plainStageLoop(n, "items")
const streaming = await timed(runOn(overheadPipeline(n, dbDir, "streams")))
const streamingUntracked = await timed(
  runOn(overheadPipeline(n, dbDir, "streams"), { trackMetrics: false })
)
const plainStreams = plainStageLoop(n, "streams")
fs.rmSync(dbDir, { recursive: true, force: true })
const perSecond = (seconds: number) => Math.round(n / seconds)
// Each line says it timed compiled code, to tell it from the figures this workload gave under tsx.
const lines: ReadonlyArray<Measurement> = [
  {
    workload: "overhead",
    code: "compiled",
    variant: "tracked",
    n,
    backend: "fibers",
    concurrency,
    seconds: round(tracked),
    indices_per_s: perSecond(tracked),
    goal_indices_per_s: 50_000,
    baseline: "bare better-sqlite3 inserting the same rows (2000 indices per transaction)",
    baseline_indices_per_s: Math.round(bare.indices / bare.seconds),
    baseline_rows_per_s: Math.round(bare.rows / bare.seconds),
    ratio: round(bare.seconds / tracked)
  },
  {
    workload: "overhead",
    code: "compiled",
    variant: "untracked",
    n,
    backend: "fibers",
    concurrency,
    seconds: round(untracked),
    indices_per_s: perSecond(untracked),
    goal_indices_per_s: 200_000,
    baseline: "a plain loop calling the same stage functions",
    baseline_indices_per_s: perSecond(plain),
    ratio: round(plain / untracked)
  },
  {
    workload: "overhead",
    code: "compiled",
    variant: "streams",
    n,
    backend: "fibers",
    concurrency,
    seconds: round(streaming),
    indices_per_s: perSecond(streaming),
    goal_indices_per_s: 10_000,
    untracked_indices_per_s: perSecond(streamingUntracked),
    baseline: "a plain loop running the same source stream, filter and sink",
    baseline_indices_per_s: perSecond(plainStreams),
    ratio: round(plainStreams / streaming)
  }
]
for (const line of lines) console.log(JSON.stringify(line))

/**
 * Stateful filters and gathering, on every backend (sequential, fibers,
 * worker threads, and a `curator runner` process where PostgreSQL is
 * available, writing its shards to the same file system): the merged
 * statistics equal one sequential pass over the same data, also behind a
 * stage that needs a service and works on several items at once; `filter_artifacts` holds one shard row
 * per index and stateful filter before the gather (0-based filter_order) and
 * one row per filter (idx 0) after it, read from the raw SQLite rows; a
 * failed index contributes nothing; and `curator run --resume` killed with
 * SIGKILL again and again still counts every index exactly once.
 */
import { Backend, Gather, Pipeline } from "@curator/core"
import { SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Layer, Logger } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { nodeArgs, repoRoot } from "./cli/curatorProcess.js"
import { makeRunners } from "./clusterRunners.js"
import { postgresUrl, skipReason } from "./postgres.js"

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-stateful-"))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))
// The fixture reads its folder when loaded: set it first (worker threads and children inherit it).
process.env.CURATOR_STATEFUL_OUT = path.join(scratch, "out")
const F = await import("./fixtures/statefulPipelines.js")
const fixture = fileURLToPath(new URL("./fixtures/statefulPipelines.ts", import.meta.url))

/** One sequential pass over every index but `except`, folding into one state. */
const singlePass = (except: ReadonlySet<number> = new Set()) => {
  let stats = F.emptyStats
  let lines = 0
  for (let index = 0; index < F.n; index++) {
    if (except.has(index)) continue
    for (const line of F.cleaned(index)) {
      stats = F.stepStats(stats, line)
      lines++
    }
  }
  return { stats, lines }
}

interface ArtifactRow {
  readonly path: string
  readonly idx: number
  readonly filter_name: string
  readonly filter_order: number
}

const artifactRows = (dbFile: string): Array<ArtifactRow> => {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true })
  try {
    return db.prepare("SELECT path, idx, filter_name, filter_order FROM filter_artifacts ORDER BY filter_order, idx, path")
      .all() as Array<ArtifactRow>
  } finally {
    db.close()
  }
}

type BackendName = "sequential" | "fibers" | "workers" | "cluster"
const backends = ["sequential", "fibers", "workers", "cluster"] as const
const skipped = (name: BackendName) => name === "cluster" && postgresUrl === undefined

/** The runners of the cluster cases: one per pipeline export, sharing this process's files (the shared file system). */
const cluster = makeRunners({ fixture, scratch, env: () => ({ CURATOR_STATEFUL_OUT: F.outDir }) })
afterAll(cluster.stopAll, 60_000)

const backendLayer = (name: BackendName, exportName: string): Layer.Layer<Backend.Backend, Backend.BackendError> =>
  name === "sequential"
    ? Backend.layerSequential
    : name === "fibers"
    ? Backend.layerFibers
    : name === "workers"
    ? WorkerBackend.layer({ module: fixture, exportName, threads: 2 })
    // Batches of a few indices, so that both lanes of the runner take some.
    : cluster.layer(exportName, { batchSize: 6 })

const quietly = Logger.remove(Logger.defaultLogger)

/** `workers` → `enrichedWorkers`: the export of a backend's pipeline in a variant. */
const exportOf = (variant: "plain" | "enriched", name: BackendName) =>
  variant === "plain" ? name : `enriched${name[0]!.toUpperCase()}${name.slice(1)}`

/** The pid of each worker that recorded an index, read from the raw rows. */
const recordingWorkers = (dbFile: string): Map<string, number> => {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true })
  try {
    const rows = db.prepare("SELECT DISTINCT r.worker_id AS id, w.pid FROM index_results r JOIN workers w ON w.worker_id = r.worker_id")
      .all() as Array<{ id: string; pid: number }>
    return new Map(rows.map((row) => [row.id, row.pid]))
  } finally {
    db.close()
  }
}

describe("stateful filters", () => {
  if (postgresUrl !== undefined) {
    // Started together, so that their start-up overlaps.
    beforeAll(() => Promise.all(["cluster", "enrichedCluster"].map((exportName) => cluster.runnerOf(exportName))), 120_000)
  }
  describe.each(["plain", "enriched"] as const)("%s", (variant) => {
    for (const name of backends) {
      const test = skipped(name) ? it.skip : it
      test(
        `on ${name}: the gathered state equals one sequential pass; shard rows, then one row per filter${
          variant === "enriched" ? " (behind a stage that needs a service and works on several lines at once)" : ""
        }${skipped(name) ? ` (${skipReason})` : ""}`,
        async () => {
          const exportName = exportOf(variant, name)
          const dbDir = path.join(scratch, `db-${exportName}`)
          const source = (F as unknown as Record<string, Pipeline.Pipeline<Gather.ShardError, never>>)[exportName]!
          const pipeline = Pipeline.withOptions(source, { resume: true, dbDir })
          const variantDir = path.join(F.outDir, variant === "plain" ? name : `enriched-${name}`)
          const run = await Pipeline.run(pipeline, { concurrency: 2 }).pipe(
            Effect.provide(Layer.mergeAll(backendLayer(name, exportName), SqliteCheckpointStore.layer(), quietly)),
            Effect.runPromise
          )
          const dbFile = run.location!

          // Before: one row per index for each stateful filter (positions 1 and 2; the cleaning stage is 0), naming its lane's shard.
          const before = artifactRows(dbFile)
          expect(before).toHaveLength(2 * F.n)
          const statsRows = before.filter((row) => row.filter_order === 1)
          const linesRows = before.filter((row) => row.filter_order === 2)
          expect(statsRows.map((row) => row.idx)).toEqual(Array.from({ length: F.n }, (_, i) => i))
          expect(new Set(statsRows.map((row) => row.filter_name))).toEqual(new Set(["CorpusStats"]))
          expect(new Set(linesRows.map((row) => row.filter_name))).toEqual(new Set(["Lines"]))
          for (const row of statsRows) expect(path.basename(row.path)).toMatch(/^stats_worker_[0-9a-f]{32}\.json$/)
          for (const row of linesRows) expect(path.basename(row.path)).toMatch(/^lines_[0-9a-f]{32}\.json$/)
          const shards = new Set(before.map((row) => row.path))
          // One shard per filter and per worker that computed an index, named by that worker; every shard is a real file.
          const workers = recordingWorkers(dbFile)
          const shardWorkers = new Set([...shards].map((shard) => /([0-9a-f]{32})\.json$/.exec(shard)![1]))
          expect(shardWorkers).toEqual(new Set(workers.keys()))
          expect(shards.size).toBe(2 * workers.size)
          // Two lanes on fibers and threads (concurrency 2), one when sequential; on the cluster, the runner's.
          if (name !== "cluster") expect(workers.size).toBe(name === "sequential" ? 1 : 2)
          else expect(new Set(workers.values())).toEqual(new Set([(await cluster.runnerOf(exportName)).child.pid]))
          for (const shard of shards) expect(fs.existsSync(shard)).toBe(true)

          const gathered = await Pipeline.gather(pipeline).pipe(
            Effect.provide(Layer.mergeAll(SqliteCheckpointStore.layer(), quietly)),
            Effect.runPromise
          )
          const expected = singlePass()
          expect(gathered.map((g) => [g.filterName, g.filterOrder, g.indices])).toEqual([["CorpusStats", 1, F.n], ["Lines", 2, F.n]])
          expect(gathered[0]!.state).toEqual(expected.stats)
          expect(gathered[1]!.state).toBe(expected.lines)
          // Read back from the files, through the filter's schema.
          const statsFilter = source.filters[1] as any
          expect(await Effect.runPromise(Gather.readGathered(statsFilter).pipe(Effect.provide(SqliteCheckpointStore.layer())))).toEqual(
            expected.stats
          )

          // After: one row per filter for the merged file, idx 0, in place of the shard rows; the shards are gone.
          expect(artifactRows(dbFile)).toEqual([
            { path: path.join(variantDir, "stats.json"), idx: 0, filter_name: "CorpusStats", filter_order: 1 },
            { path: path.join(variantDir, "lines.json"), idx: 0, filter_name: "Lines", filter_order: 2 }
          ])
          for (const shard of shards) expect(fs.existsSync(shard)).toBe(false)
          expect(fs.readdirSync(variantDir).sort()).toEqual(["lines.json", "stats.json"])
        },
        60_000
      )
    }
  })

  it("a failed index contributes nothing to its lane's state (run option gather: true)", async () => {
    const dbDir = path.join(scratch, "db-failing")
    const run = await Pipeline.run(Pipeline.withOptions(F.failing, { dbDir }), { concurrency: 2, gather: true }).pipe(
      Effect.provide(Layer.mergeAll(Backend.layerFibers, SqliteCheckpointStore.layer(), quietly)),
      Effect.runPromise
    )
    expect(run.outcomes.filter((o) => o._tag === "Failed").map((o) => o.index)).toEqual([5])
    const gathered = JSON.parse(fs.readFileSync(path.join(F.outDir, "failing", "stats.json"), "utf8"))
    expect(gathered.state).toEqual(singlePass(new Set([5])).stats)
    expect(gathered.state.counted["5"]).toBeUndefined()
    expect(artifactRows(run.location!).map((row) => [path.basename(row.path), row.idx, row.filter_order])).toEqual([
      ["stats.json", 0, 1],
      ["lines.json", 0, 2]
    ])
  }, 30_000)

  it("a recorded shard that cannot be read fails the gather clearly, and changes nothing", async () => {
    const pipeline = Pipeline.withOptions(F.unreachable, { resume: true, dbDir: path.join(scratch, "db-unreachable") })
    const layer = Layer.mergeAll(Backend.layerFibers, SqliteCheckpointStore.layer(), quietly)
    const run = await Pipeline.run(pipeline, { concurrency: 2 }).pipe(Effect.provide(layer), Effect.runPromise)
    const before = artifactRows(run.location!)
    const lost = before.find((row) => row.filter_order === 1)!.path
    fs.rmSync(lost)
    const failure = await Pipeline.gather(pipeline).pipe(Effect.flip, Effect.provide(layer), Effect.runPromise)
    expect(failure).toBeInstanceOf(Gather.ShardError)
    expect(failure).toMatchObject({ reason: "Unreachable", path: lost })
    expect((failure as Gather.ShardError).message).toContain("shared file system")
    expect(artifactRows(run.location!)).toEqual(before)
    expect(fs.existsSync(path.join(F.outDir, "unreachable", "stats.json"))).toBe(false)
  }, 30_000)

  it("curator run --resume killed with SIGKILL again and again: every index counted exactly once", async () => {
    const dir = path.join(scratch, "killed")
    const dbFile = path.join(dir, "checkpoint.db")
    const n = 400
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PSNC_CACHE_DIR: path.join(dir, "cache"),
      CURATOR_STATEFUL_N: String(n),
      CURATOR_STATEFUL_DELAY_MS: "4"
    }
    delete env.NODE_OPTIONS
    const shardDir = path.join(F.outDir, "killed")
    /** How many indices the shards on disk count (what flushed so far). */
    const flushed = () =>
      fs.existsSync(shardDir)
        ? fs.readdirSync(shardDir).filter((name) => name.startsWith("stats_worker_") && name.endsWith(".json")).reduce((sum, name) => {
          try {
            const shard = JSON.parse(fs.readFileSync(path.join(shardDir, name), "utf8"))
            return sum + (shard.indices as Array<[number, number]>).reduce((s, [a, b]) => s + b - a + 1, 0)
          } catch {
            return sum // being replaced right now
          }
        }, 0)
        : 0
    const curator = (args: ReadonlyArray<string>): ChildProcess =>
      spawn(process.execPath, nodeArgs(args), { cwd: repoRoot, env, stdio: ["ignore", "ignore", "pipe"] })
    const run = (backend: string, extra: ReadonlyArray<string> = []) =>
      curator([
        "run", `${fixture}`, "--export", "killed", "--resume", "--quiet", "--json", "--db-file", dbFile,
        "--backend", backend, "--concurrency", "3", ...extra
      ])
    const exited = (child: ChildProcess) =>
      new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
        let stderr = ""
        child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
        child.on("exit", (code, signal) => resolve({ code, signal, stderr }))
      })

    const kills: Array<string> = []
    let unrecorded = 0
    for (const backend of ["fibers", "workers"]) {
      const child = run(backend)
      const exit = exited(child)
      let done = false
      void exit.then(() => (done = true))
      const start = flushed()
      const target = start + 20 + Math.floor(Math.random() * 60)
      while (!done && flushed() < Math.min(target, n - 10)) await new Promise((r) => setTimeout(r, 3))
      child.kill("SIGKILL")
      const ended = await exit
      // Indices flushed to a shard but not recorded: the window the resume must not count twice.
      const recorded = fs.existsSync(dbFile)
        ? (() => {
          const db = new Database(dbFile, { readonly: true })
          try {
            return (db.prepare("SELECT COUNT(*) AS n FROM index_results WHERE status = 'completed'").get() as { n: number }).n
          } finally {
            db.close()
          }
        })()
        : 0
      unrecorded += flushed() - recorded
      kills.push(`${backend}: ${ended.signal ?? `exit ${ended.code} ${ended.stderr}`} at ${flushed()} flushed, ${recorded} recorded`)
    }
    console.log(`stateful kills: ${kills.join("; ")}`)
    // The kills did land between flushes and records (else this test would prove nothing).
    expect(unrecorded, kills.join("; ")).toBeGreaterThan(0)
    const last = await exited(run("fibers", ["--gather"]))
    expect(last.code, `${kills.join("; ")}; ${last.stderr}`).toBe(0)
    const gathered = JSON.parse(fs.readFileSync(path.join(shardDir, "stats.json"), "utf8"))
    const counted = gathered.state.counted as Record<string, number>
    const wrong = Object.entries(counted).filter(([, times]) => times !== 1)
    expect(wrong, kills.join("; ")).toEqual([])
    expect(Object.keys(counted)).toHaveLength(n)
    expect(gathered.state.documents).toBe(n)
    const lines = JSON.parse(fs.readFileSync(path.join(shardDir, "lines.json"), "utf8"))
    expect(lines.state).toBe(Array.from({ length: n }, (_, i) => F.documentOf(i).length).reduce((a, b) => a + b, 0))
    expect(kills.filter((k) => k.includes("SIGKILL"))).toHaveLength(2)
    expect(fs.readdirSync(shardDir).sort()).toEqual(["lines.json", "stats.json"])
    // `curator gather` again: nothing new, the same counts (absorbed shards never count twice).
    const again = await exited(curator(["gather", `${fixture}#killed`, "--db-file", dbFile, "--resume", "--json"]))
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(fs.readFileSync(path.join(shardDir, "stats.json"), "utf8")).state).toEqual(gathered.state)
  }, 120_000)
})

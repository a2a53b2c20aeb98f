/**
 * `npm run bench scale [n]`: a database of n indices (default 10⁶) and how
 * fast its readers stay. The first 10⁵ indices go through a real run and
 * the real writer, the rest are filled in bulk with raw SQL (stage metrics,
 * outputs, logs, 0.4 % failures). Then, one JSON line each:
 *
 * - `resume-set`: loading the completed set (`completedIndexSet`), against
 *   the floor of reading the same `idx` values with raw better-sqlite3;
 * - `dashboard`: p50/p95 of each API endpoint over 20 requests (cold: the
 *   first request, which fills the server's cache), against a static file
 *   of the same server; the server's peak RSS (it runs in a child process);
 * - `cli`: each command's wall time, minus bare `node -e 0` and minus the
 *   CLI's own start-up (`curator --version`); the full `metrics --csv`
 *   export with its rows/s and peak RSS;
 * - `writes`: the write cost of the `curator_*` query indexes (migration
 *   `2_query_indexes`): runs through the real writer with and without them
 *   (`CURATOR_BENCH_SCALE_WRITES` indices, default 100,000; bench/writeCost.ts).
 *
 * The dashboard and the commands run as users run them: the compiled
 * executable (`bin/curator.mjs`, built first), not the sources under tsx.
 * `CURATOR_BENCH_SCALE_PARTS` picks parts: `run` (the run loop's memory),
 * `read` (database, resume set, dashboard, commands), `writes`; default all.
 */
import { SqliteCheckpointStore } from "@curator/node"
import Database from "better-sqlite3"
import { Effect } from "effect"
import { execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { makeBulkDatabase } from "../packages/node/test/fixtures/bulkDatabase.js"
import { compiled, runScript } from "./compiled.js"
import type { Measurement } from "./measurement.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const nodePackage = path.resolve(here, "../packages/node")
/** `curator` as installed: the executable on the compiled output and its bundle (built by {@link scale}). */
const curatorArgs = [path.join(nodePackage, "bin/curator.mjs")]

/** Brings `dist/` and the executable's bundle up to date, as `npm run build` does. */
const build = () => {
  const repoRoot = path.resolve(here, "..")
  execFileSync(process.execPath, [path.join(repoRoot, "node_modules/typescript/bin/tsc"), "-b", "tsconfig.build.json"], { cwd: repoRoot })
  execFileSync(process.execPath, [path.join(nodePackage, "scripts/bundle.mjs")], { cwd: repoRoot })
}

/** The write cost of the query indexes: the same run recorded with and without them, alternating, twice each. */
const writeCost = (dir: string) => {
  const n = Number(process.env.CURATOR_BENCH_SCALE_WRITES ?? 100_000)
  const runs: Record<string, Array<Record<string, number>>> = { with: [], without: [] }
  for (const kind of ["without", "with", "without", "with"] as const) {
    const child = spawnSync(
      process.execPath,
      ["--conditions=@curator/source", "--import", "tsx", path.join(here, "writeCost.ts"), String(n + 1), dir, kind],
      { encoding: "utf8", maxBuffer: 1 << 20 }
    )
    if (child.status !== 0) throw new Error(`bench writeCost ${kind} failed: ${child.stderr}`)
    runs[kind]!.push(JSON.parse(child.stdout.trim().split("\n").pop()!))
  }
  const best = (kind: string) => Math.max(...runs[kind]!.map((run) => run.indices_per_s!))
  print({
    workload: "scale",
    part: "writes",
    n,
    with_indexes_idx_per_s: runs.with!.map((run) => run.indices_per_s),
    without_indexes_idx_per_s: runs.without!.map((run) => run.indices_per_s),
    slowdown: round(best("without") / best("with"), 3),
    size_mb_with: round(runs.with![0]!.size_mb!),
    size_mb_without: round(runs.without![0]!.size_mb!)
  })
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits))

const print = (line: Record<string, unknown>) => console.log(JSON.stringify(line))

/** The p-th percentile by nearest rank. */
const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const msSince = (start: number) => performance.now() - start

/** The peak resident set of a live process, from /proc (Linux), in MB. */
const peakRssMb = (pid: number): number | null => {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? null : round(Number(match[1]) / 1024)
  } catch {
    return null
  }
}

/** Runs a command to its end; wall ms and the child's peak RSS (GNU time's max RSS is not portable: /usr/bin/time if present). */
const timeCommand = (args: ReadonlyArray<string>, stdoutFile?: string) => {
  const out = stdoutFile === undefined ? "ignore" : fs.openSync(stdoutFile, "w")
  const useTime = fs.existsSync("/usr/bin/time")
  const start = performance.now()
  const result = useTime
    ? spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, ...args], { stdio: ["ignore", out, "pipe"], encoding: "utf8" })
    : spawnSync(process.execPath, args, { stdio: ["ignore", out, "pipe"], encoding: "utf8" })
  const wallMs = msSince(start)
  if (typeof out === "number") fs.closeSync(out)
  if (result.status !== 0) throw new Error(`${args.join(" ")} exited ${result.status}: ${result.stderr}`)
  const lastLine = result.stderr.trim().split("\n").at(-1) ?? ""
  return { wallMs, peakRssMb: useTime && /^\d+$/.test(lastLine) ? round(Number(lastLine) / 1024) : null }
}

/** The median of three runs of a command. */
const median3 = (args: ReadonlyArray<string>) => {
  const runs = [0, 1, 2].map(() => timeCommand(args).wallMs)
  return { medianMs: percentile(runs, 50), runsMs: runs.map((r) => round(r)) }
}

export const resumeSet = async (database: string) => {
  const loads: Array<number> = []
  let size = 0
  for (let k = 0; k < 3; k++) {
    await Effect.runPromise(Effect.gen(function*() {
      const checkpoint = yield* SqliteCheckpointStore.openFile(database, { readonly: true })
      const start = performance.now()
      const set = yield* checkpoint.completedIndexSet
      loads.push(msSince(start))
      size = set.size
    }).pipe(Effect.scoped))
  }
  // The floor: the same idx values read by raw better-sqlite3, no objects kept.
  const db = new Database(database, { readonly: true })
  const floors: Array<number> = []
  for (let k = 0; k < 3; k++) {
    const start = performance.now()
    let count = 0
    for (const _ of db.prepare("SELECT idx FROM index_results WHERE status = 'completed'").pluck().iterate()) count++
    floors.push(msSince(start))
    if (count !== size) throw new Error(`the completed set holds ${size} indices, the table ${count}`)
  }
  db.close()
  print({
    workload: "scale",
    part: "resume-set",
    completed: size,
    load_ms: loads.map((ms) => round(ms)),
    baseline_raw_idx_scan_ms: floors.map((ms) => round(ms))
  })
}

/** Starts `curator dashboard` in a child process; its URL and pid. */
const startDashboard = (database: string) =>
  new Promise<{ readonly url: string; readonly pid: number; readonly stop: () => void }>((resolve, reject) => {
    const child = spawn(process.execPath, [...curatorArgs, "dashboard", database, "--port", "0"], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      const match = /at (http:\/\/\S+)/.exec(stdout)
      if (match !== null) resolve({ url: match[1]!, pid: child.pid!, stop: () => child.kill("SIGINT") })
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("exit", (code) => reject(new Error(`curator dashboard exited ${code}: ${stderr}`)))
  })

export const dashboard = async (database: string, n: number) => {
  const server = await startDashboard(database)
  const get = async (url: string) => {
    const start = performance.now()
    const response = await fetch(new URL(url, server.url))
    const body = await response.text()
    const ms = msSince(start)
    if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status} ${body.slice(0, 200)}`)
    return ms
  }
  const lastPage = Math.ceil(n / 50)
  const endpoints = [
    "/api/overview",
    "/api/indices",
    `/api/indices?page=${lastPage}`,
    "/api/indices?status=failed&page=5",
    `/api/indices?status=completed&page=${lastPage - 200}`,
    "/api/indices?status=remaining",
    `/api/index/${n - 1}`,
    "/api/performance",
    "/api/logs",
    "/api/logs?level=warning",
    `/api/logs?index=${n - 2}`,
    "/api/logs?worker=bulk-worker-3&level=warning"
  ]
  const baseline: Array<number> = []
  for (let k = 0; k < 20; k++) baseline.push(await get("/dashboard.css"))
  const figures: Record<string, unknown> = {}
  for (const endpoint of endpoints) {
    const cold = await get(endpoint)
    const times: Array<number> = []
    for (let k = 0; k < 20; k++) times.push(await get(endpoint))
    figures[endpoint] = { cold_ms: round(cold), p50_ms: round(percentile(times, 50)), p95_ms: round(percentile(times, 95)) }
  }
  const rss = peakRssMb(server.pid)
  server.stop()
  print({
    workload: "scale",
    part: "dashboard",
    n,
    endpoints: figures,
    server_peak_rss_mb: rss,
    baseline_static_file_p50_ms: round(percentile(baseline, 50)),
    baseline_static_file_p95_ms: round(percentile(baseline, 95))
  })
}

const cli = (database: string, dir: string, n: number) => {
  const bare = median3(["-e", "0"])
  const startup = median3([...curatorArgs, "--version"])
  const commands: Record<string, ReadonlyArray<string>> = {
    status: ["status", database],
    failed: ["failed", database],
    workers: ["workers", database],
    "logs --level error": ["logs", database, "--level", "error"],
    [`logs --index ${n - 1}`]: ["logs", database, "--index", String(n - 1)],
    [`outputs ${n - 2}`]: ["outputs", database, String(n - 2)],
    "metrics (table of the first and last indices)": ["metrics", database, "--limit", "20"]
  }
  const figures: Record<string, unknown> = {}
  for (const [name, args] of Object.entries(commands)) {
    const { medianMs, runsMs } = median3([...curatorArgs, ...args])
    figures[name] = {
      runs_ms: runsMs,
      minus_node_ms: round(medianMs - bare.medianMs),
      minus_cli_startup_ms: round(medianMs - startup.medianMs)
    }
  }
  const csv = path.join(dir, "metrics.csv")
  const exported = timeCommand([...curatorArgs, "metrics", database, "--csv", "-"], csv)
  const rows = fs.readFileSync(csv, "utf8").split("\n").filter((line) => line !== "").length - 1
  print({
    workload: "scale",
    part: "cli",
    n,
    commands: figures,
    baseline_node_e0_ms: bare.runsMs,
    baseline_cli_version_ms: startup.runsMs,
    metrics_csv: {
      rows,
      wall_ms: round(exported.wallMs),
      rows_per_s: Math.round(rows / ((exported.wallMs - startup.medianMs) / 1000)),
      peak_rss_mb: exported.peakRssMb
    }
  })
}

/**
 * `CURATOR_BENCH_SCALE_DB` names a database this workload built before (of
 * the same n), to measure again without building it: the file is copied
 * into the temporary directory, and the copy is read.
 */
const reuse = process.env.CURATOR_BENCH_SCALE_DB

/**
 * The run loop's memory at N indices: a fresh run drained through
 * `Pipeline.stream`, the same run resumed (every index from the checkpoint),
 * and a resumed `Pipeline.run` (which keeps every outcome, as asked). Each
 * runs in a process of its own, as compiled JavaScript against Curator's
 * dist (bench/compiled.ts; build it first); the baselines are a bare Node
 * process's RSS and the run's own RSS before it starts (Curator loaded).
 */
const runMemory = (n: number, dir: string) => {
  const bare = spawnSync(process.execPath, ["-e", "console.log(process.resourceUsage().maxRSS)"], { encoding: "utf8" })
  const dbDir = path.join(dir, "runs")
  // Compiled, against Curator's dist: under tsx the figure would carry tsx's own ~170 MB.
  const script = compiled("runMemory.ts")
  for (const [mode, part] of [["stream", "stream fresh"], ["stream", "stream resumed"], ["run", "run resumed"]] as const) {
    print({
      workload: "scale",
      part,
      ...runScript(script, [mode, String(n), dbDir]).at(-1),
      goal_peak_rss_mb: part === "run resumed" ? null : 256,
      bare_node_rss_mb: round(Number(bare.stdout) / 1024)
    })
  }
}

export const scale = async (n: number): Promise<Measurement> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "curator-bench-scale-"))
  try {
    const parts = process.env.CURATOR_BENCH_SCALE_PARTS?.split(",") ?? ["run", "read", "writes"]
    if (parts.includes("run")) runMemory(n, dir)
    if (parts.includes("writes")) writeCost(dir)
    if (!parts.includes("read")) return { workload: "scale", n, backend: "fibers", seconds: 0, indices_per_s: 0 }
    build()
    const written = Math.min(n, 100_000)
    const start = performance.now()
    let database: string
    if (reuse === undefined) {
      database = await Effect.runPromise(makeBulkDatabase({ n, written, dbDir: dir, logsPerIndex: 1 }))
      print({
        workload: "scale",
        part: "database",
        n,
        through_writer: written,
        build_s: round(msSince(start) / 1000),
        size_mb: round(fs.statSync(database).size / 2 ** 20)
      })
    } else {
      database = path.join(dir, path.basename(reuse))
      fs.copyFileSync(reuse, database)
    }
    await resumeSet(database)
    await dashboard(database, n)
    cli(database, dir, n)
    return { workload: "scale", n, backend: "sqlite", seconds: round(msSince(start) / 1000, 3), indices_per_s: 0 }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

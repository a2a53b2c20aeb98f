/**
 * Stopping `curator run` with signals, on fibers and on worker threads: the
 * first SIGINT or SIGTERM stops it gracefully (no new index; the indices in
 * flight finish and are recorded; records and logs are flushed; the summary
 * is printed; exit 130); a second signal, or the end of `--grace`, stops at
 * once, leaving the indices in flight not completed. Never is an index
 * recorded completed without its outputs.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as path from "node:path"
import { formatSummary, summarize, type Summary } from "../../src/cli/commands/Run.js"
import { journalOf, markerOf, outputsOf } from "../fixtures/crashOutputs.js"
import { limited, makeSandbox, type Result, type Sandbox, show, start } from "./curator.js"

const fixture = path.resolve(import.meta.dirname, "../fixtures/crashPipeline.ts")
const N = 40

let sandbox: Sandbox
const outcomes: Record<string, { result: Result; dir: string }> = {}

/** The indices whose sink started (from the journal of the crash pipeline). */
const started = (out: string): Set<number> => {
  const journal = journalOf(out)
  if (!fs.existsSync(journal)) return new Set()
  return new Set(fs.readFileSync(journal, "utf8").split("\n").filter((l) => l.startsWith("start ")).map((l) => Number(l.slice(6))))
}

/**
 * Runs the crash pipeline (each index `delayMs` in its sink), waits until
 * `inFlight` indices started, sends the signals 200 ms apart, and waits for
 * the exit.
 */
const stopRun = (key: string, options: {
  readonly backend: "fibers" | "workers"
  readonly delayMs: number
  readonly signals: ReadonlyArray<NodeJS.Signals>
  readonly inFlight: number
  readonly extraArgs?: ReadonlyArray<string>
}) =>
async () => {
  const dir = path.join(sandbox.root, key)
  const out = path.join(dir, "out")
  fs.mkdirSync(out, { recursive: true })
  const child = start(
    ["run", fixture, "--resume", "--json", "--quiet", "--db-file", path.join(dir, "checkpoint.db"), "--backend", options.backend, "--concurrency", "2", ...(options.extraArgs ?? [])],
    { env: { ...sandbox.env, CURATOR_CRASH_OUT: out, CURATOR_CRASH_N: String(N), CURATOR_CRASH_DELAY_MS: String(options.delayMs) } }
  )
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  let done = false
  void exited.then(() => (done = true))
  while (!done && started(out).size < options.inFlight) await new Promise((resolve) => setTimeout(resolve, 10))
  for (const signal of options.signals) {
    child.kill(signal)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  const code = await exited
  outcomes[key] = { result: { code, stdout, stderr }, dir }
}

beforeAll(async () => {
  sandbox = makeSandbox()
  await limited(3, [
    stopRun("workers, SIGTERM", { backend: "workers", delayMs: 300, signals: ["SIGTERM"], inFlight: 3 }),
    stopRun("workers, twice", { backend: "workers", delayMs: 20_000, signals: ["SIGINT", "SIGINT"], inFlight: 2 }),
    stopRun("fibers, SIGINT", { backend: "fibers", delayMs: 300, signals: ["SIGINT"], inFlight: 3 }),
    stopRun("fibers, twice", { backend: "fibers", delayMs: 20_000, signals: ["SIGINT", "SIGINT"], inFlight: 2 }),
    stopRun("fibers, grace over", { backend: "fibers", delayMs: 20_000, signals: ["SIGINT"], inFlight: 2, extraArgs: ["--grace", "1"] })
  ])
}, 180_000)

afterAll(() => sandbox?.remove())

/** What the database of a stopped run recorded: completed indices and the run's log messages. */
const recorded = (dir: string) => {
  const db = new Database(path.join(dir, "checkpoint.db"), { readonly: true, fileMustExist: true })
  try {
    const integrity = (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check
    const completed = (db.prepare("SELECT idx FROM index_results WHERE status = 'completed'").all() as Array<{ idx: number }>)
      .map((row) => row.idx)
    const messages = (db.prepare("SELECT message FROM logs ORDER BY id").all() as Array<{ message: string }>).map((row) => row.message)
    return { integrity, completed: new Set(completed), messages }
  } finally {
    db.close()
  }
}

/** Every completed index has its outputs, with the sink's contents, and its sink's final marker. */
const expectOutputsOfCompleted = (dir: string, completed: Set<number>) => {
  for (const index of completed) {
    for (const output of outputsOf(path.join(dir, "out"), index)) expect(fs.readFileSync(output.path, "utf8")).toBe(output.contents)
    expect(fs.existsSync(markerOf(path.join(dir, "out"), index))).toBe(true)
  }
}

describe("curator run: a graceful stop on the first signal", () => {
  for (const [key, signal] of [["fibers, SIGINT", "SIGINT"], ["workers, SIGTERM", "SIGTERM"]] as const) {
    it(`${key}: finishes the indices in flight, records them and the logs, prints the summary, exits 130`, () => {
      const { result, dir } = outcomes[key]!
      expect(result.code, show(result)).toBe(130)
      expect(result.stderr).toContain(`${signal}: stopping; the indices in flight may finish for 30 s`)
      const summary = JSON.parse(result.stdout)
      const db = recorded(dir)
      expect(db.integrity).toBe("ok")
      // Every index that started finished and was recorded; none was started after the stop.
      expect([...db.completed].sort((a, b) => a - b)).toEqual([...started(path.join(dir, "out"))].sort((a, b) => a - b))
      expect(db.completed.size).toBeGreaterThan(0)
      expect(db.completed.size).toBeLessThan(N)
      expect(summary).toMatchObject({ total: N, completed: db.completed.size, failed: 0, not_run: N - db.completed.size, stopped_by: signal })
      expectOutputsOfCompleted(dir, db.completed)
      expect(db.messages).toContain("stop requested: no new index is started; those in flight finish")
      expect(db.messages.at(-1)).toBe(`run stopped: ${db.completed.size} completed (0 from the checkpoint), 0 failed, ${N - db.completed.size} not run`)
    })
  }
})

describe("curator run: stopping at once", () => {
  for (const key of ["fibers, twice", "workers, twice", "fibers, grace over"]) {
    it(`${key}: the indices in flight stay not completed, and nothing is recorded without its outputs (exit 130)`, () => {
      const { result, dir } = outcomes[key]!
      expect(result.code, show(result)).toBe(130)
      expect(result.stdout).toBe("")
      expect(result.stderr).toMatch(/interrupted; what finished is recorded in .+checkpoint\.db; run the same command again to continue/)
      const inFlight = started(path.join(dir, "out"))
      expect(inFlight.size).toBeGreaterThanOrEqual(2)
      const db = recorded(dir)
      expect(db.integrity).toBe("ok")
      expect(db.completed.size).toBe(0)
      for (const index of inFlight) expect(fs.existsSync(markerOf(path.join(dir, "out"), index))).toBe(false)
    })
  }
})

describe("curator run: the summary of a stopped run", () => {
  it("counts the indices not run and says how to continue", () => {
    const summary: Summary = {
      total: 40,
      completed: 7,
      computed: 5,
      cached: 2,
      failed: 0,
      failures: [],
      not_run: 33,
      redone: 0,
      quarantined: 0,
      budget_exceeded: null,
      stopped_by: "SIGINT",
      elapsed_s: 2.5,
      backend: "fibers",
      concurrency: 2,
      config_hash: "ab".repeat(32),
      db_path: "/data/abababababababab.db"
    }
    expect(formatSummary(summary).split("\n")).toEqual([
      "40 indices in 2.5 s on fibers (concurrency 2): 7 completed (2 from the checkpoint), 0 failed, 33 not run",
      "database: /data/abababababababab.db",
      "stopped by SIGINT: 33 indices not run; run the same command with --resume to continue"
    ])
  })

  it("gives the run's own duration, as the progress bar does, and the start-up apart", () => {
    const summary = summarize({ outcomes: [], redone: [], configHash: "ab", location: undefined } as never, {
      elapsedS: 5.7,
      startupS: 4.0,
      backend: "workers",
      concurrency: 2
    })
    expect(summary.elapsed_s).toBe(5.7)
    expect(summary.startup_s).toBe(4)
    expect(formatSummary(summary).split("\n")[0]).toBe(
      "0 indices in 5.7 s on workers (concurrency 2, after 4.0 s starting): 0 completed (0 from the checkpoint), 0 failed"
    )
  })
})

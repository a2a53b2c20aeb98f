/**
 * The commands that read a checkpoint database — status, failed, workers,
 * logs (and --follow), metrics, outputs, which — and `reset`, on one
 * database made by running the fixture pipeline whose every third index
 * fails; targets named every way (file, id prefix, module). Read-only
 * commands must leave the database file as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { snapshot, withRaw } from "../helpers.js"
import { curator, fixture, limited, makeSandbox, type Result, resultsOf, type Sandbox, show, start } from "./curator.js"

let sandbox: Sandbox
let database: string
let prefix: string
const results: Record<string, Result> = {}
let before: ReturnType<typeof snapshot>
let after: ReturnType<typeof snapshot>
let follow: { readonly code: number | null; readonly stdout: string; readonly stderr: string; readonly sawNewLine: boolean }

const failingModule = `${fixture}#failing`

/**
 * Follows the logs, appends a line to the database once the first lines are
 * printed, waits for it to be printed too, then interrupts the command.
 */
const followLogs = () =>
  new Promise<typeof follow>((resolve, reject) => {
    const child = start(["logs", prefix, "--follow", "--level", "warning"], { env: sandbox.env })
    let stdout = ""
    let stderr = ""
    let appended = false
    let sawNewLine = false
    const timer = setTimeout(() => child.kill("SIGINT"), 30_000)
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      if (!appended && stdout.includes("index 1 is odd")) {
        appended = true
        withRaw(database, (db) =>
          db.prepare(
            `INSERT INTO logs (run_id, timestamp, level, level_name, logger_name, message, worker_id, idx)
             SELECT run_id, '2030-01-01T00:00:00.000000+00:00', 30, 'WARNING', 'test', 'appended while following', NULL, NULL
             FROM pipeline_runs LIMIT 1`
          ).run())
      }
      if (!sawNewLine && stdout.includes("appended while following")) {
        sawNewLine = true
        child.kill("SIGINT")
      }
    })
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, sawNewLine })
    })
  })

beforeAll(async () => {
  sandbox = makeSandbox({ CURATOR_CLI_N: "8" })
  const made = await curator(["run", fixture, "--export", "failing", "--resume", "--concurrency", "2", "--json"], { env: sandbox.env })
  if (made.code !== 1) throw new Error(`the fixture run should fail some indices\n${show(made)}`)
  database = JSON.parse(made.stdout).db_path
  prefix = path.basename(database).slice(0, 6)
  before = snapshot(database)
  const read = (key: string, args: ReadonlyArray<string>, input?: string) => async () => {
    results[key] = await curator(args, { env: sandbox.env, input })
  }
  const metricsJson = path.join(sandbox.root, "metrics.json")
  const metricsCsv = path.join(sandbox.root, "metrics.csv")
  await limited(3, [
    read("status", ["status", prefix, "--json"]),
    read("failed", ["failed", failingModule]),
    read("failedJson", ["failed", prefix, "--json"]),
    read("workers", ["workers", database, "--json"]),
    read("logsOfIndex", ["logs", database, "--index", "2", "--json"]),
    read("noLogLines", ["logs", database, "--index", "3", "--level", "critical"]),
    read("metrics", ["metrics", prefix, "--json", metricsJson, "--csv", metricsCsv]),
    read("metricsTable", ["metrics", database, "--limit", "3"]),
    read("outputs", ["outputs", prefix, "3", "--json"]),
    read("outputsFromEnd", ["outputs", prefix, "-5", "--json"]),
    read("outputsOfFailed", ["outputs", prefix, "2"]),
    read("which", ["which", prefix, path.join(sandbox.out, "failing", "000004.json")]),
    read("moduleWithoutDatabase", ["status", fixture]),
    read("resetDeclined", ["reset", prefix, "--index", "1"], "n\n")
  ])
  after = snapshot(database)
  // These two write to the database.
  await Promise.all([
    followLogs().then((followed) => (follow = followed)),
    curator(["reset", failingModule, "--index", "2", "--yes"], { env: sandbox.env }).then((reset) => (results.reset = reset))
  ])
  // The index's failure-policy row went with it; the quarantine of every index is lifted without forgetting anything.
  results.lift = await curator(["reset", database, "--retry-quarantined"], { env: sandbox.env })
}, 300_000)

afterAll(() => sandbox?.remove())

const { ok, result } = resultsOf(results)

describe("curator status / failed / workers / logs / metrics / outputs / which", () => {
  it("status (by id prefix) summarises the database", () => {
    const summary = JSON.parse(ok("status"))
    expect(summary).toMatchObject({ total: 8, completed: 6, failed: 2, remaining: 0, errors: 2, workers: 2, db_path: database })
    expect(path.basename(database)).toBe(`${summary.config_hash.slice(0, 16)}.db`)
  })

  it("failed (by pipeline module#export) lists the failed indices with their errors", () => {
    expect(ok("failed")).toBe(
      [
        "idx  stage   class      attempts  quarantine  error",
        "---  ------  ---------  --------  ----------  ------------------------",
        "  2  Square  transient         1              BadIndex: index 2 is bad",
        "  5  Square  transient         1              BadIndex: index 5 is bad",
        ""
      ].join("\n")
    )
  })

  it("failed --json names the stage each index failed in", () => {
    expect(JSON.parse(ok("failedJson"))).toEqual([
      { index: 2, stage: "Square", error: "BadIndex: index 2 is bad", class: "transient", attempts: 1, quarantined: false },
      { index: 5, stage: "Square", error: "BadIndex: index 5 is bad", class: "transient", attempts: 1, quarantined: false }
    ])
  })

  it("workers (by file path) lists the run's workers", () => {
    const workers = JSON.parse(ok("workers"))
    expect(workers).toHaveLength(2)
    // snake_case keys and the database's timestamp format, like every JSON the command line prints.
    expect(Object.keys(workers[0]).sort()).toEqual(
      [
        "completed_count",
        "current_index",
        "hostname",
        "invocation_id",
        "items",
        "last_heartbeat",
        "pid",
        "started_at",
        "state",
        "worker_id"
      ]
    )
    expect(workers[0]).toMatchObject({ pid: expect.any(Number), current_index: null })
    expect(workers[0].started_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/)
    expect(workers.reduce((sum: number, w: { completed_count: number }) => sum + w.completed_count, 0)).toBe(6)
    expect(new Set(workers.map((w: { invocation_id: string }) => w.invocation_id)).size).toBe(1)
  })

  it("logs filters by index", () => {
    const ofIndex2 = JSON.parse(ok("logsOfIndex"))
    expect(ofIndex2.map((row: { message: string }) => row.message)).toEqual([
      "squaring 2",
      "index 2 failed: BadIndex: index 2 is bad"
    ])
    expect(ofIndex2.every((row: { index: number }) => row.index === 2)).toBe(true)
    // The failure's line is the failing stage's, like the stage's own lines.
    expect(ofIndex2.map((row: { logger_name: string }) => row.logger_name)).toEqual(["Square", "Square"])
    expect(Object.keys(ofIndex2[0]).sort()).toEqual(["id", "index", "level", "level_name", "logger_name", "message", "timestamp", "worker_id"])
  })

  it("logs says when no line matches (on stderr: a pipe gets nothing)", () => {
    const none = result("noLogLines")
    expect(none.code, show(none)).toBe(0)
    expect(none.stdout).toBe("")
    expect(none.stderr).toBe("no log lines match\n")
  })

  it("logs --level --follow prints the lines at that level and above, then new ones as they are written, until interrupted (exit 130)", () => {
    expect(follow.sawNewLine, `${follow.stdout}\n${follow.stderr}`).toBe(true)
    const lines = follow.stdout.trimEnd().split("\n")
    expect(lines).toHaveLength(4)
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARNING  \[[0-9a-f]{8} #1\] Square: index 1 is odd$/)
    expect(lines.slice(1, 3).every((line) => / ERROR    \[[0-9a-f]{8} #[25]\] Square: index [25] failed: BadIndex/.test(line))).toBe(true)
    expect(lines[3]).toBe("2030-01-01 00:00:00.000 WARNING  test: appended while following")
    expect(follow.code).toBe(130)
    expect(follow.stderr).toBe("")
  })

  it("metrics writes JSON and CSV files", () => {
    const stderr = result("metrics").stderr
    expect(ok("metrics")).toBe("")
    expect(stderr).toContain("wrote the metrics of 8 indices to")
    const json = JSON.parse(fs.readFileSync(path.join(sandbox.root, "metrics.json"), "utf8"))
    expect(json.map((row: { index: number; status: string }) => `${row.index}:${row.status}`)).toEqual([
      "0:completed", "1:completed", "2:error", "3:completed", "4:completed", "5:error", "6:completed", "7:completed"
    ])
    const csv = fs.readFileSync(path.join(sandbox.root, "metrics.csv"), "utf8").trimEnd().split("\n")
    expect(csv[0]).toMatch(/^idx,status,wall_time_ns,.*,stage_0_source_ns,stage_1_Square_ns,stage_2_sink_ns$/)
    expect(csv).toHaveLength(9)
  })

  it("metrics shows a table of the first indices and says how many are recorded", () => {
    const lines = ok("metricsTable").trimEnd().split("\n")
    expect(lines.at(-1)).toBe("(the first 3 of 8 indices; --csv or --json writes them all)")
    expect(lines.filter((line) => /^\s*[0-2]\s/.test(line))).toHaveLength(3)
  })

  it("outputs lists a completed index's files; a failed index has none (exit 1)", () => {
    expect(JSON.parse(ok("outputs"))).toEqual([path.join(sandbox.out, "failing", "000003.json")])
    // A negative index counts from the end of the configuration's 8 indices.
    expect(ok("outputsFromEnd")).toBe(ok("outputs"))
    const failed = result("outputsOfFailed")
    expect(failed.code, show(failed)).toBe(1)
    expect(failed.stderr).toBe("curator: index 2 failed (BadIndex: index 2 is bad); it has no outputs\n")
  })

  it("which tells the index that wrote a file", () => {
    expect(ok("which")).toBe("4\n")
  })

  it("a module target finds its {hash16}.db, or says to run it first (exit 2)", () => {
    const missing = result("moduleWithoutDatabase")
    expect(missing.code, show(missing)).toBe(2)
    expect(missing.stderr).toMatch(/^curator: no database of .+cliPipelines\.ts \(configuration [0-9a-f]{16}\) in .+; run it first with curator run .+cliPipelines\.ts\n$/)
  })

  it("read-only commands leave the database file untouched", () => {
    expect(after).toEqual(before)
  })
})

describe("curator reset", () => {
  it("asks first, and changes nothing when the answer is not yes", () => {
    const declined = result("resetDeclined")
    expect(declined.code, show(declined)).toBe(0)
    expect(declined.stderr).toContain(`Forget index 1 in ${database} so that the next run computes it again? [y/N] `)
    expect(declined.stderr).toContain("nothing was changed")
  })

  it("with --yes forgets one index so that the next run computes it", () => {
    expect(ok("reset")).toBe(`index 2 forgotten in ${database}\n`)
    const rows = withRaw(database, (db) => db.prepare("SELECT idx, status FROM index_results ORDER BY idx").all(), { readonly: true })
    expect(rows).toEqual([0, 1, 3, 4, 5, 6, 7].map((idx) => ({ idx, status: idx === 5 ? "error" : "completed" })))
    const attempts = withRaw(database, (db) => db.prepare("SELECT idx, failure_class FROM curator_index_attempts ORDER BY idx").all(), {
      readonly: true
    })
    // A success at its first attempt has no attempts row; the reset index's row is gone with it.
    expect(attempts).toEqual([{ idx: 5, failure_class: "transient" }])
  })

  it("--retry-quarantined lifts every quarantine and forgets nothing", () => {
    expect(ok("lift")).toBe(`0 quarantined indices lifted in ${database}; the next run computes them again\n`)
  })
})

/**
 * `curator run --resume` killed with SIGKILL in the middle, then resumed:
 * stale detection (issue 17) and quarantine (issue 18) still decide right,
 * and nothing the killed run recorded is lost. Each index's fingerprint and
 * attempts row is written in the same transaction as its record, so the
 * raw SQLite rows read right after the kill must already agree with each
 * other; the resumed runs must compute exactly the indices they should (the
 * fixture appends each computed index to a log) and leave every earlier
 * record as it was.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { nodeArgs, repoRoot } from "./cli/curatorProcess.js"

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-policy-kill-"))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))
const fixture = fileURLToPath(new URL("./fixtures/killedPolicy.ts", import.meta.url))

interface Exited {
  readonly code: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
}

/** `curator run` of one of the fixture's pipelines, in `dir`, recording into `dbFile`. */
const startRun = (dir: string, exportName: string, dbFile: string, env: Record<string, string>) => {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, PSNC_CACHE_DIR: path.join(dir, "cache"), CURATOR_KILLED_DIR: dir }
  delete childEnv.NODE_OPTIONS
  const child = spawn(
    process.execPath,
    nodeArgs(["run", fixture, "--export", exportName, "--resume", "--quiet", "--json", "--db-file", dbFile, "--concurrency", "2"]),
    { cwd: repoRoot, env: childEnv, stdio: ["ignore", "pipe", "pipe"] }
  )
  let stdout = ""
  let stderr = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const exited = new Promise<Exited>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { child, exited }
}

/** Reads the raw rows with a read-only connection; undefined while the database is not there yet. */
const readRows = <A>(dbFile: string, read: (db: Database) => A): A | undefined => {
  if (!fs.existsSync(dbFile)) return undefined
  const db = new Database(dbFile, { readonly: true, fileMustExist: true })
  try {
    return read(db)
  } catch {
    return undefined // the tables are being created
  } finally {
    db.close()
  }
}

interface ResultRow {
  readonly idx: number
  readonly status: string
  readonly completed_at: string
}

const results = (dbFile: string) =>
  readRows(dbFile, (db) => db.prepare("SELECT idx, status, completed_at FROM index_results ORDER BY idx").all() as Array<ResultRow>) ?? []

/** Kills `child` with SIGKILL once `ready` says so (polling the database), or fails if it ends first. */
const killWhen = async (started: ReturnType<typeof startRun>, ready: () => boolean) => {
  let ended: Exited | undefined
  void started.exited.then((exit) => (ended = exit))
  while (ended === undefined && !ready()) await new Promise((resolve) => setTimeout(resolve, 5))
  started.child.kill("SIGKILL")
  const exit = await started.exited
  expect(exit.signal, `the run ended before the kill: ${exit.stdout} ${exit.stderr}`).toBe("SIGKILL")
}

/** The indices the fixture computed since the log was last cleared, and clears it. */
const takeComputed = (dir: string): Array<number> => {
  const log = path.join(dir, "computed.log")
  const lines = fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter((line) => line !== "") : []
  fs.rmSync(log, { force: true })
  return lines.map(Number).sort((a, b) => a - b)
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("SIGKILL in the middle of a run, then resume", () => {
  it("stale detection: the fingerprints recorded before the kill are whole; the resume computes the unrecorded and the changed indices only", async () => {
    const dir = path.join(scratch, "stale")
    const inDir = path.join(dir, "in")
    fs.mkdirSync(inDir, { recursive: true })
    const n = 120
    const name = (i: number) => `f${String(i).padStart(4, "0")}.txt`
    for (const i of range(n)) fs.writeFileSync(path.join(inDir, name(i)), `text of ${i}`)
    const { fingerprintIn } = await import("./fixtures/killedPolicy.js")
    const fingerprintOf = (file: string) => fingerprintIn(inDir, file)
    const dbFile = path.join(dir, "checkpoint.db")
    const env = { CURATOR_KILLED_DELAY_MS: "15" }

    // Killed once a few batches are recorded, well before the end.
    await killWhen(startRun(dir, "staleKilled", dbFile, env), () => results(dbFile).length >= 20)
    const recorded = results(dbFile)
    expect(recorded.length).toBeLessThan(n)
    expect(recorded.every((row) => row.status === "completed")).toBe(true)
    // Every record came with its fingerprint (same transaction), and it is the file's.
    const inputs = new Map(
      readRows(dbFile, (db) => db.prepare("SELECT idx, fingerprint FROM curator_index_inputs").all() as Array<{ idx: number; fingerprint: string }>)!
        .map((row) => [row.idx, row.fingerprint])
    )
    expect([...inputs.keys()].sort((a, b) => a - b)).toEqual(recorded.map((row) => row.idx))
    for (const row of recorded) expect(inputs.get(row.idx)).toBe(fingerprintOf(name(row.idx)))
    takeComputed(dir)

    // Two recorded inputs change, and two not yet recorded.
    const done = recorded.map((row) => row.idx)
    const notDone = range(n).filter((i) => !done.includes(i))
    const changed = [done[0]!, done[done.length - 1]!, notDone[0]!, notDone[notDone.length - 1]!]
    for (const i of changed) fs.writeFileSync(path.join(inDir, name(i)), `the changed, longer text of ${i}`)

    const resumed = await startRun(dir, "staleKilled", dbFile, env).exited
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ total: n, completed: n, failed: 0, redone: 2 })
    // Exactly the unrecorded indices and the two changed recorded ones, each once.
    expect(takeComputed(dir)).toEqual([...notDone, done[0]!, done[done.length - 1]!].sort((a, b) => a - b))
    const after = results(dbFile)
    expect(after.map((row) => row.idx)).toEqual(range(n))
    // The unchanged records of the killed run are kept as they were.
    const before = new Map(recorded.map((row) => [row.idx, row.completed_at]))
    for (const row of after) {
      if (before.has(row.idx) && !changed.includes(row.idx)) expect(row.completed_at).toBe(before.get(row.idx))
    }
    const fingerprints = readRows(dbFile, (db) =>
      db.prepare("SELECT idx, fingerprint FROM curator_index_inputs ORDER BY idx").all() as Array<{ idx: number; fingerprint: string }>)!
    expect(fingerprints.map((row) => row.fingerprint)).toEqual(range(n).map((i) => fingerprintOf(name(i))))
  }, 180_000)

  it("quarantine: failures recorded before the kill count once; quarantined after exactly 2 runs of each index", async () => {
    const dir = path.join(scratch, "quarantine")
    fs.mkdirSync(dir, { recursive: true })
    const n = 60
    const failing = range(n).filter((i) => i % 10 === 3)
    const dbFile = path.join(dir, "checkpoint.db")
    const env = { CURATOR_KILLED_DELAY_MS: "15", CURATOR_KILLED_N: String(n) }
    interface AttemptRow {
      readonly idx: number
      readonly failure_class: string | null
      readonly permanent_failures: number
    }
    const attempts = () =>
      new Map(
        (readRows(dbFile, (db) =>
          db.prepare("SELECT idx, failure_class, permanent_failures FROM curator_index_attempts").all() as Array<AttemptRow>) ?? [])
          .map((row) => [row.idx, row])
      )
    const failedIn = (rows: ReadonlyArray<ResultRow>) => rows.filter((row) => row.status === "error").map((row) => row.idx)

    // Killed once a failure is recorded, well before the end.
    await killWhen(startRun(dir, "quarantineKilled", dbFile, env), () => {
      const rows = results(dbFile)
      return failedIn(rows).length >= 1 && rows.length >= 15
    })
    const first = results(dbFile)
    expect(first.length).toBeLessThan(n)
    const failedFirst = failedIn(first)
    expect(failedFirst.length).toBeGreaterThan(0)
    expect(failedFirst.length).toBeLessThan(failing.length)
    // Each recorded failure has its attempts row: permanent, one run.
    for (const idx of failedFirst) expect(attempts().get(idx)).toMatchObject({ failure_class: "permanent", permanent_failures: 1 })
    takeComputed(dir)

    // The resume: what was not recorded, and the recorded failures again (not quarantined yet).
    const second = await startRun(dir, "quarantineKilled", dbFile, env).exited
    expect(second.code, second.stderr).toBe(1)
    expect(JSON.parse(second.stdout)).toMatchObject({ total: n, failed: failing.length, quarantined: 0 })
    const completedFirst = first.filter((row) => row.status === "completed").map((row) => row.idx)
    expect(takeComputed(dir)).toEqual(range(n).filter((i) => !completedFirst.includes(i)))
    const afterSecond = attempts()
    for (const idx of failing) {
      expect(afterSecond.get(idx)).toMatchObject({ failure_class: "permanent", permanent_failures: failedFirst.includes(idx) ? 2 : 1 })
    }
    // Nothing the killed run recorded was lost: its successes are as they were.
    const secondRows = new Map(results(dbFile).map((row) => [row.idx, row]))
    expect(secondRows.size).toBe(n)
    for (const row of first) if (row.status === "completed") expect(secondRows.get(row.idx)).toEqual(row)

    // The third run skips the indices quarantined after their second failure and computes the others' second.
    const third = await startRun(dir, "quarantineKilled", dbFile, env).exited
    expect(third.code, third.stderr).toBe(1)
    expect(JSON.parse(third.stdout)).toMatchObject({ failed: failing.length, quarantined: failedFirst.length })
    expect(takeComputed(dir)).toEqual(failing.filter((i) => !failedFirst.includes(i)))
    const afterThird = attempts()
    for (const idx of failing) expect(afterThird.get(idx)).toMatchObject({ permanent_failures: 2 })
  }, 180_000)
})

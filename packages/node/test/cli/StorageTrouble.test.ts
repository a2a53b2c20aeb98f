/**
 * A checkpoint database the user must do something about, met by `curator`
 * on real files: a damaged (truncated) file, a WAL database in a folder
 * that cannot be written, a disk that fills up during a run. Each ends with
 * exit 2 and one line saying what happened and what to do; none changes the
 * file, and nothing already recorded is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { snapshot } from "../helpers.js"
import { curator, fixture, makeSandbox, type Result, type Sandbox, show } from "./curator.js"

let sandbox: Sandbox
const file = (...names: Array<string>) => path.join(sandbox.root, ...names)
const env = (n: number) => ({ ...sandbox.env, CURATOR_CLI_N: String(n) })

/** Each test starts `curator` processes, which take seconds on a busy 2-core machine. */
const processes = 180_000

const expectUsage = (result: Result, message: RegExp) => {
  expect(result.code, show(result)).toBe(2)
  expect(result.stderr).toMatch(message)
  expect(result.stderr.trim().split("\n"), show(result)).toHaveLength(1)
}

const countRecorded = (db: string) => {
  const raw = new Database(db, { readonly: true, fileMustExist: true })
  try {
    return (raw.prepare("SELECT COUNT(*) AS n FROM index_results").get() as { n: number }).n
  } finally {
    raw.close()
  }
}

/**
 * Makes a folder refuse new files. Tests run as root, whom permissions do not
 * stop: then the folder is made immutable (`chattr +i`). False when neither works.
 */
const makeReadOnly = (dir: string): boolean => {
  fs.chmodSync(dir, 0o555)
  const writable = () => {
    try {
      fs.writeFileSync(path.join(dir, "probe"), "")
      fs.rmSync(path.join(dir, "probe"))
      return true
    } catch {
      return false
    }
  }
  if (!writable()) return true
  spawnSync("chattr", ["+i", dir])
  return !writable()
}

let readOnlyWorks = false
let fullDiskMounted = false

beforeAll(async () => {
  sandbox = makeSandbox()
  fs.mkdirSync(file("read-only"))
  fs.mkdirSync(file("full"))
  const runs = await Promise.all([
    curator(["run", fixture, "--db-file", file("whole.db"), "--quiet"], { env: env(200) }),
    curator(["run", fixture, "--db-file", file("read-only", "wal.db"), "--quiet"], { env: env(30) })
  ])
  for (const run of runs) expect(run.code, show(run)).toBe(0)
  // Half of a database, as a copy cut short leaves it.
  const whole = fs.readFileSync(file("whole.db"))
  fs.writeFileSync(file("damaged.db"), whole.subarray(0, Math.floor(whole.length / 2)))
  readOnlyWorks = makeReadOnly(file("read-only"))
  // A disk that fills up: a small tmpfs (root only).
  fullDiskMounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", file("full")]).status === 0
}, processes)

afterAll(() => {
  if (sandbox === undefined) return
  spawnSync("chattr", ["-i", file("read-only")])
  fs.chmodSync(file("read-only"), 0o755)
  if (fullDiskMounted) spawnSync("umount", [file("full")])
  sandbox.remove()
}, 60_000)

describe("a damaged database", () => {
  it("run and the read commands say it is damaged and left untouched, exit 2, and never change it", async () => {
    const damaged = file("damaged.db")
    const before = snapshot(damaged)
    const message = /^curator: .+damaged\.db is damaged \(database disk image is malformed\); it was left untouched\. Restore it from a copy, or move it aside and run again to start afresh\n$/
    for (const args of [["status", damaged], ["failed", damaged], ["run", fixture, "--db-file", damaged, "--quiet"]]) {
      expectUsage(await curator(args, { env: env(200) }), message)
    }
    expect(snapshot(damaged)).toEqual(before)
  }, processes)
})

describe("a WAL database in a folder that cannot be written", () => {
  it("status reads it", async (context) => {
    if (!readOnlyWorks) context.skip("cannot make a read-only folder here (neither permissions nor chattr +i stop this user)")
    const result = await curator(["status", file("read-only", "wal.db"), "--json"], { env: env(30) })
    expect(result.code, show(result)).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ total: 30, completed: 30, failed: 0 })
    expect(fs.readdirSync(file("read-only"))).toEqual(["wal.db"])
  }, processes)

  it("run says the folder is read-only and what to do, exit 2, and changes nothing", async (context) => {
    if (!readOnlyWorks) context.skip("cannot make a read-only folder here (neither permissions nor chattr +i stop this user)")
    const db = file("read-only", "wal.db")
    const before = snapshot(db)
    expectUsage(
      await curator(["run", fixture, "--db-file", db, "--resume", "--quiet"], { env: env(30) }),
      /^curator: cannot write .+read-only\/wal\.db: its folder .+read-only \(or the file\) is read-only \(.+\); make it writable, or copy the database to a writable folder and use the copy \(dbFile\)\n$/
    )
    expect(snapshot(db)).toEqual(before)
  }, processes)
})

describe("a disk that fills up during a run", () => {
  it("says the disk is full, where, how many indices are recorded, and how to resume; resuming after freeing space completes the run", async (context) => {
    if (!fullDiskMounted) context.skip("cannot mount a small tmpfs here (needs root)")
    const db = file("full", "checkpoint.db")
    const result = await curator(["run", fixture, "--db-file", db, "--quiet"], { env: env(3000) })
    expectUsage(
      result,
      /^curator: the disk holding .+\/full is full: \d+ indices are recorded in .+checkpoint\.db; free some space there, then run it again with --resume --db-file .+checkpoint\.db to continue\n$/
    )
    const said = Number(/: (\d+) indices are recorded/.exec(result.stderr)![1])
    expect(said).toBe(countRecorded(db))

    // Free space (a larger filesystem), then the command the message gives.
    expect(spawnSync("mount", ["-o", "remount,size=16m", file("full")]).status).toBe(0)
    const resumed = await curator(["run", fixture, "--db-file", db, "--resume", "--quiet", "--json"], { env: env(3000) })
    expect(resumed.code, show(resumed)).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ total: 3000, completed: 3000, cached: said, failed: 0 })
  }, processes)
})

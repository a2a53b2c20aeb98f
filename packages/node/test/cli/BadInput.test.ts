/**
 * Bad input to `curator run` that earlier tests (Run.test.ts, Cache.test.ts)
 * do not cover: each is an error (exit 2) with one line that says what is
 * wrong and what to do, and none deletes or changes a file that was there.
 * The processes are started together in `beforeAll`; each test reads its
 * own result.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Either } from "effect"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseIndices } from "../../src/cli/commands/Run.js"
import { curator, fixture, limited, makeSandbox, type Result, type Sandbox, show } from "./curator.js"

const badParams = path.resolve(import.meta.dirname, "../fixtures/badParams.ts")

let sandbox: Sandbox
const results: Record<string, Result> = {}
/** Every file under the sandbox's inputs, with the SHA-256 of its contents, before the runs. */
let filesBefore: Record<string, string> = {}
/** Whether the read-only directory really refuses writes (root ignores permissions unless the directory is immutable). */
let readOnlyWorks = false

const inputs = () => path.join(sandbox.root, "inputs")
const input = (name: string) => path.join(inputs(), name)

/** Every file under a directory, with the SHA-256 of its contents. */
const snapshot = (dir: string): Record<string, string> => {
  const files: Record<string, string> = {}
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name)
    if (entry.isFile()) files[path.relative(dir, file)] = createHash("sha256").update(fs.readFileSync(file)).digest("hex")
  }
  return files
}

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

beforeAll(async () => {
  sandbox = makeSandbox({ CURATOR_CLI_N: "8" })
  fs.mkdirSync(inputs())
  fs.mkdirSync(input("a-directory.db"))
  fs.writeFileSync(input("notes.db"), "these are my notes, not a database\n")
  const foreign = new Database(input("foreign.db"))
  foreign.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada')")
  foreign.close()
  // A checkpoint written by a later Curator: our tables, and a migration this version does not know.
  const newer = new Database(input("newer.db"))
  newer.exec(`CREATE TABLE curator_migrations (migration_id INTEGER PRIMARY KEY, created_at TEXT, name TEXT);
    INSERT INTO curator_migrations VALUES (1, '2026-01-01', 'seven_tables'), (99, '2027-01-01', 'from_the_future');
    CREATE TABLE pipeline_runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, config_hash TEXT UNIQUE NOT NULL,
      config_json TEXT NOT NULL, started_at TEXT NOT NULL, run_dir TEXT, total_indices INTEGER)`)
  newer.close()
  fs.mkdirSync(input("read-only"))
  readOnlyWorks = makeReadOnly(input("read-only"))
  filesBefore = snapshot(inputs())

  const run = (key: string, args: ReadonlyArray<string>, module = fixture) => async () => {
    results[key] = await curator(["run", module, ...args], { env: sandbox.env })
  }
  await limited(3, [
    run("a database path that is a directory", ["--db-file", input("a-directory.db")]),
    run("a file that is not SQLite", ["--db-file", input("notes.db")]),
    run("a database of something else", ["--db-file", input("foreign.db")]),
    run("a database of a newer schema", ["--db-file", input("newer.db")]),
    run("a read-only directory", ["--db-dir", input("read-only")]),
    run("params that are not JSON", [], badParams),
    run("an export that is not a pipeline", ["--export", "notAPipeline"]),
    run("a concurrency of 0", ["--concurrency", "0"]),
    run("a fractional concurrency", ["--concurrency", "2.5"]),
    run("a concurrency that is not a number", ["--concurrency", "many"]),
    run("a non-integer index", ["--indices", "1.5"]),
    run("a duplicated index", ["--indices", "0-3,2"]),
    run("a malformed range", ["--indices", "2-"]),
    run("a negative grace", ["--grace", "-1"])
  ])
}, 300_000)

afterAll(() => {
  if (sandbox === undefined) return
  spawnSync("chattr", ["-i", input("read-only")])
  fs.chmodSync(input("read-only"), 0o755)
  sandbox.remove()
})

const expectUsage = (key: string, message: RegExp) => {
  const found = results[key]
  if (found === undefined) throw new Error(`no result for ${key}`)
  expect(found.code, show(found)).toBe(2)
  expect(found.stderr).toMatch(message)
  expect(found.stderr.trim().split("\n")).toHaveLength(1)
  expect(found.stdout).toBe("")
}

describe("curator run: bad input exits 2 with one line saying what to do", () => {
  it("a database path that is a directory", () =>
    expectUsage(
      "a database path that is a directory",
      /^curator: .+a-directory\.db is a directory; give a database file path \(or use dbDir for a directory\)\n$/
    ))
  it("a file that is not SQLite", () =>
    expectUsage(
      "a file that is not SQLite",
      /^curator: .+notes\.db is not a SQLite database; it was left untouched. Choose another dbFile or dbDir\n$/
    ))
  it("a database of something else", () =>
    expectUsage(
      "a database of something else",
      /^curator: .+foreign\.db is a database of something else \(tables: users\); choose another dbFile or dbDir for Curator\n$/
    ))
  it("a database of a newer schema", () =>
    expectUsage(
      "a database of a newer schema",
      /^curator: .+newer\.db was written by a newer version of Curator \(schema 99, this version knows \d+\); upgrade Curator to use it\n$/
    ))
  it.skipIf(process.platform === "win32")("a read-only directory", (context) => {
    if (!readOnlyWorks) context.skip("this user can write to any directory (root without chattr); cannot make one read-only")
    expectUsage(
      "a read-only directory",
      /^curator: cannot create .+read-only\/[0-9a-f]{16}_\d+\.db: its folder .+read-only is read-only \(.+\); make it writable or choose another dbDir\n$/
    )
  })
  it("params that are not JSON", () =>
    expectUsage(
      "params that are not JSON",
      /^curator: importing .+badParams\.ts failed: Numbers: params\.normalise is a function; params must be plain JSON \(null, booleans, finite numbers, strings, arrays and plain objects\)\n$/
    ))
  it("an export that is not a pipeline", () =>
    expectUsage(
      "an export that is not a pipeline",
      /^curator: the export "notAPipeline" of .+cliPipelines\.ts is not a pipeline \(it is number\); export the value built by Pipeline\.write\n$/
    ))
  for (const [key, text] of [["a concurrency of 0", "0"], ["a fractional concurrency", "2.5"], ["a concurrency that is not a number", "many"]] as const) {
    it(key, () => expectUsage(key, new RegExp(`^curator: --concurrency must be a positive integer or "all", got "${text}"\\n$`)))
  }
  it("a non-integer index", () =>
    expectUsage("a non-integer index", /^curator: --indices: cannot read "1\.5" in "1\.5" as an index or a range; write indices like 0-9,15,-1\n$/))
  it("a duplicated index", () =>
    expectUsage("a duplicated index", /^curator: indices repeated: 2; list each index once\n$/))
  it("a malformed range", () =>
    expectUsage("a malformed range", /^curator: --indices: cannot read "2-" in "2-" as an index or a range; write indices like 0-9,15,-1\n$/))
  it("a negative grace", () =>
    expectUsage("a negative grace", /^curator: --grace must be a number of seconds, 0 or more, got -1\n$/))

  it("reads no other malformed range as indices", () => {
    for (const text of ["-", "1-2-3", "1--2", "a-b", "", "0-3,,4"]) {
      expect(Either.isLeft(parseIndices(text)), text).toBe(true)
    }
  })

  it("no bad input deleted, changed or added a file where it pointed", () => {
    expect(snapshot(inputs())).toEqual(filesBefore)
    expect(fs.readdirSync(input("a-directory.db"))).toEqual([])
  })
})

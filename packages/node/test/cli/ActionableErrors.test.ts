/**
 * Messages of the read commands (and `run`'s hints) that a user acts on:
 * an index outside the configuration is refused (exit 2) instead of being
 * "forgotten"; a database holding two configurations shows the
 * `file.db#hash` form that picks one, and `run`'s hint uses it; advice fits
 * the command given; a reader that closes the pipe early ends the output
 * quietly; a TypeScript module loaded as CommonJS says what to change.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { curator, fixture, makeSandbox, nodeArgs, repoRoot, type Result, type Sandbox, show } from "./curator.js"

let sandbox: Sandbox
const db = (name: string) => path.join(sandbox.root, name)
const env = (n: number) => ({ ...sandbox.env, CURATOR_CLI_N: String(n) })
const hash16 = (file: string, exportName: string) =>
  withDb(file, (raw) =>
    (raw.prepare("SELECT config_hash FROM pipeline_runs WHERE config_json LIKE ?").get(`%"name":"${exportName}"%`) as {
      config_hash: string
    }).config_hash.slice(0, 16))

const withDb = <A>(file: string, f: (raw: Database) => A): A => {
  const raw = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return f(raw)
  } finally {
    raw.close()
  }
}

const recordedIndices = (file: string) =>
  withDb(file, (raw) => (raw.prepare("SELECT idx FROM index_results ORDER BY idx").all() as Array<{ idx: number }>).map((r) => r.idx))

let failingRun: Result
let commonJsDir: string

beforeAll(async () => {
  sandbox = makeSandbox()
  const runs = await Promise.all([
    curator(["run", fixture, "--db-file", db("thirty.db"), "--quiet"], { env: env(30) }),
    curator(["run", fixture, "--db-file", db("many-logs.db"), "--quiet"], { env: env(3000) })
  ])
  for (const run of runs) expect(run.code, show(run)).toBe(0)
  // Two configurations in one file: `pipeline` and `failing` (13 of whose 40 indices fail).
  const shared = await curator(["run", fixture, "--db-file", db("shared.db"), "--quiet"], { env: env(40) })
  expect(shared.code, show(shared)).toBe(0)
  failingRun = await curator(["run", fixture, "--export", "failing", "--db-file", db("shared.db"), "--quiet"], { env: env(40) })
  fs.writeFileSync(db("table.csv"), "index,square\n0,0\n1,1\n")
  const foreign = new Database(db("foreign.db"))
  foreign.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
  foreign.close()
  // A folder of the repository (so that @curator/core resolves) whose package.json has no "type": "module".
  commonJsDir = fs.mkdtempSync(path.join(repoRoot, "packages/node/test/fixtures/.commonjs-"))
  fs.writeFileSync(path.join(commonJsDir, "package.json"), JSON.stringify({ name: "commonjs-pipelines" }))
  fs.writeFileSync(
    path.join(commonJsDir, "squares.ts"),
    `import { Filter, Pipeline, Sink, Source } from "@curator/core"
export const pipeline = Pipeline.from(Source.fromArray("Numbers", [1, 2, 3])).pipe(
  Pipeline.filter(Filter.map({ name: "Square", f: (n: number) => n * n })),
  Pipeline.write(Sink.drain({ name: "Collect", pathOf: (i) => [\`/out/\${i}.json\`] }))
)
`
  )
}, 180_000)

afterAll(() => {
  if (commonJsDir !== undefined) fs.rmSync(commonJsDir, { recursive: true, force: true })
  sandbox?.remove()
}, 60_000)

/** Each test starts `curator` processes, which take seconds on a busy 2-core machine. */
const processes = 120_000

const expectUsage = (result: Result, message: RegExp) => {
  expect(result.code, show(result)).toBe(2)
  expect(result.stderr).toMatch(message)
  expect(result.stderr.trim().split("\n"), show(result)).toHaveLength(1)
}

describe("an index outside the configuration is refused, not forgotten", () => {
  it("reset --index 99 on 30 indices exits 2 and changes nothing", async () => {
    const before = recordedIndices(db("thirty.db"))
    expectUsage(
      await curator(["reset", db("thirty.db"), "--index", "99", "-y"], { env: env(30) }),
      /^curator: --index: indices out of range for a source of length 30: 99 \(valid: 0\.\.29, or -30\.\.-1 from the end\) in .+thirty\.db\n$/
    )
    expectUsage(
      await curator(["reset", db("thirty.db"), "--index", "-31", "-y"], { env: env(30) }),
      /^curator: --index: indices out of range for a source of length 30: -31 /
    )
    expect(recordedIndices(db("thirty.db"))).toEqual(before)
  }, processes)

  it("reset --index -1 forgets the last index, as --indices counts from the end", async () => {
    const result = await curator(["reset", db("thirty.db"), "--index", "-1", "-y"], { env: env(30) })
    expect(result.code, show(result)).toBe(0)
    expect(result.stdout).toMatch(/^index 29 forgotten in .+thirty\.db\n$/)
    expect(recordedIndices(db("thirty.db"))).toEqual(Array.from({ length: 29 }, (_, i) => i))
  }, processes)

  it("outputs of index 99 is out of range (exit 2), not 'not completed'", async () => {
    expectUsage(
      await curator(["outputs", db("thirty.db"), "99"], { env: env(30) }),
      /^curator: index: indices out of range for a source of length 30: 99 /
    )
  }, processes)
})

describe("a database holding two configurations", () => {
  it("status shows the file.db#hash form of each, and that form opens one", async () => {
    const file = db("shared.db")
    const [pipeline, failing] = [hash16(file, "pipeline"), hash16(file, "failing")]
    const result = await curator(["status", file], { env: env(40) })
    expectUsage(result, new RegExp(`holds 2 configurations; say which by its hash: .+shared\\.db#${pipeline} or .+shared\\.db#${failing}\\n$`))
    const picked = await curator(["status", `${file}#${failing}`, "--json"], { env: env(40) })
    expect(picked.code, show(picked)).toBe(0)
    expect(JSON.parse(picked.stdout)).toMatchObject({ total: 40, failed: 13, completed: 27 })
  }, processes)

  it("the end-of-run hint names the configuration, and the command it gives works", async () => {
    expect(failingRun.code, show(failingRun)).toBe(1)
    const hint = /see curator failed (\S+)\n/.exec(failingRun.stdout)
    expect(hint, show(failingRun)).not.toBeNull()
    expect(hint![1]).toBe(`${db("shared.db")}#${hash16(db("shared.db"), "failing")}`)
    const failed = await curator(["failed", hint![1]!, "--json"], { env: env(40) })
    expect(failed.code, show(failed)).toBe(0)
    expect(JSON.parse(failed.stdout)).toHaveLength(13)
  }, processes)
})

describe("advice fits the command", () => {
  it("status of a CSV file or of another program's database: no advice about run's options", async () => {
    const cases = [["table.csv", "is not a SQLite database"], ["foreign.db", "is not a Curator checkpoint database"]] as const
    for (const [name, what] of cases) {
      const result = await curator(["status", db(name)], { env: env(30) })
      expectUsage(result, new RegExp(`^curator: .+${name.replace(".", "\\.")} ${what}.*; it was left untouched\\. Give the path of a Curator checkpoint database\\n$`))
      expect(result.stderr).not.toMatch(/dbFile|dbDir/)
    }
  }, processes)
})

describe("a reader that closes the pipe early", () => {
  it("curator logs --json | head: the output ends quietly, exit 0, no EPIPE stack", async () => {
    const child = spawn(process.execPath, nodeArgs(["logs", db("many-logs.db"), "--json"]), {
      cwd: repoRoot,
      env: { ...process.env, ...env(3000) },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    let received = 0
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    // Like `head`: read the first chunk, then close the pipe while the command still has megabytes to write.
    child.stdout.once("data", (chunk: Buffer) => {
      received = chunk.length
      child.stdout.destroy()
    })
    const code = await new Promise<number | null>((resolve) => child.on("close", (exitCode) => resolve(exitCode)))
    expect(received).toBeGreaterThan(0)
    expect(stderr).toBe("")
    expect(code).toBe(0)
  }, processes)
})

describe("a TypeScript module loaded as CommonJS", () => {
  it("says to add \"type\": \"module\" to its package.json or rename it to .mts, and that fix works", async () => {
    const module = path.join(commonJsDir, "squares.ts")
    const result = await curator(["run", module, "--quiet"], { env: env(3) })
    expectUsage(
      result,
      new RegExp(
        `^curator: importing .+squares\\.ts failed: Node loaded it as CommonJS, where it cannot import ES modules \\(\\w+\\)\\. ` +
          `Add "type": "module" to ${path.join(commonJsDir, "package.json").replaceAll(".", "\\.")}, or rename the module to .+squares\\.mts\\n$`
      )
    )
    fs.writeFileSync(path.join(commonJsDir, "package.json"), JSON.stringify({ name: "commonjs-pipelines", type: "module" }))
    const fixed = await curator(["run", module, "--quiet", "--no-metrics"], { env: env(3) })
    expect(fixed.code, show(fixed)).toBe(0)
  }, processes)
})

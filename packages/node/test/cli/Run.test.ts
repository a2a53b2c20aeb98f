/**
 * `curator run`: running a pipeline module with the options of the command
 * line, its summary and exit codes, and every kind of bad usage (exit 2 with
 * the reason). The processes are started together in `beforeAll` and each
 * test reads its own result.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseConcurrency, parseIndices } from "../../src/cli/commands/Run.js"
import { curator, databases, fixture, limited, makeSandbox, type Result, resultsOf, type Sandbox, show } from "./curator.js"

let sandbox: Sandbox
const results: Record<string, Result> = {}
let databasesAfterNoMetrics: Array<string> = []

const badUsage = {
  "an unknown backend": ["--backend", "threads"],
  "a negative concurrency": ["--concurrency", "-1"],
  "malformed --indices": ["--indices", "0-3,x"],
  "indices out of range": ["--indices", "0-3,8"],
  "a missing export": ["--export", "nope"]
} as const

beforeAll(async () => {
  sandbox = makeSandbox({ CURATOR_CLI_N: "8" })
  const run = (key: string, args: ReadonlyArray<string>) => async () => {
    results[key] = await curator(["run", fixture, ...args], { env: sandbox.env })
  }
  await limited(3, [
    // Slowest first: the worker threads each load the pipeline module.
    run("workers", ["--backend", "workers", "--export", "failing", "--concurrency", "2", "--quiet"]),
    async () => {
      await run("fresh", ["--resume", "--json"])()
      await run("resumed", ["--resume", "--json"])()
      await run("noMetrics", ["--no-metrics", "--backend", "sequential", "--indices", "0-2,-1", "--json"])()
      databasesAfterNoMetrics = databases(sandbox.cache)
    },
    run("failing", ["--export", "failing", "--concurrency", "2"]),
    run("failFast", ["--export", "failing", "--fail-fast", "--backend", "sequential", "--quiet"]),
    async () => {
      results["missing module"] = await curator(["run", path.join(sandbox.root, "missing.ts")], { env: sandbox.env })
    },
    ...Object.entries(badUsage).map(([key, args]) => run(key, args))
  ])
}, 120_000)

afterAll(() => sandbox?.remove())

const { result } = resultsOf(results)

describe("curator run", () => {
  it("runs every index, writes the sink's files, records them, and prints a JSON summary (exit 0)", () => {
    const fresh = result("fresh")
    expect(fresh.code, show(fresh)).toBe(0)
    const summary = JSON.parse(fresh.stdout)
    expect(summary).toMatchObject({ total: 8, completed: 8, computed: 8, cached: 0, failed: 0, failures: [], backend: "fibers", concurrency: 1 })
    expect(summary.db_path).toBe(path.join(sandbox.cache, `${summary.config_hash.slice(0, 16)}.db`))
    expect(fs.existsSync(summary.db_path)).toBe(true)
    expect(fs.readdirSync(path.join(sandbox.out, "pipeline")).sort()).toEqual(
      Array.from({ length: 8 }, (_, i) => `${String(i).padStart(6, "0")}.json`)
    )
    expect(JSON.parse(fs.readFileSync(path.join(sandbox.out, "pipeline", "000003.json"), "utf8"))).toEqual([{ index: 3, square: 9 }])
  })

  it("with --resume, takes completed indices from the checkpoint", () => {
    const resumed = result("resumed")
    expect(resumed.code, show(resumed)).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ total: 8, completed: 8, computed: 0, cached: 8, failed: 0 })
  })

  it("with --no-metrics records nothing, and --indices selects indices (negative from the end)", () => {
    const noMetrics = result("noMetrics")
    expect(noMetrics.code, show(noMetrics)).toBe(0)
    expect(JSON.parse(noMetrics.stdout)).toMatchObject({ total: 4, completed: 4, computed: 4, db_path: null, backend: "sequential" })
    // The pipeline's only database is the one of --resume: the run without metrics added none.
    const hash16 = JSON.parse(result("fresh").stdout).config_hash.slice(0, 16)
    expect(databasesAfterNoMetrics.filter((name) => name.startsWith(hash16))).toEqual([`${hash16}.db`])
  })

  it("exits 1 when some indices fail, listing them under the summary", () => {
    const failing = result("failing")
    expect(failing.code, show(failing)).toBe(1)
    expect(failing.stdout).toMatch(/^8 indices in .+ on fibers \(concurrency 2(, after \d+\.\d s starting)?\): 6 completed \(0 from the checkpoint\), 2 failed$/m)
    expect(failing.stdout).toMatch(/^database: .+\/[0-9a-f]{16}_\d+\.db$/m)
    expect(failing.stdout).toContain("  2  BadIndex: index 2 is bad\n  5  BadIndex: index 5 is bad")
    expect(failing.stderr).toBe("")
  })

  it("with --fail-fast stops at the first failed index, exit 1, saying so on one line", () => {
    const failFast = result("failFast")
    expect(failFast.code, show(failFast)).toBe(1)
    expect(failFast.stderr.trim()).toBe("curator: index 2 failed: BadIndex: index 2 is bad; stopped there (--fail-fast)")
  })

  it("runs on worker threads with --backend workers", () => {
    const workers = result("workers")
    expect(workers.code, show(workers)).toBe(1)
    // Starting the threads is counted apart from the run's own duration (the progress bar's).
    expect(workers.stdout).toMatch(/8 indices in .+ on workers \(concurrency 2(, after \d+\.\d s starting)?\): 6 completed \(0 from the checkpoint\), 2 failed/)
  })
})

describe("curator run: bad usage exits 2 with one line saying what is wrong", () => {
  const expectUsage = (key: string, message: RegExp) => {
    const found = result(key)
    expect(found.code, show(found)).toBe(2)
    expect(found.stderr).toMatch(message)
    expect(found.stderr).not.toMatch(/\n\s+at /)
    expect(found.stdout).toBe("")
  }

  it("an unknown backend", () => expectUsage("an unknown backend", /sequential, fibers, workers/))
  it("a negative concurrency", () =>
    expectUsage("a negative concurrency", /^curator: --concurrency must be a positive integer or "all", got "-1"\n$/))
  it("malformed --indices", () =>
    expectUsage("malformed --indices", /^curator: --indices: cannot read "x" in "0-3,x" as an index or a range; write indices like 0-9,15,-1\n$/))
  it("indices out of range", () =>
    expectUsage("indices out of range", /^curator: indices out of range for a source of length 8: 8 \(valid: 0\.\.7, or -8\.\.-1 from the end\)\n$/))
  it("a missing module", () => expectUsage("missing module", /^curator: the pipeline module .+missing\.ts does not exist; check the path\n$/))
  it("a missing export", () => expectUsage("a missing export", /^curator: .+cliPipelines\.ts has no export "nope"; its pipeline exports are: failing, pipeline, trivial; choose one with --export NAME \(e\.g\. --export failing; as a target: .+#failing\)\n$/))

  it("reads --concurrency as a positive integer or all, and nothing else", () => {
    expect(parseConcurrency("4")).toEqual(Either.right(4))
    expect(parseConcurrency("all")).toEqual(Either.right("all"))
    for (const text of ["0", "-1", "1.5", "abc", "", "1e3"]) {
      const parsed = parseConcurrency(text)
      expect(Either.isLeft(parsed) && parsed.left.reason === "Usage" && parsed.left.message, text).toBe(
        `--concurrency must be a positive integer or "all", got "${text}"`
      )
    }
  })

  it("reads --indices as indices and inclusive ranges", () => {
    expect(parseIndices("0-3,7,-1")).toEqual(Either.right([0, 1, 2, 3, 7, -1]))
    const backwards = parseIndices("5-2")
    expect(Either.isLeft(backwards) && backwards.left.message).toBe(`--indices: the range "5-2" runs backwards; write it as 2-5`)
  })
})

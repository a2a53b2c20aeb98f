/**
 * `curator plan`, `verify`, `gc` and `diff` on one checkpoint whose outputs were
 * tampered with after a run measured them (`--verify content`): one output
 * removed, one rewritten, a stray file and an interrupted write's
 * temporary file beside them. The plan names the two stale indices and
 * why, `verify` lists all four kinds, `gc` removes only the unclaimed
 * files, and the next run computes exactly the stale indices after
 * printing the plan's counts.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { curator, fixture, makeSandbox, type Result, type Sandbox, show } from "./curator.js"

let sandbox: Sandbox
const results: Record<string, Result> = {}
const output = (index: number) => path.join(sandbox.out, "pipeline", `00000${index}.json`)
const stray = () => path.join(sandbox.out, "pipeline", "stray.json")
const temporary = () => path.join(sandbox.out, "pipeline", "000004.json.999999.abc.tmp")

beforeAll(async () => {
  sandbox = makeSandbox({ CURATOR_CLI_N: "6" })
  const cli = (...args: Array<string>) => curator(args, { env: sandbox.env })
  const first = await cli("run", fixture, "--resume", "--quiet", "--verify", "content")
  if (first.code !== 0) throw new Error(show(first))
  fs.rmSync(output(1))
  fs.writeFileSync(output(3), fs.readFileSync(output(3), "utf8").replace("9", "8")) // same size, other bytes
  fs.writeFileSync(stray(), "{}")
  fs.writeFileSync(temporary(), "half")
  results.plan = await cli("plan", fixture, "--verify", "content")
  results.explain = await cli("plan", fixture, "--verify", "content", "--explain", "-3", "--json")
  results.verify = await cli("verify", fixture, "--json")
  results.gc = await cli("gc", fixture, "--yes")
  results.run = await cli("run", fixture, "--resume", "--verify", "content", "--json")
  results.diff = await cli("diff", fixture, JSON.parse(results.run.stdout).db_path, "--json")
}, 120_000)

afterAll(() => sandbox?.remove())

describe("curator plan, verify and gc", () => {
  it("plan names the stale indices with their reasons and counts the rest", () => {
    const plan = results.plan!
    expect(plan.code, show(plan)).toBe(0)
    expect(plan.stdout).toContain("6 indices: 4 to skip, 0 to run, 0 to retry, 2 stale")
    expect(plan.stdout).toMatch(new RegExp(`^\\s+1  its output ${output(1)} is missing$`, "m"))
    expect(plan.stdout).toMatch(new RegExp(`^\\s+3  its output ${output(3)} was modified \\(content: xxh64 [0-9a-f]{16} → xxh64 [0-9a-f]{16}\\)$`, "m"))
    expect(JSON.parse(results.explain!.stdout)).toMatchObject({
      index: 3,
      action: "stale",
      stale: { _tag: "OutputModified", path: output(3), what: "content" }
    })
  })

  it("verify lists missing, modified, orphaned and temporary files, and exits 1", () => {
    const verify = results.verify!
    expect(verify.code, show(verify)).toBe(1)
    expect(JSON.parse(verify.stdout)).toMatchObject({
      indices: 6,
      outputs: 6,
      missing: [{ index: 1, path: output(1) }],
      modified: [{ index: 3, path: output(3) }],
      orphaned: [stray()],
      temporary: [temporary()]
    })
  })

  it("gc removes only unclaimed files, and never a recorded output", () => {
    expect(results.gc!.code, show(results.gc!)).toBe(0)
    expect(results.gc!.stdout).toContain("removed 2 files")
    expect(fs.existsSync(stray())).toBe(false)
    expect(fs.existsSync(temporary())).toBe(false)
    expect(fs.existsSync(output(3))).toBe(true)
  })

  it("the next run prints the plan's counts, then computes exactly the stale indices", () => {
    const run = results.run!
    expect(run.code, show(run)).toBe(0)
    expect(run.stderr).toContain("plan: 4 to skip, 0 to run, 0 to retry, 2 stale")
    expect(JSON.parse(run.stdout)).toMatchObject({ total: 6, cached: 4, computed: 2, redone: 2 })
    expect(JSON.parse(fs.readFileSync(output(3), "utf8"))).toEqual([{ index: 3, square: 9 }])
  })

  it("diff compares a module with a database: the same configuration", () => {
    expect(results.diff!.code, show(results.diff!)).toBe(0)
    expect(JSON.parse(results.diff!.stdout)).toMatchObject({ same: true, changes: [] })
  })
})

/**
 * The read commands start from V8's cached code of their bundle
 * (`bin/codeCache.mjs`): the cache the build made is used, a start that
 * finds none or one V8 refuses (made by another Node, or damaged) compiles
 * as usual and makes it again, and the cached bundle prints what the
 * compiled packages print. Real processes, real files.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { ensureBuilt } from "../build.js"
import { binScript, curator, databases, fixture, makeSandbox } from "./curator.js"

const sandbox = makeSandbox({ CURATOR_CLI_N: "25" })
const codeCache = pathToFileURL(path.join(path.dirname(binScript), "codeCache.mjs")).href
const compiled = path.resolve(path.dirname(binScript), "../dist/bin.js")

let db = ""
beforeAll(async () => {
  await ensureBuilt()
  const run = await curator(["run", fixture, "--quiet"], { env: sandbox.env })
  expect(run.code).toBe(0)
  db = path.join(sandbox.cache, databases(sandbox.cache)[0]!)
}, 300_000)
afterAll(() => sandbox.remove())

/** Runs `file` through `runCached`, as `bin/curator.mjs` does, asking it to report on the cache. */
const runCached = (file: string) => {
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", `(await import(${JSON.stringify(codeCache)})).runCached(${JSON.stringify(file)})`], {
    env: { ...process.env, CURATOR_CODE_CACHE: "report", NODE_OPTIONS: "" },
    encoding: "utf8"
  })
  return { stdout: result.stdout, cache: /code cache: (\w+)/.exec(result.stderr)?.[1], status: result.status }
}

describe("the read commands' code cache", () => {
  it("is made when missing, used next time, and made again when V8 refuses it; the script runs as a CommonJS module", { timeout: 60_000 }, () => {
    const file = path.join(sandbox.root, "app.cjs")
    fs.writeFileSync(file, `process.stdout.write([typeof require, typeof module.exports, require("node:path").basename(__filename)].join(" "))\n`)
    const first = runCached(file)
    expect(first).toEqual({ stdout: "function object app.cjs", cache: "missing", status: 0 })
    expect(fs.existsSync(`${file}.cache`)).toBe(true)
    expect(runCached(file).cache).toBe("used")
    // A cache V8 refuses (here: damaged) is replaced by a good one at exit.
    const damaged = fs.readFileSync(`${file}.cache`)
    damaged.fill(7, 0, 64)
    fs.writeFileSync(`${file}.cache`, damaged)
    expect(runCached(file)).toEqual({ stdout: "function object app.cjs", cache: "refused", status: 0 })
    expect(runCached(file).cache).toBe("used")
    expect(fs.readdirSync(sandbox.root).filter((name) => name.endsWith(".tmp"))).toEqual([])
  })

  it("the built executable's read commands use the cache the build made, and print what the compiled packages print", { timeout: 120_000 }, () => {
    const env = { ...process.env, ...sandbox.env, NODE_OPTIONS: "" }
    for (const args of [["status", db], ["failed", db], ["logs", db, "--level", "warn"], ["metrics", db, "--json"], ["--help"]]) {
      const cached = spawnSync(process.execPath, [binScript, ...args], { env: { ...env, CURATOR_CODE_CACHE: "report" }, encoding: "utf8" })
      expect(cached.status, cached.stderr).toBe(0)
      expect(cached.stderr).toContain("code cache: used")
      expect(cached.stdout).toBe(execFileSync(process.execPath, [compiled, ...args], { env, encoding: "utf8" }))
    }
    // A command that imports a module at run time starts from the other bundle (no report).
    const plan = spawnSync(process.execPath, [binScript, "plan", fixture], { env: { ...env, CURATOR_CODE_CACHE: "report" }, encoding: "utf8" })
    expect(plan.stderr).not.toContain("code cache:")
  })
})

/**
 * `curator run --resume --verify-outputs`: a completed index whose recorded
 * output file was deleted is computed again (the file is back), and the
 * summary says how many were redone; without the flag the checkpoint is
 * trusted as it is.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { curator, fixture, makeSandbox, type Result, type Sandbox, show } from "./curator.js"

let sandbox: Sandbox
let trusting: Result
let verified: Result
const deleted = () => path.join(sandbox.out, "pipeline", "000005.json")

beforeAll(async () => {
  sandbox = makeSandbox({ CURATOR_CLI_N: "8" })
  const run = (...extra: Array<string>) => curator(["run", fixture, "--resume", "--quiet", ...extra], { env: sandbox.env })
  const first = await run()
  if (first.code !== 0) throw new Error(show(first))
  fs.rmSync(deleted())
  trusting = await run("--json")
  verified = await run("--verify-outputs")
}, 120_000)

afterAll(() => sandbox?.remove())

describe("curator run --verify-outputs", () => {
  it("without it, a resumed run trusts the checkpoint", () => {
    expect(trusting.code, show(trusting)).toBe(0)
    expect(JSON.parse(trusting.stdout)).toMatchObject({ total: 8, cached: 8, computed: 0, redone: 0 })
  })

  it("with it, the index whose file is missing is computed again, and the summary says so", () => {
    expect(verified.code, show(verified)).toBe(0)
    expect(verified.stdout).toMatch(/^8 indices in .+: 8 completed \(7 from the checkpoint\), 0 failed$/m)
    expect(verified.stdout).toContain("redone: 1 completed indices were stale (input changed, output missing or modified) and were computed again")
    expect(JSON.parse(fs.readFileSync(deleted(), "utf8"))).toEqual([{ index: 5, square: 25 }])
  })
})

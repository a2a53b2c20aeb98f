/**
 * The kill torture at the size CI runs (`npm run test:torture` runs a larger
 * one): `curator run --resume` killed with SIGKILL at random moments at least
 * 20 times over 2,000 indices, on fibers and sometimes on worker threads,
 * then run to the end. What a user relies on after every kill: the database
 * is intact, no index is recorded completed before its sink finished, and
 * the recorded outputs exist with exactly the contents the sink writes; at
 * the end, every index is completed.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as KillTorture from "./torture/killTorture.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "curator-torture-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe("kill torture", () => {
  it("20 SIGKILLs at random moments over 2,000 indices lose nothing but the work in flight", async () => {
    const seed = Math.floor(Math.random() * 1_000_000)
    const report = await KillTorture.run({
      dir,
      indices: 2000,
      kills: 20,
      seed,
      backends: ["fibers", "fibers", "fibers", "fibers", "fibers", "fibers", "fibers", "fibers", "fibers", "workers"],
      concurrency: 4,
      delayMs: 8
    })
    const shown = JSON.stringify(report, null, 2)
    console.log(`kill torture: ${shown}`)
    expect(report.violations, shown).toEqual([])
    expect(report.kills, shown).toBe(20)
    expect(report.killsOnWorkers, shown).toBeGreaterThan(0)
    expect(report.integrity).toBe("ok")
    expect(report.temporaryFilesAtEnd, shown).toBe(0)
    expect(report.completed).toBe(2000)
    expect(report.finalExitCode).toBe(0)
  }, 300_000)
})

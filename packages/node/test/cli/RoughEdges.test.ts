/**
 * Small things a newcomer meets on the command line (issue 20's rough
 * edges), each checked on a real `curator` process.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import { curator, fixture, makeSandbox, type Result, show } from "./curator.js"

const sandbox = makeSandbox()
let contradiction: Result

beforeAll(async () => {
  contradiction = await curator(["run", fixture, "--no-metrics", "--resume"], { env: sandbox.env })
}, 120_000)

afterAll(() => sandbox.remove())

describe("curator run", () => {
  it("refuses --no-metrics with --resume, before running anything", () => {
    expect(contradiction.code, show(contradiction)).toBe(2)
    expect(contradiction.stderr).toBe(
      "curator: --no-metrics and --resume contradict each other: resuming reads the database that --no-metrics turns off; drop one\n"
    )
    expect(fs.existsSync(sandbox.out)).toBe(false)
  })
})

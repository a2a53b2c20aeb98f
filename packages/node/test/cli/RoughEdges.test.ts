/**
 * Small things a newcomer meets on the command line (issue 20's rough
 * edges), each checked on a real `curator` process.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { curator, fixture, makeSandbox, type Result, show } from "./curator.js"

const sandbox = makeSandbox()
let contradiction: Result
let noOutputs: Result

beforeAll(async () => {
  // A pipeline whose sink writes no file: its indices complete with no outputs.
  const module = path.join(sandbox.root, "nothing.mjs")
  fs.writeFileSync(module, `import { Pipeline, Sink, Source } from "@curator/core"
export const nothing = Pipeline.from(Source.fromArray("Two", [1, 2])).pipe(
  Pipeline.write(Sink.drain({ name: "Nowhere", pathOf: () => [] }), { resume: true })
)
`)
  const [refused, ran] = await Promise.all([
    curator(["run", fixture, "--no-metrics", "--resume"], { env: sandbox.env }),
    curator(["run", module, "--quiet", "--json"], { env: sandbox.env })
  ])
  contradiction = refused
  if (ran.code !== 0) throw new Error(show(ran))
  noOutputs = await curator(["outputs", JSON.parse(ran.stdout).db_path, "0"], { env: sandbox.env })
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

describe("curator outputs", () => {
  it("says when a completed index has no outputs (on stderr: a pipe reading paths gets none)", () => {
    expect(noOutputs.code, show(noOutputs)).toBe(0)
    expect(noOutputs.stdout).toBe("")
    expect(noOutputs.stderr).toBe("index 0 completed with no outputs\n")
  })
})

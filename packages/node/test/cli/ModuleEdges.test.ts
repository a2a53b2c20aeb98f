/**
 * Pipeline modules as a newcomer gives them to `curator` (issue 20): a
 * module whose only pipeline is not named `pipeline`, one with several, a
 * directory instead of a module, and a module that throws when imported —
 * loaded in this process from real files in a temporary directory.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { verboseDetail } from "../../src/cli/CliError.js"
import * as PipelineModule from "../../src/PipelineModule.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "curator-module-edges-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const pipelineOf = (name: string) => `Pipeline.from(Source.fromArray("${name}", [1, 2])).pipe(
  Pipeline.write(Sink.drain({ name: "Drop", pathOf: () => [] }), { trackMetrics: false })
)`
const header = `import { Pipeline, Sink, Source } from "@curator/core"\n`
const write = (name: string, text: string) => {
  const file = path.join(dir, name)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
  return file
}

const load = (module: string, exportName?: string) =>
  Effect.runPromise(Effect.either(PipelineModule.load({ module, exportName })))

describe("a pipeline module", () => {
  it("with exactly one exported pipeline runs without --export, under any name", async () => {
    const single = write("single.mjs", `${header}export const words = ${pipelineOf("Words")}\nexport const size = 3\n`)
    const loaded = await load(single)
    expect(Either.isRight(loaded) && loaded.right.source.name).toBe("Words")
  })

  it("with several pipelines and no `pipeline` export lists them and shows --export NAME", async () => {
    const several = write("several.mjs", `${header}export const a = ${pipelineOf("A")}\nexport const b = ${pipelineOf("B")}\n`)
    const loaded = await load(several)
    expect(Either.isLeft(loaded) && loaded.left.message).toBe(
      `${several} exports 2 pipelines: a, b; choose one with --export NAME (e.g. --export a; as a target: ${several}#a)`
    )
    const chosen = await load(several, "b")
    expect(Either.isRight(chosen) && chosen.right.source.name).toBe("B")
  })

  it("given as a directory says so plainly, naming the modules in it", async () => {
    write("project/pipeline.ts", "export {}\n")
    write("project/README.md", "")
    const loaded = await load(path.join(dir, "project"))
    expect(Either.isLeft(loaded) && loaded.left.message).toBe(
      `${path.join(dir, "project")} is a directory, not a pipeline module; give the module file (here: ${path.join(dir, "project", "pipeline.ts")})`
    )
  })

  it("that throws at import: --verbose shows the user's stack, not Curator's wrapper", async () => {
    const throwing = write("throwing.mjs", `const check = () => { throw new Error("no API key in $KEY") }\ncheck()\nexport const pipeline = 1\n`)
    const loaded = await load(throwing)
    if (Either.isRight(loaded)) throw new Error("expected a failure")
    expect(loaded.left.message).toBe(`importing ${throwing} failed: no API key in $KEY`)
    const detail = verboseDetail(Cause.fail(loaded.left))
    expect(detail).toMatch(/^Error: no API key in \$KEY\n\s+at check \(.*throwing\.mjs:1:/)
    expect(detail).not.toContain("PipelineModule")
  })
})

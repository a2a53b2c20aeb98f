/**
 * Resume you can trust: on every backend, an index whose input changed,
 * whose input shifted (a file added before it), whose output went missing
 * or whose output's bytes changed is computed again — and only those —
 * and `Pipeline.plan` gives the same indices with the matching reasons
 * before the run. Real files, a real SQLite database, real threads.
 */
import { Backend, Pipeline, Plan, RunResult } from "@curator/core"
import { NodeHost, SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-stale-"))
const previous = process.env.CURATOR_STALE_DIR
process.env.CURATOR_STALE_DIR = scratch
const fixture = await import("./fixtures/staleFiles.js")
const fixtureModule = fileURLToPath(new URL("./fixtures/staleFiles.ts", import.meta.url))

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true })
  if (previous === undefined) delete process.env.CURATOR_STALE_DIR
  else process.env.CURATOR_STALE_DIR = previous
})

const backends = {
  sequential: Backend.layerSequential,
  fibers: Backend.layerFibers,
  workers: WorkerBackend.layer({ module: fixtureModule, exportName: "staleFiles", threads: 1 })
} as const

const write = (name: string, text: string) => fs.writeFileSync(path.join(fixture.inDir, name), text)
const outputOf = (index: number) => path.join(fixture.outDir, `${String(index).padStart(6, "0")}.json`)

/** What the plan says of each index that is not skipped: `index action reason-tag`. */
const planned = (plan: Plan.Plan) =>
  plan.decisions.filter((d) => d._tag !== "Skip").map((d) =>
    `${d.index} ${Plan.actionOf(d)}${d._tag === "Stale" ? ` ${d.reason._tag}` : ""}`
  )

/** The indices a run computed (not taken from the checkpoint). */
const computed = <E>(result: RunResult.RunResult<E>) =>
  result.outcomes.flatMap((o) => (o._tag === "Completed" && !o.cached ? [o.index] : o._tag === "Failed" ? [-1] : []))

describe("stale indices", () => {
  for (const [name, backend] of Object.entries(backends)) {
    it.live(`are computed again, and only they, as the plan says (${name})`, () =>
      Effect.gen(function*() {
        fs.rmSync(scratch, { recursive: true, force: true })
        for (const dir of [fixture.inDir, fixture.outDir, fixture.dbDir]) fs.mkdirSync(dir, { recursive: true })
        for (const file of ["a", "b", "c", "d"]) write(`${file}.txt`, `text of ${file}`)
        const step = Effect.gen(function*() {
          const plan = yield* Pipeline.plan(fixture.staleFiles)
          const result = yield* Pipeline.run(fixture.staleFiles, { concurrency: 2 })
          return { plan: planned(plan), counts: plan.counts, computed: computed(result), redone: [...result.redone].sort() }
        })

        const first = yield* step
        expect(first.plan).toEqual(["0 run", "1 run", "2 run", "3 run"])
        expect(first.computed).toEqual([0, 1, 2, 3])
        expect((yield* step).computed).toEqual([])

        // One input's content changes.
        write("b.txt", "the new, longer text of b")
        const changed = yield* step
        expect(changed.plan).toEqual(["1 stale InputChanged"])
        expect(changed.counts).toEqual({ skip: 3, run: 0, retry: 0, stale: 1 })
        expect(changed.computed).toEqual([1])
        expect(fs.readFileSync(outputOf(1), "utf8")).toContain("the new, longer text of b")

        // A file in the middle: the indices after it now hold other files.
        write("bb.txt", "text of bb")
        const shifted = yield* step
        expect(shifted.plan).toEqual(["2 stale InputChanged", "3 stale InputChanged", "4 run"])
        expect(shifted.computed).toEqual([2, 3, 4])
        expect(fs.readFileSync(outputOf(2), "utf8")).toContain("text of bb")

        // An output removed, another's bytes changed (same size).
        fs.rmSync(outputOf(0))
        const bytes = fs.readFileSync(outputOf(3), "utf8")
        fs.writeFileSync(outputOf(3), bytes.replace("text", "TEXT"))
        const outputs = yield* step
        expect(outputs.plan).toEqual(["0 stale OutputMissing", "3 stale OutputModified"])
        expect(outputs.computed).toEqual([0, 3])
        expect(outputs.redone).toEqual([0, 3])
        expect(fs.readFileSync(outputOf(3), "utf8")).toBe(bytes)

        expect((yield* step).plan).toEqual([])
      }).pipe(
        Effect.provide(Layer.mergeAll(backend, SqliteCheckpointStore.layer(), NodeHost.platform, Logger.remove(Logger.defaultLogger)))
      ), 120_000)
  }
})

/**
 * Resume you can trust: on every backend, an index whose input changed,
 * whose input shifted (a file added before it), whose output went missing
 * or whose output's bytes changed is computed again — and only those —
 * and `Pipeline.plan` gives the same indices with the matching reasons
 * before the run. Real files, a real SQLite database, real threads, and
 * real `curator runner` processes for the cluster (where PostgreSQL is
 * available), which measure the outputs they write.
 */
import { Backend, Pipeline, Plan, RunResult, Verify } from "@curator/core"
import { NodeHost, SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import { Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { makeRunners } from "../packages/node/test/clusterRunners.js"
import { postgresUrl, skipReason } from "../packages/node/test/postgres.js"
import { scratchInEnv } from "./scratchInEnv.js"

const scratch = scratchInEnv("curator-stale-", "CURATOR_STALE_DIR")
const fixture = await import("./fixtures/staleFiles.js")
const fixtureModule = fileURLToPath(new URL("./fixtures/staleFiles.ts", import.meta.url))

/** The runners of the cluster case (their cache outside `scratch`, which each case empties); they read the same files. */
const runnerScratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-stale-runners-"))
const cluster = makeRunners({ fixture: fixtureModule, scratch: runnerScratch, env: () => ({ CURATOR_STALE_DIR: scratch }) })
afterAll(async () => {
  await cluster.stopAll()
  fs.rmSync(runnerScratch, { recursive: true, force: true })
}, 60_000)

const backends = {
  sequential: Backend.layerSequential,
  fibers: Backend.layerFibers,
  workers: WorkerBackend.layer({ module: fixtureModule, exportName: "staleFiles", threads: 1 }),
  cluster: cluster.layer("staleFiles"),
  "cluster, runner on threads": cluster.layer("staleFiles", { backend: "workers" })
} as const

const skipped = (name: string) => name.startsWith("cluster") && postgresUrl === undefined

const write = (name: string, text: string) => fs.writeFileSync(path.join(fixture.inDir, name), text)
const outputOf = (index: number) => path.join(fixture.outDir, `${String(index).padStart(6, "0")}.json`)

/** The fixture as the tests run it: content hashes recorded, where the module asks for sizes only. */
const staleFiles = Pipeline.withOptions(fixture.staleFiles, { verifyOutputs: "content" })

/** What the plan says of each index that is not skipped: `index action reason-tag`. */
const planned = (plan: Plan.Plan) =>
  plan.decisions.filter((d) => d._tag !== "Skip").map((d) =>
    `${d.index} ${Plan.actionOf(d)}${d._tag === "Stale" ? ` ${d.reason._tag}` : ""}`
  )

/**
 * What the checkpoint holds, index by index, against what it should: the
 * fingerprint of the file now at that index, its one output with that
 * file's size and an xxh64 that `Verify` finds equal to the bytes on disk.
 * Holds after every run, so a stale index's old rows were replaced.
 */
const expectRecordedAsOnDisk = (location: string) =>
  Effect.scoped(Effect.gen(function*() {
    const checkpoint = yield* SqliteCheckpointStore.openFile(location)
    const rows = (yield* checkpoint.recordedPage({ limit: 100 })).rows
    const names = fs.readdirSync(fixture.inDir).filter((name) => name.endsWith(".txt")).sort()
    expect(rows.map(({ fingerprint, index, outputChecks, paths }) => ({ index, fingerprint, paths, outputChecks }))).toEqual(
      names.map((name, index) => {
        const input = fs.statSync(path.join(fixture.inDir, name))
        return {
          index,
          fingerprint: `${name}:${input.size}:${Math.trunc(input.mtimeMs)}`,
          paths: [outputOf(index)],
          outputChecks: [{ path: outputOf(index), size: fs.statSync(outputOf(index)).size, hash: expect.stringMatching(/^[0-9a-f]{16}$/) }]
        }
      })
    )
    const verified = yield* Verify.outputs(checkpoint, { mode: "content" })
    expect({ outputs: verified.outputs, findings: verified.findings }).toEqual({ outputs: names.length, findings: [] })
  }))

/**
 * Runs `effect` with a `FileSystem` that notes the index of each output
 * file this process stats or reads. A run reads back only the outputs it
 * checks (completed indices, `verifyOutputs: "content"`): those of the
 * indices it computes are measured where they were written (by the sink,
 * on the thread or the runner, in the run's mode, not the module's) and
 * come in the report.
 */
const notingOutputReads = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const files = yield* FileSystem.FileSystem
    const read = new Set<number>()
    const note = (file: string) => void (path.dirname(file) === fixture.outDir && read.add(Number(path.basename(file, ".json"))))
    const noting = FileSystem.FileSystem.of({
      ...files,
      stat: (file) => (note(file), files.stat(file)),
      readFile: (file) => (note(file), files.readFile(file)),
      stream: (file, options) => (note(file), files.stream(file, options))
    })
    const result = yield* Effect.provideService(effect, FileSystem.FileSystem, noting)
    return { result, read: [...read].sort((a, b) => a - b) }
  })

/** The indices a run computed (not taken from the checkpoint). */
const computed = <E>(result: RunResult.RunResult<E>) =>
  result.outcomes.flatMap((o) => (o._tag === "Completed" && !o.cached ? [o.index] : o._tag === "Failed" ? [-1] : []))

describe("stale indices", () => {
  // The runners start together, before the cases.
  if (postgresUrl !== undefined) {
    beforeAll(() => Promise.all([cluster.runnerOf("staleFiles"), cluster.runnerOf("staleFiles", "workers")]).then(() => {}), 120_000)
  }
  for (const [name, backend] of Object.entries(backends)) {
    const live = skipped(name) ? it.live.skip : it.live
    live(`are computed again, and only they, as the plan says (${name})${skipped(name) ? ` (${skipReason})` : ""}`, () =>
      Effect.gen(function*() {
        fs.rmSync(scratch, { recursive: true, force: true })
        for (const dir of [fixture.inDir, fixture.outDir, fixture.dbDir]) fs.mkdirSync(dir, { recursive: true })
        for (const file of ["a", "b", "c", "d"]) write(`${file}.txt`, `text of ${file}`)
        const step = Effect.gen(function*() {
          const plan = yield* Pipeline.plan(staleFiles)
          const { read, result } = yield* notingOutputReads(Pipeline.run(staleFiles, { concurrency: 2 }))
          yield* expectRecordedAsOnDisk(result.location!)
          return {
            plan: planned(plan),
            counts: plan.counts,
            computed: computed(result),
            redone: [...result.redone].sort(),
            outputsReadByRun: read
          }
        })

        const first = yield* step
        expect(first.plan).toEqual(["0 run", "1 run", "2 run", "3 run"])
        expect(first.computed).toEqual([0, 1, 2, 3])
        // Nothing recorded to check yet: the run read no output back.
        expect(first.outputsReadByRun).toEqual([])
        expect((yield* step).computed).toEqual([])

        // One input's content changes.
        write("b.txt", "the new, longer text of b")
        const changed = yield* step
        expect(changed.plan).toEqual(["1 stale InputChanged"])
        expect(changed.counts).toEqual({ skip: 3, run: 0, retry: 0, stale: 1 })
        expect(changed.computed).toEqual([1])
        expect(changed.outputsReadByRun).toEqual([0, 2, 3])
        expect(fs.readFileSync(outputOf(1), "utf8")).toContain("the new, longer text of b")

        // A file in the middle: the indices after it now hold other files.
        write("bb.txt", "text of bb")
        const shifted = yield* step
        expect(shifted.plan).toEqual(["2 stale InputChanged", "3 stale InputChanged", "4 run"])
        expect(shifted.computed).toEqual([2, 3, 4])
        expect(shifted.outputsReadByRun).toEqual([0, 1])
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

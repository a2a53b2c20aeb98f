/**
 * The dashboard on a database the Python reference wrote (raw SQL, see
 * fixtures/referenceDatabase.ts): whole-run figures (3.7 s, 3 processes)
 * beside the per-invocation ones, and a worker filter that takes the
 * process labels the reference logs. And a server failure is logged and
 * answered with a JSON error body, never an empty 500. A failed index
 * names the stage it failed in (in the latest errors, the failed rows of
 * the index browser and its detail); the reference records none.
 */
import { CheckpointStore } from "@curator/core"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Logger, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Dashboard from "../src/Dashboard.js"
import * as SqliteCheckpointStore from "../src/SqliteCheckpointStore.js"
import { referenceRun, writeReferenceDatabase } from "./fixtures/referenceDatabase.js"
import { snapshot } from "./helpers.js"

let root: string
let database: string
let url: string
let before: ReturnType<typeof snapshot>
const scope = Effect.runSync(Scope.make())

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "curator-dashboard-figures-"))
  database = path.join(root, "reference.db")
  writeReferenceDatabase(database)
  before = snapshot(database)
  url = (await Effect.runPromise(Scope.extend(
    Effect.flatMap(SqliteCheckpointStore.openFile(database), (checkpoint) => Dashboard.serve(checkpoint, { port: 0 })),
    scope
  ))).url
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  fs.rmSync(root, { recursive: true, force: true })
})

const get = async (path: string, base = url): Promise<{ readonly status: number; readonly body: any }> => {
  const response = await fetch(new URL(path, base))
  return { status: response.status, body: await response.json() }
}

describe("Dashboard on the reference's database", () => {
  it("overview: the whole run's span, rate and processes, and every worker label the logs recorded", async () => {
    const { body, status } = await get("/api/overview")
    expect(status).toBe(200)
    const completed = referenceRun.indices - referenceRun.failed.length
    expect(body.summary).toMatchObject({ total: 30, completed, failed: 2 })
    expect(body.run).toMatchObject({
      spanS: referenceRun.spanS,
      processes: referenceRun.processes,
      workerRows: referenceRun.indices,
      invocations: referenceRun.indices,
      completed
    })
    expect(body.run.ratePerS).toBeCloseTo(completed / referenceRun.spanS, 6)
    expect(body.workerLabels).toEqual(expect.arrayContaining([...referenceRun.labels]))
  })

  it("logs: the worker filter takes a process label that is no workers row", async () => {
    const { body, status } = await get("/api/logs?worker=ForkServerProcess-3")
    expect(status).toBe(200)
    expect(body.rows).toHaveLength(10)
    expect(body.rows.every((row: any) => row.workerId === "ForkServerProcess-3")).toBe(true)
    expect((await get("/api/logs?worker=ForkServerProcess")).status).toBe(400)
  })

  it("the last index opens, and the charts cover every recorded index", async () => {
    expect((await get("/api/index/29")).body).toMatchObject({ index: 29, status: "completed", outputs: ["/ref/out/29.vtp"] })
    const performance = (await get("/api/performance")).body
    expect(performance.timeline.reduce((sum: number, b: any) => sum + b.count, 0)).toBe(30)
    expect(performance.stageNames).toEqual(["source", "sink"])
  })

  it("a failure inside the server is logged and answered with a JSON error body", async () => {
    const logged: Array<string> = []
    const body = await Effect.runPromise(Effect.gen(function*() {
      const store = yield* CheckpointStore.CheckpointStore
      const healthy = yield* store.open({
        configHash: "0".repeat(64),
        configJson: "{}",
        totalIndices: 3,
        resume: true,
        runDir: root
      })
      // A bug in a query: the overview's summary dies instead of answering.
      const broken: CheckpointStore.Checkpoint = { ...healthy, summary: Effect.die(new RangeError("Maximum call stack size exceeded")) }
      const served = yield* Dashboard.serve(broken, { port: 0 })
      const response = yield* Effect.promise(() => fetch(new URL("/api/overview", served.url)))
      const json = yield* Effect.promise(() => response.json() as Promise<{ readonly error: string }>)
      return { status: response.status, type: response.headers.get("content-type"), json }
    }).pipe(
      Effect.scoped,
      Effect.provide(CheckpointStore.layerMemory),
      // Capture what the server logs.
      Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logged.push(String(message)))))
    ))
    expect(body.status).toBe(500)
    expect(body.type).toContain("application/json")
    expect(body.json.error).toContain("Maximum call stack size exceeded")
    expect(logged.some((line) => line.includes("dashboard: a request failed"))).toBe(true)
  })

  it("failed indices name the stage they failed in; the reference's, which recorded none, name none", async () => {
    const failedOfReference = (await get("/api/indices?status=failed")).body.rows
    expect(failedOfReference.map((row: any) => [row.index, row.stage])).toEqual(referenceRun.failed.map((index) => [index, null]))

    const served = await Effect.runPromise(Effect.gen(function*() {
      const store = yield* CheckpointStore.CheckpointStore
      const checkpoint = yield* store.open({ configHash: "1".repeat(64), configJson: "{}", totalIndices: 3, resume: true, runDir: root })
      const at = "2026-01-01T00:00:00.000000+00:00"
      const record = { workerId: "w", completedAt: at, wallTimeNs: 1, peakMemoryBytes: null }
      yield* checkpoint.recordFailure({ ...record, index: 0, error: "Boom: in the source", stage: "source" })
      yield* checkpoint.recordFailure({ ...record, index: 2, error: "Boom: in the filter", stage: "Check" })
      yield* checkpoint.recordSuccess({ ...record, index: 1, paths: ["/x/1"], gpuMemoryBytes: null, stages: [], artifacts: [] })
      const { url } = yield* Dashboard.serve(checkpoint, { port: 0 })
      return yield* Effect.promise(() =>
        Promise.all([get("/api/overview", url), get("/api/indices?status=all", url), get("/api/index/2", url), get("/api/index/1", url)])
      )
    }).pipe(Effect.scoped, Effect.provide(CheckpointStore.layerMemory)))
    const [overview, indices, failedDetail, completedDetail] = served.map((answer) => answer.body)
    expect(overview.latestErrors.map((e: any) => [e.index, e.stage]).sort()).toEqual([[0, "source"], [2, "Check"]])
    expect(indices.rows.map((row: any) => [row.index, row.status, row.stage])).toEqual([
      [0, "failed", "source"],
      [1, "completed", null],
      [2, "failed", "Check"]
    ])
    expect(failedDetail).toMatchObject({ index: 2, status: "failed", stage: "Check", error: "Boom: in the filter" })
    expect(completedDetail).toMatchObject({ index: 1, status: "completed", stage: null })
  })

  it("serving left the reference's database byte-for-byte as it was (no migration, no index)", () => {
    expect(snapshot(database)).toEqual(before)
  })
})

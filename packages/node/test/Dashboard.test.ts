/**
 * The dashboard's JSON API and live feed, served over a real HTTP server
 * from a SQLite database that a real run of the dashboard fixture wrote
 * (12 indices, 3 failed, artifacts, logs): every figure matches the
 * store's own queries, bad parameters are a 400 with a message, and the
 * database file is left exactly as it was.
 */
import { Backend, type CheckpointStore, Pipeline } from "@curator/core"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Logger, Option, Scope } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as Dashboard from "../src/Dashboard.js"
import * as SqliteCheckpointStore from "../src/SqliteCheckpointStore.js"
import { fails, make, markupMessage } from "./fixtures/dashboardPipelines.js"
import { snapshot, withRaw } from "./helpers.js"

const n = 12
let root: string
let database: string
let before: ReturnType<typeof snapshot>
let checkpoint: CheckpointStore.Checkpoint
let url: string
const scope = Effect.runSync(Scope.make())
const pipeline = () => make({ out: path.join(root, "out"), n }).pipe(Pipeline.withOptions({ resume: true, dbDir: path.join(root, "cache") }))

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.extend(effect, scope))

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "curator-dashboard-"))
  const result = await Effect.runPromise(Pipeline.run(pipeline(), { concurrency: 2 }).pipe(
    Effect.provide(Layer.mergeAll(SqliteCheckpointStore.layer(), Backend.layerFibers, Logger.remove(Logger.defaultLogger)))
  ))
  database = result.location!
  before = snapshot(database)
  checkpoint = await run(SqliteCheckpointStore.openFile(database))
  url = (await run(Dashboard.serve(checkpoint, { port: 0, pollInterval: "100 millis" }))).url
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  fs.rmSync(root, { recursive: true, force: true })
})

/** GETs a path of a dashboard; the JSON body and the status. */
const get = async (path: string, base = url): Promise<{ readonly status: number; readonly body: any }> => {
  const response = await fetch(new URL(path, base))
  return { status: response.status, body: await response.json() }
}

const query = <A>(f: (c: CheckpointStore.Checkpoint) => Effect.Effect<A, CheckpointStore.CheckpointError>) =>
  Effect.runPromise(f(checkpoint))

const sortedNumbers = (values: Iterable<number>) => [...values].sort((a, b) => a - b)

describe("Dashboard API", () => {
  it("overview: the store's summary, workers, recorded configuration, stage timings, latest outputs and errors", async () => {
    const { body, status } = await get("/api/overview")
    expect(status).toBe(200)
    const [summary, workers, metrics, outputs, failed] = await Promise.all([
      query((c) => c.summary),
      query((c) => c.workers),
      query((c) => c.metrics),
      query((c) => c.completedOutputs),
      query((c) => c.failedIndices)
    ])
    expect(body.summary).toEqual(summary)
    expect(body.summary).toMatchObject({ total: n, completed: 9, failed: 3, remaining: 0 })
    expect(body.workers.map((w: any) => w.workerId)).toEqual(workers.map((w) => w.workerId))
    expect(body.workers.map((w: any) => w.completedCount)).toEqual(workers.map((w) => w.completedCount))
    expect(body.workers.every((w: any) => w.stale === false && w.currentIndex === null && w.heartbeatAgeS >= 0)).toBe(true)
    expect(body.pipeline).toEqual(pipeline().config)

    const completed = metrics.filter((m) => m.status === "completed")
    const sinkTimes = completed.map((m) => m.stages.find((s) => s.name === "sink")!.wallTimeNs / 1e6)
    expect(body.stages.map((s: any) => [s.order, s.name, s.count])).toEqual([[0, "source", 9], [1, "Square", 9], [2, "sink", 9]])
    expect(body.stages[2].totalMs).toBeCloseTo(sinkTimes.reduce((a, b) => a + b, 0), 9)
    expect(body.stages[2].meanMs).toBeCloseTo(sinkTimes.reduce((a, b) => a + b, 0) / 9, 9)

    expect(body.latestErrors.map((e: any) => [e.index, e.error]).sort((a: any, b: any) => a[0] - b[0]))
      .toEqual([...failed.entries()].sort((a, b) => a[0] - b[0]))
    const byTime = [...completed].sort((a, b) => b.completedAt.localeCompare(a.completedAt)).slice(0, 10)
    expect(body.latestOutputs.map((o: any) => o.path)).toEqual(byTime.flatMap((m) => outputs.get(m.index)!).slice(0, 10))
    expect(body.ratePerS).toBeGreaterThan(0)
  })

  it("indices: selected by range and status, paginated, with the store's status, times and errors", async () => {
    const failed = await query((c) => c.failedIndices)
    const metrics = await query((c) => c.metrics)

    const failing = await get("/api/indices?range=2-9&status=failed")
    expect(failing.body.rows.map((r: any) => [r.index, r.error])).toEqual([[3, failed.get(3)], [7, failed.get(7)]])

    const listed = await get("/api/indices?range=1,5,10")
    expect(listed.body.rows.map((r: any) => [r.index, r.status])).toEqual([[1, "completed"], [5, "completed"], [10, "completed"]])
    expect(listed.body.rows[1].wallTimeMs).toBe(metrics.find((m) => m.index === 5)!.wallTimeNs! / 1e6)

    const page = await get("/api/indices?pageSize=5&page=3")
    expect(page.body).toMatchObject({ matching: n, page: 3, pages: 3 })
    expect(page.body.rows.map((r: any) => r.index)).toEqual([10, 11])

    const completed = await get("/api/indices?status=completed&pageSize=500")
    expect(completed.body.rows.map((r: any) => r.index)).toEqual(sortedNumbers(await query((c) => c.completedIndices)))
    expect((await get("/api/indices?status=remaining")).body.matching).toBe(0)
  })

  it("one index: status, error, outputs, filter artifacts, stage breakdown and its log lines", async () => {
    const detail = await get("/api/index/2")
    expect(detail.status).toBe(200)
    const metrics = (await query((c) => c.metrics)).find((m) => m.index === 2)!
    expect(detail.body).toMatchObject({ index: 2, status: "completed", error: null, workerId: metrics.workerId })
    expect(detail.body.outputs).toEqual(Option.getOrThrow(await query((c) => c.outputsOf(2))))
    expect(detail.body.artifacts).toEqual([{ path: path.join(root, "out", "artifacts", "2.txt"), index: 2, filterName: "Square", filterOrder: 0 }])
    expect(detail.body.stages).toEqual(metrics.stages.map((s) => ({ order: s.order, name: s.name, wallTimeMs: s.wallTimeNs / 1e6 })))
    expect(detail.body.logs).toEqual(await query((c) => c.logs({ index: 2 })))
    expect(detail.body.logs.map((l: any) => l.message)).toContain("squaring 2")

    const failed = await get("/api/index/3")
    expect(failed.body).toMatchObject({ status: "failed", error: "BadIndex: index 3 is bad", outputs: [], artifacts: [] })

    expect((await get(`/api/index/${n}`)).status).toBe(404)
  })

  it("performance: time per index, stages per index, memory histogram, the 10 slowest, stage statistics", async () => {
    const { body } = await get("/api/performance")
    const metrics = await query((c) => c.metrics)
    // Fewer indices than chart buckets: one point per index, each its own bucket.
    expect(body.timeline.map((p: any) => [p.fromIndex, p.toIndex, p.status === "completed", p.meanWallTimeMs, p.count]))
      .toEqual(metrics.map((m) => [m.index, m.index, !fails(m.index), m.wallTimeNs! / 1e6, 1]))
    expect(body.stageNames).toEqual(["source", "Square", "sink"])
    const completed = metrics.filter((m) => m.stages.length > 0)
    expect(body.stageBars.map((b: any) => [b.fromIndex, b.toIndex])).toEqual(completed.map((m) => [m.index, m.index]))
    expect(body.stageBars[0].stageMs).toEqual(completed[0]!.stages.map((s) => s.wallTimeNs / 1e6))

    const slowest = [...metrics].sort((a, b) => b.wallTimeNs! - a.wallTimeNs!).slice(0, 10)
    expect(body.slowest.map((s: any) => s.wallTimeMs)).toEqual(slowest.map((m) => m.wallTimeNs! / 1e6))

    const memory = metrics.map((m) => m.peakMemoryBytes!)
    expect(body.memoryHistogram.reduce((sum: number, bin: any) => sum + bin.count, 0)).toBe(n)
    expect(body.memoryHistogram[0].fromBytes).toBe(Math.min(...memory))
    expect(body.memoryHistogram.at(-1).toBytes).toBe(Math.max(...memory))

    const squareTimes = metrics.flatMap((m) => m.stages.filter((s) => s.name === "Square").map((s) => s.wallTimeNs / 1e6))
      .sort((a, b) => a - b)
    const square = body.stages.find((s: any) => s.name === "Square")
    expect(square).toMatchObject({ count: 9, maxMs: squareTimes[8], medianMs: squareTimes[4], p95Ms: squareTimes[8] })
  })

  it("logs: filtered by level, worker and index; the latest lines, or those after an id to follow the tail", async () => {
    const all = await query((c) => c.logs())
    expect((await get("/api/logs")).body.rows).toEqual(all)

    const warnings = (await get("/api/logs?level=warning")).body.rows
    expect(warnings).toEqual(all.filter((l) => l.level >= 30))
    expect(warnings.map((l: any) => l.message)).toContain(markupMessage)

    const worker = all.find((l) => l.workerId !== null)!.workerId!
    expect((await get(`/api/logs?worker=${worker.slice(0, 8)}&index=0`)).body.rows)
      .toEqual(all.filter((l) => l.workerId === worker && l.index === 0))

    const latest = await get("/api/logs?limit=3")
    expect(latest.body.rows).toEqual(all.slice(-3))
    expect(latest.body.lastId).toBe(all.at(-1)!.id)
    const after = (await get(`/api/logs?sinceId=${all[4]!.id}&limit=2`)).body
    expect(after.rows).toEqual(all.slice(5, 7))
    expect(after.lastId).toBe(all[6]!.id)
  })

  it("bad parameters are a 400 whose message names the parameter and what to send", async () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["/api/indices?range=abc", "range"],
      ["/api/indices?range=20-10", "20-10"],
      ["/api/indices?range=1&range=2", "range"],
      ["/api/indices?status=done", "status"],
      ["/api/indices?page=0", "page"],
      ["/api/indices?pageSize=100000", "pageSize"],
      ["/api/index/abc", "index"],
      ["/api/index/-1", "index"],
      ["/api/logs?level=loud", "level"],
      ["/api/logs?index=x", "index"],
      ["/api/logs?sinceId=-5", "sinceId"],
      ["/api/logs?worker=zzzz", "zzzz"]
    ]
    for (const [path, mention] of cases) {
      const { body, status } = await get(path)
      expect({ path, status }).toEqual({ path, status: 400 })
      expect(body.error).toContain(mention)
    }
  })

  it("the live feed sends the store's summary as its first update", async () => {
    const controller = new AbortController()
    const response = await fetch(new URL("/api/events", url), { signal: controller.signal })
    expect(response.headers.get("content-type")).toBe("text/event-stream")
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ""
    while (!/event: update\ndata: .*\n\n/.test(text)) text += (await reader.read()).value ?? ""
    controller.abort()
    const data = JSON.parse(/event: update\ndata: (.*)\n\n/.exec(text)![1]!)
    expect(data.summary).toEqual(await query((c) => c.summary))
  })

  it("a request naming another host is refused (DNS rebinding); the page is served with a strict CSP", async () => {
    const port = new URL(url).port
    const status = await new Promise<number | undefined>((resolve, reject) =>
      http.get({ host: "127.0.0.1", port, path: "/api/overview", headers: { host: `attacker.example:${port}` } }, (res) => {
        res.resume()
        resolve(res.statusCode)
      }).on("error", reject)
    )
    expect(status).toBe(403)
    const page = await fetch(url)
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'")
    expect(await page.text()).toContain("<title>Curator dashboard</title>")
  })

  it("a worker busy on one index past the stale threshold is marked stale", async () => {
    const copy = path.join(root, "stale.db")
    fs.copyFileSync(database, copy)
    const [first] = await query((c) => c.workers)
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000).toISOString().replace("Z", "000+00:00")
    withRaw(copy, (db) =>
      db.prepare("UPDATE workers SET current_index = 5, last_heartbeat = ? WHERE worker_id = ?").run(twoHoursAgo, first!.workerId))
    const body = await Effect.runPromise(Effect.gen(function*() {
      const stale = yield* SqliteCheckpointStore.openFile(copy)
      const served = yield* Dashboard.serve(stale, { port: 0 })
      return (yield* Effect.promise(() => get("/api/overview", served.url))).body
    }).pipe(Effect.scoped))
    const worker = body.workers.find((w: any) => w.workerId === first!.workerId)
    expect(worker).toMatchObject({ currentIndex: 5, stale: true })
    expect(worker.heartbeatAgeS).toBeGreaterThan(body.staleAfterS)
    expect(body.workers.filter((w: any) => w.workerId !== first!.workerId).every((w: any) => !w.stale)).toBe(true)
  })

  it("a port already in use is a CannotListen error that says to choose another port", async () => {
    const port = Number(new URL(url).port)
    const exit = await Effect.runPromiseExit(Effect.scoped(Dashboard.serve(checkpoint, { port })))
    expect(exit).toMatchObject({ _tag: "Failure" })
    const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
    expect(error).toMatchObject({ _tag: "DashboardError", reason: "CannotListen" })
    expect(error?.message).toBe(`cannot listen on 127.0.0.1:${port} (the port is in use); choose another --port or --host`)
  })

  // Last: after every request above, the database is as the run left it.
  it("serving and every query above left the database file byte-for-byte unchanged", () => {
    expect(snapshot(database)).toEqual(before)
  })
})

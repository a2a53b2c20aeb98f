/**
 * The dashboard's API on runs of the failure policy (issue 18): quarantined
 * indices counted apart from the other failures, listed by their own status
 * filter and shown with their attempts and class; and a worker whose index
 * the watchdog flagged shown `stalled` while it runs. Real runs on real
 * SQLite files; the dashboard reads them through a read-only connection.
 */
import { Backend, Pipeline, type Progress } from "@curator/core"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Logger, Schedule } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Dashboard from "../src/Dashboard.js"
import * as SqliteCheckpointStore from "../src/SqliteCheckpointStore.js"
import { flaky, resetAttempts, stalls } from "./fixtures/failurePolicy.js"

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-dashboard-policy-"))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

const quiet = Layer.mergeAll(Backend.layerFibers, SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger))

/** The dashboard on a read-only connection to `dbFile`, for as long as the scope. */
const served = (dbFile: string) =>
  Effect.flatMap(SqliteCheckpointStore.openFile(dbFile), (checkpoint) => Dashboard.serve(checkpoint, { port: 0 }))

const get = (base: string, path: string) =>
  Effect.promise(async () => {
    const response = await fetch(new URL(path, base))
    return { status: response.status, body: await response.json() as any }
  })

describe("Dashboard and the failure policy", () => {
  it.live("counts quarantined indices apart, lists them by status, shows their attempts and class", () =>
    Effect.gen(function*() {
      const dbFile = path.join(scratch, "quarantine.db")
      resetAttempts()
      // Indices 2 and 3 fail permanently in two runs (quarantineAfter: 2); index 1 succeeds at its third attempt.
      for (let run = 0; run < 2; run++) {
        yield* Pipeline.run(Pipeline.withOptions(flaky, { dbFile, resume: true }), { concurrency: 2 }).pipe(Effect.provide(quiet))
      }
      const { url } = yield* served(dbFile)

      const overview = yield* get(url, "/api/overview")
      expect(overview.status).toBe(200)
      // The reference's summary keys keep their meaning: quarantined indices are among the failed.
      expect(overview.body.summary).toMatchObject({ total: 5, completed: 3, failed: 2 })
      expect(overview.body.quarantined).toBe(2)

      const quarantined = yield* get(url, "/api/indices?status=quarantined")
      expect(quarantined.body.matching).toBe(2)
      expect(quarantined.body.rows.map((row: any) => [row.index, row.status])).toEqual([[2, "quarantined"], [3, "quarantined"]])
      const failed = yield* get(url, "/api/indices?status=failed")
      expect(failed.body.rows.map((row: any) => row.index)).toEqual([2, 3])
      const all = yield* get(url, "/api/indices")
      expect(all.body.rows.map((row: any) => row.status)).toEqual(["completed", "completed", "quarantined", "quarantined", "completed"])

      expect((yield* get(url, "/api/index/3")).body).toMatchObject({
        index: 3,
        status: "quarantined",
        attempts: 1,
        failureClass: "permanent",
        error: "Corrupt: truncated header"
      })
      expect((yield* get(url, "/api/index/1")).body).toMatchObject({ index: 1, status: "completed", attempts: 3, failureClass: null })
      expect((yield* get(url, "/api/indices?status=stuck")).status).toBe(400)
    }).pipe(Effect.scoped), 60_000)

  it.live("shows a worker stalled while its index produces nothing, and busy or idle otherwise", () =>
    Effect.gen(function*() {
      const dbFile = path.join(scratch, "stall.db")
      const stalled = yield* Deferred.make<Progress.IndexStalled>()
      const onProgress = (event: Progress.ProgressEvent) => {
        if (event._tag === "IndexStalled") Effect.runSync(Deferred.succeed(stalled, event))
      }
      // Once the watchdog flags index 0 (it waits 2 s; stallAfter 400 ms), the dashboard shows its worker stalled
      // as soon as the next heartbeat is written: asked until then, while the run goes on.
      const seen = yield* Effect.fork(Effect.gen(function*() {
        const event = yield* Deferred.await(stalled)
        const { url } = yield* served(dbFile)
        const stalledWorker = Effect.map(
          get(url, "/api/overview"),
          ({ body }) => (body.workers as Array<any>).find((w) => w.workerId === event.workerId && w.state === "stalled")
        )
        const worker = yield* stalledWorker.pipe(
          Effect.flatMap((found) => (found === undefined ? Effect.fail("not yet") : Effect.succeed(found))),
          Effect.retry(Schedule.spaced("50 millis")),
          Effect.timeout("10 seconds")
        )
        return { event, worker }
      }).pipe(Effect.scoped))
      yield* Pipeline.run(Pipeline.withOptions(stalls, { dbFile }), { concurrency: 2, onProgress }).pipe(Effect.provide(quiet))
      const { event, worker } = yield* Fiber.join(seen)
      expect(worker).toMatchObject({ workerId: event.workerId, currentIndex: 0, state: "stalled", items: 0, stale: false })

      // After the run, every worker is idle again.
      const { url } = yield* served(dbFile)
      const after = yield* get(url, "/api/overview")
      expect((after.body.workers as Array<any>).map((w) => w.state)).toEqual(["idle", "idle"])
    }).pipe(Effect.scoped), 60_000)
})

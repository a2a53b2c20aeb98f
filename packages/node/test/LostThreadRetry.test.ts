/**
 * Issue 18 on worker threads: an index whose thread was lost — it died
 * (`process.exit` in a stage) or was terminated past `indexTimeout` (a CPU
 * loop) — is a transient failure, so with a retry schedule it runs again in
 * the same run, on the thread that replaces the lost one, and its record
 * counts every attempt. Real threads, a real SQLite file.
 */
import { Pipeline, RunResult } from "@curator/core"
import { SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-lost-thread-"))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))
// Threads inherit the environment: where index 1 notes that its thread already died once.
process.env.CURATOR_LOST_MARKER = path.join(scratch, "died-once")
const F = await import("./fixtures/failurePolicy.js")
const fixture = fileURLToPath(new URL("./fixtures/failurePolicy.ts", import.meta.url))

describe("an index whose worker thread was lost, with a retry schedule", () => {
  it.live("runs again in the run on the replacing thread; its record counts every attempt", () =>
    Effect.gen(function*() {
      const dbFile = path.join(scratch, "lost.db")
      const result = yield* Pipeline.run(Pipeline.withOptions(F.lostThreads, { dbFile }), { concurrency: 1 }).pipe(
        Effect.provide(Layer.mergeAll(
          WorkerBackend.layer({ module: fixture, exportName: "lostThreads", threads: 1 }),
          SqliteCheckpointStore.layer(),
          Logger.remove(Logger.defaultLogger)
        ))
      )
      // The thread died on index 1 once: the next thread computed it. Index 2 timed out on every attempt.
      expect(result.outcomes.map((o) => o._tag)).toEqual(["Completed", "Completed", "Failed", "Completed"])
      expect((result.outcomes[2] as RunResult.Failed<unknown>).message).toBe(
        "IndexTimeout: index 2 exceeded 300 milliseconds in stage Spin; the worker thread did not stop and was replaced"
      )
      const { details, logs } = yield* Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(dbFile), (c) =>
        Effect.all({ details: c.failureDetails([1, 2]), logs: c.logs() })))
      expect(details.get(1)).toMatchObject({ attempts: 2, failureClass: null })
      expect(details.get(2)).toMatchObject({ attempts: 3, failureClass: "transient", quarantined: false })
      const retries = logs.map((line) => line.message).filter((message) => message.startsWith("attempt "))
      expect(retries).toEqual([
        expect.stringMatching(/^attempt 1\/3 of index 1 failed: WorkerDied: the worker thread died while processing index 1 \(exited with code 3\); it was replaced; retrying in 5 milliseconds$/),
        expect.stringMatching(/^attempt 1\/3 of index 2 failed: IndexTimeout: index 2 exceeded 300 milliseconds in stage Spin; .*retrying in 5 milliseconds$/),
        expect.stringMatching(/^attempt 2\/3 of index 2 failed: IndexTimeout: .*retrying in 5 milliseconds$/)
      ])
    }), 120_000)
})

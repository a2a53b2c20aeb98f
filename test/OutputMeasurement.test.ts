/**
 * Each output's size and xxh64 recorded by a run (`verifyOutputs:
 * "content"`), on every backend, are what `Verify.outputs` (`curator
 * verify --content`) computes from the file later — whether the sink
 * measured the bytes as it wrote them (`FileSink`) or the outputs were read
 * back where the index ran (a sink of the user's) — and a changed byte is
 * still found. Real files, a real SQLite database, real threads.
 */
import { Backend, Pipeline, Verify } from "@curator/core"
import { NodeHost, SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { scratchInEnv } from "./scratchInEnv.js"

const scratch = scratchInEnv("curator-measured-", "CURATOR_MEASURED_DIR")
const fixture = await import("./fixtures/measuredOutputs.js")
const fixtureModule = fileURLToPath(new URL("./fixtures/measuredOutputs.ts", import.meta.url))

const sinks = ["fileSink", "ownSink"] as const

const backends = (sink: typeof sinks[number]) => ({
  sequential: Backend.layerSequential,
  fibers: Backend.layerFibers,
  workers: WorkerBackend.layer({ module: fixtureModule, exportName: sink, threads: 1 })
})

describe("recorded output sizes and hashes", () => {
  for (const sink of sinks) {
    for (const [name, backend] of Object.entries(backends(sink))) {
      it.live(`are what verify computes, and a changed byte is found (${sink}, ${name})`, () =>
        Effect.gen(function*() {
          fs.rmSync(scratch, { recursive: true, force: true })
          const result = yield* Pipeline.run(fixture[sink], { concurrency: 2 })
          expect(result.outcomes.map((o) => o._tag)).toEqual(["Completed", "Completed", "Completed", "Completed"])

          const checkpoint = yield* SqliteCheckpointStore.openFile(result.location!)
          const recorded = (yield* checkpoint.recordedPage({ limit: 10 })).rows
          expect(recorded.map((r) => r.index)).toEqual([0, 1, 2, 3])
          for (const r of recorded) {
            expect(r.outputChecks).toEqual([
              { path: r.paths[0], size: fs.statSync(r.paths[0]!).size, hash: expect.stringMatching(/^[0-9a-f]{16}$/) }
            ])
          }
          expect(recorded[2]!.outputChecks[0]!.size).toBeGreaterThan(1 << 20)

          const clean = yield* Verify.outputs(checkpoint, { mode: "content" })
          expect({ outputs: clean.outputs, findings: clean.findings }).toEqual({ outputs: 4, findings: [] })

          // One byte of the large output changed, its size kept.
          const changed = recorded[2]!.paths[0]!
          const bytes = fs.readFileSync(changed)
          bytes[bytes.length >> 1] = bytes[bytes.length >> 1] === 0x61 ? 0x62 : 0x61
          fs.writeFileSync(changed, bytes)
          const found = yield* Verify.outputs(checkpoint, { mode: "content" })
          expect(found.findings).toEqual([
            { index: 2, path: changed, problem: "modified", detail: expect.stringMatching(/^content: xxh64 [0-9a-f]{16} → xxh64 [0-9a-f]{16}$/) }
          ])
        }).pipe(
          Effect.scoped,
          Effect.provide(Layer.mergeAll(backend, SqliteCheckpointStore.layer(), NodeHost.platform, Logger.remove(Logger.defaultLogger)))
        ), 120_000)
    }
  }
})

/**
 * Figures a run records and signals it obeys, beside the happy path: every
 * index that holds data while its item flows records a peak memory above
 * zero, even when a garbage collection runs in between; and a graceful stop
 * takes effect within a second on a run of 200,000 trivial indices.
 */
import { Filter, Pipeline, Sink, Source } from "@curator/core"
import { NodeCurator, SqliteCheckpointStore } from "@curator/node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { makeSandbox, start } from "./cli/curator.js"

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-facts-"))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

describe("peak memory", () => {
  it.live("50 indices that each hold ~500 KB while their item flows all record a peak above 0", () =>
    Effect.gen(function*() {
      const pipeline = Pipeline.from(Source.make({
        name: "Blobs",
        params: { n: 50 },
        length: 50,
        // ~512 KB of doubles per item, alive from the source to the sink.
        items: (index) => Effect.sync(() => [new Float64Array(65_536).fill(index)])
      })).pipe(
        Pipeline.filter(Filter.map({ name: "Touch", f: (blob: Float64Array) => Array.from(blob.subarray(0, 4096)) })),
        Pipeline.write(Sink.fromItems({ name: "Sum", write: (items: ReadonlyArray<ReadonlyArray<number>>) => Effect.succeed([`/virtual/${items[0]![0]}`]) })),
        Pipeline.withOptions({ dbDir: path.join(scratch, "memory") })
      )
      const result = yield* Pipeline.run(pipeline).pipe(Effect.provide(NodeCurator.layer()), Effect.provide(Logger.remove(Logger.defaultLogger)))
      const metrics = yield* Effect.scoped(Effect.flatMap(SqliteCheckpointStore.openFile(result.location!), (c) => c.metrics))
      expect(metrics).toHaveLength(50)
      const zero = metrics.filter((m) => !(m.peakMemoryBytes! > 0)).map((m) => m.index)
      expect(zero).toEqual([])
    }), 60_000)
})

describe("a graceful stop on a fast run", () => {
  it("SIGINT stops a 200,000-index run of trivial indices: exit 130 within 10 s of the signal (closing included), most indices not run", async () => {
    const sandbox = makeSandbox()
    const dbFile = path.join(scratch, "fast.db")
    const child = start(
      ["run", path.resolve(import.meta.dirname, "fixtures/cliPipelines.ts"), "--export", "trivial", "--db-file", dbFile, "--quiet", "--json"],
      { env: { ...sandbox.env, CURATOR_CLI_N: "200000" } }
    )
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    // Wait until indices are being recorded, then stop.
    const recorded = () => {
      if (!fs.existsSync(dbFile)) return 0
      try {
        const db = new Database(dbFile, { readonly: true })
        const row = db.prepare("SELECT COUNT(*) AS n FROM index_results").get() as { n: number }
        db.close()
        return row.n
      } catch {
        return 0
      }
    }
    const deadline = Date.now() + 120_000
    while (recorded() < 1000 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    const signalled = Date.now()
    child.kill("SIGINT")
    const code = await exited
    const tookMs = Date.now() - signalled
    expect(code).toBe(130)
    // Within a second of the signal no new index starts; closing and flushing follow.
    expect(tookMs).toBeLessThan(10_000)
    expect(recorded()).toBeLessThan(200_000)
    sandbox.remove()
  }, 180_000)
})

describe("worker threads' log lines", () => {
  it("go only where the run sends them: `--backend workers --json --quiet` prints nothing but the JSON, and the lines are in the database", async () => {
    const sandbox = makeSandbox({ CURATOR_CLI_N: "6" })
    const dbFile = path.join(scratch, "workers-quiet.db")
    const child = start(
      ["run", path.resolve(import.meta.dirname, "fixtures/cliPipelines.ts"), "--backend", "workers", "--concurrency", "2", "--db-file", dbFile, "--json", "--quiet"],
      { env: sandbox.env }
    )
    let stdout = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    const code = await new Promise<number | null>((resolve) => child.on("exit", (exitCode) => resolve(exitCode)))
    expect(code).toBe(0)
    expect(stdout).not.toMatch(/squaring/)
    expect(() => JSON.parse(stdout)).not.toThrow()
    const db = new Database(dbFile, { readonly: true })
    const lines = db.prepare("SELECT message FROM logs WHERE message LIKE 'squaring %'").all() as Array<{ message: string }>
    db.close()
    expect(lines).toHaveLength(6)
    sandbox.remove()
  }, 180_000)
})

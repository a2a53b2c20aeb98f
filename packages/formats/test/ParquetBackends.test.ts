/**
 * The Parquet reader and sink on every local backend: the same files read,
 * gathered into the same row groups and shards, and written byte for byte
 * the same whether the indices run on fibers or on worker threads.
 */
import { Backend, Pipeline, RunResult } from "@curator/core"
import { Parquet } from "@curator/formats"
import { SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Logger, Stream } from "effect"
import { parquetWriteBuffer } from "hyparquet-writer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Row } from "./fixtures/rowGroups.js"

// The fixture reads this when it loads, here and in every worker thread.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "curator-parquet-backends-"))
process.env.CURATOR_TEST_FORMATS_DIR = scratch
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))
const fixture = fileURLToPath(new URL("./fixtures/parquetShards.ts", import.meta.url))

const inputs: Record<string, ReadonlyArray<Row>> = {
  "a.parquet": Array.from({ length: 60 }, (_, id) => ({ id, text: `row ${id}` })),
  "b.parquet": Array.from({ length: 7 }, (_, id) => ({ id: 100 + id, text: `b ${id}` })),
  "c.parquet": []
}

const writeInputs = Effect.forEach(Object.entries(inputs), ([name, rows]) =>
  Effect.sync(() =>
    fs.writeFileSync(
      path.join(scratch, "in", name),
      // Row groups of 16: the reader's chunks straddle the sink's groups of 10 and files of 25.
      new Uint8Array(parquetWriteBuffer({
        columnData: [
          { name: "id", type: "INT32", nullable: false, data: rows.map((row) => row.id) },
          { name: "text", type: "STRING", nullable: false, data: rows.map((row) => row.text) }
        ],
        rowGroupSize: 16
      }))
    )))

/** Runs the fixture's pipeline on `backend` into a fresh database; returns its result and the threads that computed rows. */
const runOn = (name: string, backend: Layer.Layer<Backend.Backend, Backend.BackendError>) =>
  Effect.gen(function* () {
    const { shards } = yield* Effect.promise(() => import("./fixtures/parquetShards.js"))
    fs.rmSync(path.join(scratch, "out"), { recursive: true, force: true })
    fs.rmSync(path.join(scratch, "threads"), { recursive: true, force: true })
    fs.mkdirSync(path.join(scratch, "threads"))
    const result = yield* Pipeline.run(Pipeline.withOptions(shards, { dbDir: path.join(scratch, `db-${name}`) }), { concurrency: 2 }).pipe(
      Effect.provide(Layer.mergeAll(backend, SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger)))
    )
    fs.renameSync(path.join(scratch, "out"), path.join(scratch, `out-${name}`))
    return { result, threads: fs.readdirSync(path.join(scratch, "threads")).sort() }
  })

const shardNames = ["000000-00000.parquet", "000000-00001.parquet", "000000-00002.parquet", "000001-00000.parquet"]

describe("Parquet on every backend", () => {
  it.live("fibers and worker threads read, group, shard and write the same bytes", () =>
    Effect.gen(function* () {
      fs.mkdirSync(path.join(scratch, "in"))
      yield* writeInputs
      const fibers = yield* runOn("fibers", Backend.layerFibers)
      const threads = yield* runOn("workers", WorkerBackend.layer({ module: fixture, exportName: "shards", threads: 2 }))

      expect(fibers.threads).toEqual(["thread-0"])
      expect(threads.threads.length).toBeGreaterThan(0)
      expect(threads.threads).not.toContain("thread-0")
      for (const [name, { result }] of [["fibers", fibers], ["workers", threads]] as const) {
        expect(RunResult.counts(result)).toEqual({ computed: 3, cached: 0, failed: 0 })
        const out = path.join(scratch, `out-${name}`)
        // a.parquet: three shards; b.parquet: one; the empty c.parquet: none.
        expect(RunResult.paths(result).map((paths) => paths?.map((file) => path.relative(path.join(scratch, "out"), file)))).toEqual([
          shardNames.slice(0, 3),
          shardNames.slice(3),
          []
        ])
        expect(fs.readdirSync(out).sort()).toEqual(shardNames)
        const files = shardNames.map((file) => path.join(out, file))
        expect(yield* Effect.forEach(files, Parquet.rowGroupCount)).toEqual([3, 3, 1, 1])
        const back = yield* Effect.forEach(files, (file) => Stream.runCollect(Parquet.read({ schema: Row })(file)))
        expect(back.flatMap((chunk) => Chunk.toReadonlyArray(chunk))).toEqual(
          [...inputs["a.parquet"]!, ...inputs["b.parquet"]!].map((row) => ({ ...row, text: row.text.toUpperCase() }))
        )
      }
      for (const file of shardNames) {
        expect(fs.readFileSync(path.join(scratch, "out-workers", file)).equals(fs.readFileSync(path.join(scratch, "out-fibers", file)))).toBe(true)
      }
    }), { timeout: 60_000 })
})

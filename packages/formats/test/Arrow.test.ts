import { Pipeline, RunResult, Source } from "@curator/core"
import { Arrow, FileSource } from "@curator/formats"
import { describe, expect, it } from "@effect/vitest"
import { tableFromIPC, tableFromJSON, tableToIPC } from "apache-arrow"
import { Chunk, Effect, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { outcomes, recorded, runIn, tempDir } from "./helpers.js"

const Row = Schema.Struct({ id: Schema.Number, text: Schema.String, ok: Schema.Boolean })
type Row = typeof Row.Type

const rowsOf = (index: number): Array<Row> => Array.from({ length: 50 }, (_, i) => ({ id: index * 100 + i, text: `t${i}`, ok: i % 2 === 0 }))

/** An Arrow IPC stream file of `batches` record batches of 10 rows each, written by apache-arrow directly. */
const writeBatches = (file: string, batches: number) => {
  const tables = Array.from({ length: batches }, (_, b) =>
    tableFromJSON(Array.from({ length: 10 }, (_, i) => ({ id: b * 10 + i, text: `b${b}`, ok: true }))))
  const table = tables.slice(1).reduce((all, next) => all.concat(next), tables[0]!)
  expect(table.batches).toHaveLength(batches)
  fs.writeFileSync(file, tableToIPC(table, "stream"))
}

describe("Arrow", () => {
  for (const format of ["file", "stream"] as const) {
    it.scoped(`round trip in the IPC ${format} format: written through a pipeline, read back by apache-arrow and by Arrow.read`, () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const source = Source.make({ name: "Rows", params: { n: 3 }, length: 3, items: (index) => Effect.succeed(rowsOf(index)) })
        const result = yield* runIn(
          Pipeline.from(source).pipe(Pipeline.write(Arrow.write({ dir: path.join(dir, "out"), schema: Row, format }))),
          path.join(dir, "db")
        )
        expect(RunResult.counts(result)).toEqual({ computed: 3, cached: 0, failed: 0 })
        const file = path.join(dir, "out", "000002.arrow")
        const table = tableFromIPC(fs.readFileSync(file))
        expect(table.numRows).toBe(50)
        expect(table.toArray().map((row) => row.toJSON())).toEqual(rowsOf(2))
        const back = yield* Stream.runCollect(Arrow.read({ schema: Row })(file))
        expect(Chunk.toReadonlyArray(back)).toEqual(rowsOf(2))
      }))
  }

  it.scoped("reads a range of record batches", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "batches.arrows")
      writeBatches(file, 5)
      const rows = yield* Stream.runCollect(Arrow.read({ batches: { start: 1, end: 3 } })(file))
      expect(Chunk.toReadonlyArray(rows).map((row) => row.id)).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i))
    }))

  it.scoped("a malformed file fails its index naming file and position; the other indices complete", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      writeBatches(path.join(dir, "a.arrows"), 1)
      fs.writeFileSync(path.join(dir, "b.arrows"), "this is not arrow at all")
      // c: a valid file whose second batch has a row the schema refuses (text "b1" ≠ "b0").
      writeBatches(path.join(dir, "c.arrows"), 2)
      const Strict = Schema.Struct({ id: Schema.Number, text: Schema.Literal("b0"), ok: Schema.Boolean })
      writeBatches(path.join(dir, "d.arrows"), 1)
      const result = yield* runIn(
        Pipeline.from(FileSource.glob("*.arrows", { root: dir, read: Arrow.read({ schema: Strict }) })).pipe(
          Pipeline.write(Arrow.write({ dir: path.join(dir, "out") }))
        ),
        path.join(dir, "db")
      )
      const byIndex = outcomes(result)
      expect(byIndex.map(([, tag]) => tag)).toEqual(["Completed", "Failed", "Failed", "Completed"])
      expect(byIndex[1]![2]).toContain(`${path.join(dir, "b.arrows")} (header): not a readable Arrow IPC file`)
      expect(byIndex[2]![2]).toContain(`${path.join(dir, "c.arrows")} (record batch 1, row 0): does not match the schema`)
      expect(recorded(result.location!).map((row) => row.status)).toEqual(["completed", "error", "error", "completed"])
      expect(tableFromIPC(fs.readFileSync(path.join(dir, "out", "000003.arrow"))).numRows).toBe(10)
    }))
})

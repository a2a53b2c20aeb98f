import { Filter, Pipeline, Source } from "@curator/core"
import { FileSource, JsonLines } from "@curator/formats"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { outcomes, recorded, runIn, tempDir } from "./helpers.js"

const Row = Schema.Struct({ id: Schema.Number, text: Schema.String })
type Row = typeof Row.Type

const writeLines = (file: string, lines: ReadonlyArray<string>) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, lines.join("\n") + "\n")
}

describe("JsonLines", () => {
  it.scoped("round trip: files by glob → filter → JSON Lines sink, read back line by line", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      for (let f = 0; f < 3; f++) {
        writeLines(path.join(dir, "in", `part-${f}.jsonl`), Array.from({ length: 5 }, (_, i) => JSON.stringify({ id: f * 10 + i, text: `row ${i}` })))
      }
      const pipeline = Pipeline.from(FileSource.glob("in/*.jsonl", { root: dir, read: JsonLines.read(Row) })).pipe(
        Pipeline.filter(Filter.map({ name: "Upper", f: (row: Row) => ({ ...row, text: row.text.toUpperCase() }) })),
        Pipeline.write(JsonLines.write({ dir: path.join(dir, "out"), schema: Row }))
      )
      const result = yield* runIn(pipeline, path.join(dir, "db"))
      expect(outcomes(result).map(([, tag]) => tag)).toEqual(["Completed", "Completed", "Completed"])
      const back = yield* Stream.runCollect(JsonLines.read(Row)(path.join(dir, "out", "000001.jsonl")))
      expect([...back]).toEqual(Array.from({ length: 5 }, (_, i) => ({ id: 10 + i, text: `ROW ${i}` })))
    }))

  it.scoped("the sink writes every item of every chunk as one line, in order, and no file for an index without items", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const source = Source.make({
        name: "Chunked",
        length: 2,
        read: (index) => index === 0 ? Stream.rechunk(Stream.fromIterable(Array.from({ length: 7 }, (_, i) => ({ id: i, text: `t${i}` }))), 3) : Stream.empty
      })
      const result = yield* runIn(Pipeline.from(source).pipe(Pipeline.write(JsonLines.write<Row>({ dir: path.join(dir, "out"), schema: Row }))), path.join(dir, "db"))
      expect(outcomes(result).map(([, tag]) => tag)).toEqual(["Completed", "Completed"])
      expect(fs.readFileSync(path.join(dir, "out", "000000.jsonl"), "utf8")).toBe(
        Array.from({ length: 7 }, (_, i) => JSON.stringify({ id: i, text: `t${i}` }) + "\n").join("")
      )
      expect(fs.readdirSync(path.join(dir, "out"))).toEqual(["000000.jsonl"])
    }))

  it.scoped("an item the sink's schema cannot encode fails its index naming the item; no file is left, the other indices complete", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const source = Source.make({
        name: "Rows",
        length: 2,
        // A bad value from user code: index 1's second row has a string id.
        read: (index) => Stream.make({ id: index, text: "a" }, { id: index === 1 ? "one" : index, text: "b" } as unknown as Row)
      })
      const result = yield* runIn(Pipeline.from(source).pipe(Pipeline.write(JsonLines.write<Row>({ dir: path.join(dir, "out"), schema: Row }))), path.join(dir, "db"))
      const byIndex = outcomes(result)
      expect(byIndex.map(([, tag]) => tag)).toEqual(["Completed", "Failed"])
      expect(byIndex[1]![2]).toContain(`${path.join(dir, "out", "000001.jsonl")} (item 1): cannot be encoded`)
      expect(fs.readdirSync(path.join(dir, "out"))).toEqual(["000000.jsonl"])
    }))

  it.scoped("a bad line fails its index naming file and line; the other indices complete and are recorded", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      writeLines(path.join(dir, "a.jsonl"), [JSON.stringify({ id: 1, text: "a" })])
      writeLines(path.join(dir, "b.jsonl"), [JSON.stringify({ id: 2, text: "b" }), "", "{not json", JSON.stringify({ id: 3, text: "c" })])
      writeLines(path.join(dir, "c.jsonl"), [JSON.stringify({ id: 4, text: "d" }), JSON.stringify({ id: "five", text: "e" })])
      writeLines(path.join(dir, "d.jsonl"), [JSON.stringify({ id: 6, text: "f" })])
      const pipeline = Pipeline.from(FileSource.glob("*.jsonl", { root: dir, read: JsonLines.read(Row) })).pipe(
        Pipeline.write(JsonLines.write({ dir: path.join(dir, "out") }))
      )
      const result = yield* runIn(pipeline, path.join(dir, "db"))
      const byIndex = outcomes(result)
      expect(byIndex.map(([, tag]) => tag)).toEqual(["Completed", "Failed", "Failed", "Completed"])
      expect(byIndex[1]![2]).toContain(`${path.join(dir, "b.jsonl")} (line 3): not JSON`)
      expect(byIndex[2]![2]).toContain(`${path.join(dir, "c.jsonl")} (line 2): does not match the schema`)
      const rows = recorded(result.location!)
      expect(rows.map((row) => row.status)).toEqual(["completed", "error", "error", "completed"])
      expect(rows[1]!.error).toContain("line 3")
      expect(fs.readFileSync(path.join(dir, "out", "000003.jsonl"), "utf8")).toBe(JSON.stringify({ id: 6, text: "f" }) + "\n")
    }))

  it.scoped("CRLF line endings and a last line without a newline", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "crlf.jsonl")
      fs.writeFileSync(file, `${JSON.stringify({ id: 1, text: "a" })}\r\n\r\n${JSON.stringify({ id: 2, text: "b" })}`)
      const rows = yield* Stream.runCollect(JsonLines.read(Row)(file))
      expect([...rows]).toEqual([{ id: 1, text: "a" }, { id: 2, text: "b" }])
      fs.writeFileSync(file, `${JSON.stringify({ id: 1, text: "a" })}\n{"id": 2`)
      const failed = yield* Effect.flip(Stream.runCollect(JsonLines.read(Row)(file)))
      expect(failed.message).toContain(`${file} (line 2): not JSON`)
    }))

  it.scoped("reads a file of 10^5 lines lazily, in order", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "big.jsonl")
      writeLines(file, Array.from({ length: 100_000 }, (_, i) => JSON.stringify({ id: i, text: "x" })))
      const count = yield* JsonLines.read(Row)(file).pipe(
        Stream.runFold({ n: 0, ordered: true }, (acc, row) => ({ n: acc.n + 1, ordered: acc.ordered && row.id === acc.n }))
      )
      expect(count).toEqual({ n: 100_000, ordered: true })
    }))
})

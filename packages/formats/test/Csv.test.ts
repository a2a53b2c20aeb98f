import { Filter, Pipeline, RunResult } from "@curator/core"
import { Csv, FileSource } from "@curator/formats"
import { describe, expect, it } from "@effect/vitest"
import { parse } from "csv-parse/sync"
import { Chunk, Effect, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { outcomes, recorded, runIn, tempDir } from "./helpers.js"

// CSV fields are text: the schema types them on the way in and back to text on the way out.
const Row = Schema.Struct({ id: Schema.NumberFromString, name: Schema.String, score: Schema.NumberFromString })
type Row = typeof Row.Type

describe("Csv", () => {
  it.scoped("round trip: typed columns through a pipeline, quoting kept, read back by csv-parse and by Csv.read", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      fs.mkdirSync(path.join(dir, "in"))
      fs.writeFileSync(path.join(dir, "in", "a.csv"), 'id,name,score\n1,"Smith, Jane",2.5\n2,"say ""hi""",3\n\n3,plain,-1\n')
      fs.writeFileSync(path.join(dir, "in", "b.csv"), "id,name,score\n4,x,10\n")
      const pipeline = Pipeline.from(FileSource.glob("in/*.csv", { root: dir, read: Csv.read(Row) })).pipe(
        Pipeline.filter(Filter.map({ name: "Double", f: (row: Row) => ({ ...row, score: row.score * 2 }) })),
        Pipeline.write(Csv.write({ dir: path.join(dir, "out"), schema: Row }))
      )
      const result = yield* runIn(pipeline, path.join(dir, "db"))
      expect(RunResult.counts(result)).toEqual({ computed: 2, cached: 0, failed: 0 })
      const written = fs.readFileSync(path.join(dir, "out", "000000.csv"), "utf8")
      expect(parse(written, { columns: true })).toEqual([
        { id: "1", name: "Smith, Jane", score: "5" },
        { id: "2", name: 'say "hi"', score: "6" },
        { id: "3", name: "plain", score: "-2" }
      ])
      const back = yield* Stream.runCollect(Csv.read(Row)(path.join(dir, "out", "000000.csv")))
      expect(Chunk.toReadonlyArray(back)).toEqual([
        { id: 1, name: "Smith, Jane", score: 5 },
        { id: 2, name: 'say "hi"', score: 6 },
        { id: 3, name: "plain", score: -2 }
      ])
    }))

  it.scoped("a malformed file fails its index naming file and line; the other indices complete", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      fs.writeFileSync(path.join(dir, "a.csv"), "id,name,score\n1,a,1\n")
      // b: line 3 has a field too many.
      fs.writeFileSync(path.join(dir, "b.csv"), "id,name,score\n1,a,1\n2,b,2,extra\n")
      // c: line 6 holds a score that is not a number (after an empty line and a quoted field over two lines).
      fs.writeFileSync(path.join(dir, "c.csv"), "id,name,score\n1,a,1\n\n2,\"b\nb\",2\n3,c,lots\n")
      fs.writeFileSync(path.join(dir, "d.csv"), "id,name,score\n9,d,9\n")
      const result = yield* runIn(
        Pipeline.from(FileSource.glob("*.csv", { root: dir, read: Csv.read(Row) })).pipe(
          Pipeline.write(Csv.write({ dir: path.join(dir, "out"), schema: Row }))
        ),
        path.join(dir, "db")
      )
      const byIndex = outcomes(result)
      expect(byIndex.map(([, tag]) => tag)).toEqual(["Completed", "Failed", "Failed", "Completed"])
      expect(byIndex[1]![2]).toContain(`${path.join(dir, "b.csv")} (line 3)`)
      expect(byIndex[2]![2]).toContain(`${path.join(dir, "c.csv")} (line 6): does not match the schema`)
      expect(recorded(result.location!).map((row) => row.status)).toEqual(["completed", "error", "error", "completed"])
      expect(fs.readFileSync(path.join(dir, "out", "000003.csv"), "utf8")).toBe("id,name,score\n9,d,9\n")
    }))

  it("refuses a schema that is not a struct, saying what it needs", () => {
    expect(() => Csv.write({ dir: "/tmp/unused", schema: Schema.String })).toThrow(/Csv.write needs a Schema.Struct/)
  })
})

import { Pipeline, RunResult } from "@curator/core"
import { Csv, FileSource, JsonLines, Parquet } from "@curator/formats"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { FileSink } from "@curator/node"
import { runIn, tempDir } from "./helpers.js"

const touch = (file: string, contents = "x") => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, contents)
}

describe("FileSource", () => {
  it.scoped("one index per matching file, in code-point order, with the pattern and root as params", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      for (const name of ["b/2.txt", "a/10.txt", "a/9.txt", "B/1.txt", "a/skip.bin", ".hidden/x.txt"]) touch(path.join(dir, name))
      const source = FileSource.glob("**/*.txt", { root: dir })
      expect(source.params).toEqual({ pattern: "**/*.txt", root: dir })
      expect(yield* source.length).toBe(4)
      const paths = yield* Effect.forEach([0, 1, 2, 3], (index) => Stream.runCollect(source.read(index)))
      expect(paths.map(Chunk.toReadonlyArray)).toEqual([["B/1.txt"], ["a/10.txt"], ["a/9.txt"], ["b/2.txt"]].map(([name]) => [path.join(dir, name!)]))
    }))

  it("the reader's format and options are part of the source's params, so reading differently is another configuration", () => {
    const Row = Schema.Struct({ id: Schema.NumberFromString })
    const paramsOf = (read: FileSource.Reader<unknown>) => FileSource.glob("*", { root: "/data", read }).params
    expect(paramsOf(Csv.read(Row))).toEqual({
      pattern: "*",
      root: "/data",
      reader: { format: "csv", delimiter: ",", schema: "{ readonly id: NumberFromString }" }
    })
    expect(paramsOf(Csv.read(Row, { delimiter: ";" }))).not.toEqual(paramsOf(Csv.read(Row)))
    expect(paramsOf(JsonLines.read(Row))).not.toEqual(paramsOf(JsonLines.read(Schema.Struct({ id: Schema.Number }))))
    expect(paramsOf(Parquet.read({ columns: ["a"] }))).toEqual({ pattern: "*", root: "/data", reader: { format: "parquet", columns: ["a"] } })
  })

  it.scoped("files as bytes through a pipeline; the fingerprint changes when a file does, and its index is then stale", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      touch(path.join(dir, "in", "a.bin"), "hello")
      touch(path.join(dir, "in", "b.bin"), "world!")
      const source = FileSource.glob("in/*.bin", { root: dir, read: FileSource.bytes })
      const result = yield* runIn(
        Pipeline.from(source).pipe(Pipeline.write(FileSink.jsonLines<Uint8Array>({ dir: path.join(dir, "out") }))),
        path.join(dir, "db")
      )
      expect(RunResult.counts(result)).toEqual({ computed: 2, cached: 0, failed: 0 })
      const bytes = yield* Stream.runCollect(source.read(1))
      expect(Buffer.from(Chunk.unsafeGet(bytes, 0)).toString()).toBe("world!")

      const before = yield* source.fingerprint(0)
      expect(before).toMatch(/^in\/a\.bin:5:\d+$/)
      touch(path.join(dir, "in", "a.bin"), "hello, again")
      expect(yield* source.fingerprint(0)).toMatch(/^in\/a\.bin:12:\d+$/)

      // The run reads it: the changed file's index is stale and computed again, the other is kept.
      const again = yield* runIn(
        Pipeline.from(FileSource.glob("in/*.bin", { root: dir, read: FileSource.bytes })).pipe(
          Pipeline.write(FileSink.jsonLines<Uint8Array>({ dir: path.join(dir, "out") }))
        ),
        path.join(dir, "db")
      )
      expect(again.outcomes.map((o) => o._tag === "Completed" && o.cached)).toEqual([false, true])
      expect(again.redone).toEqual([0])
    }))

  it.scoped("a missing root gives no indices; a file gone before its index runs fails that index only", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      expect(yield* FileSource.glob("*.txt", { root: path.join(dir, "nowhere") }).length).toBe(0)
      touch(path.join(dir, "a.txt"))
      touch(path.join(dir, "b.txt"))
      const source = FileSource.glob("*.txt", { root: dir, read: FileSource.bytes })
      expect(yield* source.length).toBe(2)
      fs.rmSync(path.join(dir, "a.txt"))
      const result = yield* runIn(
        Pipeline.from(source).pipe(Pipeline.write(FileSink.jsonLines<Uint8Array>({ dir: path.join(dir, "out") }))),
        path.join(dir, "db")
      )
      expect(result.outcomes.map((o) => o._tag)).toEqual(["Failed", "Completed"])
      expect(result.outcomes[0]!._tag === "Failed" && result.outcomes[0]!.message).toContain(`${path.join(dir, "a.txt")}: cannot read`)
    }))
})

import { Filter, Pipeline, RunResult, Source } from "@curator/core"
import { FileSource, Parquet } from "@curator/formats"
import { DuckDBInstance } from "@duckdb/node-api"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Layer, Schema, Stream } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Row, rowGroupsPipeline } from "./fixtures/rowGroups.js"
import { outcomes, recorded, runIn, tempDir } from "./helpers.js"

const repositoryRoot = path.resolve(import.meta.dirname, "../../..")

const Record_ = Schema.Struct({
  id: Schema.Int,
  score: Schema.Number,
  text: Schema.String,
  keep: Schema.Boolean,
  big: Schema.BigIntFromSelf,
  at: Schema.DateFromSelf,
  note: Schema.NullOr(Schema.String)
})
type Record_ = typeof Record_.Type

const makeRecord = (id: number): Record_ => ({
  id,
  score: id / 4,
  text: `text ${id} ${"é".repeat(id % 3)}`,
  keep: id % 2 === 0,
  big: BigInt(id) * 10_000_000_000n,
  at: new Date(Date.UTC(2026, 0, 1) + id * 1000),
  note: id % 5 === 0 ? null : `note ${id}`
})

/** Writes `rows` into `file` with Curator's sink (one index), in row groups of `rowGroupSize`. */
const writeParquet = (file: string, rows: ReadonlyArray<{ readonly id: number; readonly text: string }>, rowGroupSize: number) =>
  Parquet.write({ dir: path.dirname(file), fileName: () => path.basename(file), schema: Row, rowGroupSize }).write(Stream.fromIterable(rows), 0)

/** Every row of a Parquet file, read by DuckDB (an independent reader). */
const readWithDuckDb = (file: string, orderBy: string) =>
  Effect.promise(async () => {
    const instance = await DuckDBInstance.create(":memory:")
    const connection = await instance.connect()
    try {
      const reader = await connection.runAndReadAll(`SELECT * FROM read_parquet('${file.replaceAll("'", "''")}') ORDER BY ${orderBy}`)
      return { rows: reader.getRowObjectsJS(), types: reader.columnTypes().map(String) }
    } finally {
      connection.closeSync()
      instance.closeSync()
    }
  })

describe("Parquet", () => {
  it.scoped("round trip through a pipeline: every column type, with compression, read back by hyparquet and by DuckDB", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const shards = 3
      const perShard = 250
      const source = Source.make({
        name: "Records",
        params: { shards },
        length: shards,
        read: (index) => Stream.range(index * perShard, (index + 1) * perShard - 1).pipe(Stream.map(makeRecord))
      })
      for (const codec of ["SNAPPY", "GZIP", "UNCOMPRESSED"] as const) {
        const out = path.join(dir, codec)
        const result = yield* runIn(
          Pipeline.from(source).pipe(Pipeline.write(Parquet.write({ dir: out, schema: Record_, codec, rowGroupSize: 100 }))),
          path.join(dir, "db")
        )
        expect(RunResult.counts(result)).toEqual({ computed: 3, cached: 0, failed: 0 })
        const file = path.join(out, "000001.parquet")
        expect(RunResult.paths(result)[1]).toEqual([file])
        expect(yield* Parquet.rowGroupCount(file)).toBe(3)

        const expected = Array.from({ length: perShard }, (_, i) => makeRecord(perShard + i))
        const back = yield* Stream.runCollect(Parquet.read({ schema: Record_ })(file))
        expect(Chunk.toReadonlyArray(back)).toEqual(expected)

        const duck = yield* readWithDuckDb(file, "id")
        expect(duck.types).toEqual(["INTEGER", "DOUBLE", "VARCHAR", "BOOLEAN", "BIGINT", "TIMESTAMP", "VARCHAR"])
        expect(duck.rows).toHaveLength(perShard)
        expect(duck.rows.map((row) => ({ ...row, at: new Date(String(row.at) + "Z") }))).toEqual(expected)
      }
    }), { timeout: 60_000 })

  it.scoped("column selection reads only the columns asked for", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "rows.parquet")
      yield* writeParquet(file, Array.from({ length: 10 }, (_, id) => ({ id, text: `t${id}` })), 4)
      const ids = yield* Stream.runCollect(Parquet.read({ columns: ["id"] })(file))
      expect(Chunk.toReadonlyArray(ids)).toEqual(Array.from({ length: 10 }, (_, id) => ({ id })))
      const middle = yield* Stream.runCollect(Parquet.read({ rowGroups: { start: 1, end: 2 } })(file))
      expect(Chunk.toReadonlyArray(middle).map((row) => row.id)).toEqual([4, 5, 6, 7])
    }))

  it.scoped("a malformed file fails its index naming file and position; the other indices complete", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const rows = Array.from({ length: 20 }, (_, id) => ({ id, text: `t${id}` }))
      yield* writeParquet(path.join(dir, "a.parquet"), rows, 10)
      yield* writeParquet(path.join(dir, "d.parquet"), rows, 10)
      // b: truncated in the middle, its footer gone.
      const whole = fs.readFileSync(path.join(dir, "a.parquet"))
      fs.writeFileSync(path.join(dir, "b.parquet"), whole.subarray(0, Math.floor(whole.length / 2)))
      // c: a valid file whose second row group holds a value the schema refuses.
      const Loose = Schema.Struct({ id: Schema.Number, text: Schema.String })
      yield* Parquet.write({ dir, fileName: () => "c.parquet", schema: Loose, rowGroupSize: 10 })
        .write(Stream.fromIterable(rows.map((row) => (row.id === 13 ? { ...row, id: 13.5 } : row))), 0)

      const result = yield* runIn(
        Pipeline.from(FileSource.glob("*.parquet", { root: dir, read: Parquet.read({ schema: Row }) })).pipe(
          Pipeline.write(Parquet.write({ dir: path.join(dir, "out"), schema: Row }))
        ),
        path.join(dir, "db")
      )
      const byIndex = outcomes(result)
      expect(byIndex.map(([, tag]) => tag)).toEqual(["Completed", "Failed", "Failed", "Completed"])
      expect(byIndex[1]![2]).toContain(`${path.join(dir, "b.parquet")} (footer): not a readable Parquet file`)
      expect(byIndex[2]![2]).toContain(`${path.join(dir, "c.parquet")} (row group 1, row 3): does not match the schema`)
      expect(recorded(result.location!).map((row) => row.status)).toEqual(["completed", "error", "error", "completed"])
      const copied = yield* Stream.runCollect(Parquet.read({ schema: Row })(path.join(dir, "out", "000003.parquet")))
      expect(Chunk.toReadonlyArray(copied)).toEqual(rows)
    }))

  it.live("a run killed mid-way over row groups resumes: every row group written exactly once", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const groups = 12
      const perGroup = 500
      const file = path.join(dir, "big.parquet")
      const rows = Array.from({ length: groups * perGroup }, (_, id) => ({ id, text: `row ${id}` }))
      yield* writeParquet(file, rows, perGroup)
      const outDir = path.join(dir, "out")
      const journal = path.join(dir, "journal")
      const dbDir = path.join(dir, "db")
      fs.writeFileSync(journal, "")
      const journaled = () => fs.readFileSync(journal, "utf8").split("\n").filter((line) => line !== "").map(Number)

      // A real process, killed with SIGKILL once it has written four row groups.
      const child = spawn(
        process.execPath,
        ["--conditions=@curator/source", "--import", "tsx", path.join(import.meta.dirname, "fixtures", "runRowGroups.ts"), file, outDir, journal, dbDir, "400"],
        { cwd: repositoryRoot, stdio: ["ignore", "pipe", "pipe"] }
      )
      yield* Effect.addFinalizer(() => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL")))
      let stderr = ""
      child.stderr.on("data", (chunk) => (stderr += chunk))
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)))
      yield* Effect.promise(async () => {
        while (journaled().length < 4) {
          if (child.exitCode !== null) throw new Error(`the run ended before it was killed: ${stderr}`)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        child.kill("SIGKILL")
      })
      expect(yield* Effect.promise(() => exited)).toBe("SIGKILL")
      const before = journaled()
      expect(before.length).toBeLessThan(groups)

      const resumed = yield* runIn(rowGroupsPipeline(file, outDir, journal, 0), dbDir)
      const counts = RunResult.counts(resumed)
      expect(counts.failed).toBe(0)
      // The checkpoint commits in groups: the last shards written before the kill may not be
      // recorded yet, and are then written again (atomically replacing the same file).
      expect(counts.cached).toBeGreaterThanOrEqual(1)
      expect(counts.cached + counts.computed).toBe(groups)
      // The resumed run wrote only the row groups the killed one had not recorded.
      const cached = resumed.outcomes.filter((o) => o._tag === "Completed" && o.cached).map((o) => o.index)
      const rewritten = journaled().slice(before.length)
      expect(rewritten.filter((index) => cached.includes(index))).toEqual([])
      expect([...cached, ...rewritten].sort((a, b) => a - b)).toEqual(Array.from({ length: groups }, (_, i) => i))
      expect(recorded(resumed.location!).every((row) => row.status === "completed")).toBe(true)

      // The output: one shard per row group, every input row exactly once.
      expect(fs.readdirSync(outDir).filter((name) => name.endsWith(".parquet"))).toHaveLength(groups)
      const output = yield* FileSource.glob("out/*.parquet", { root: dir, read: Parquet.read({ schema: Row }) }).pipe(
        (source) => Stream.range(0, groups - 1).pipe(Stream.flatMap((index) => source.read(index))),
        Stream.runCollect
      )
      expect(Chunk.toReadonlyArray(output)).toEqual(rows)
    }).pipe(Effect.scoped), { timeout: 120_000 })

  class Normaliser extends Context.Tag("test/Normaliser")<Normaliser, { readonly normalise: (text: string) => Effect.Effect<string> }>() {}

  it.live("a pipeline over row groups that needs a service, with a concurrent stream operator", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "in.parquet")
      const rows = Array.from({ length: 400 }, (_, id) => ({ id, text: `  Row ${id}  ` }))
      yield* writeParquet(file, rows, 100)
      const source = Parquet.rowGroups(file, { schema: Row, columns: ["id", "text"] })
      expect(source.params).toEqual({ file, columns: ["id", "text"], schema: "{ readonly id: Int; readonly text: string }" })
      const normalise = Filter.make({
        name: "Normalise",
        apply: (items: Stream.Stream<Row>) =>
          items.pipe(
            Stream.filter((row) => row.id % 3 !== 0),
            // Out of order on purpose: the sink must still get one group's rows in their order.
            Stream.mapEffect((row) =>
              Effect.flatMap(Normaliser, (n) => n.normalise(row.text)).pipe(
                Effect.delay(`${(row.id * 7) % 5} millis`),
                Effect.map((text) => ({ ...row, text }))
              ), { concurrency: 8 })
          )
      })
      const result = yield* runIn(
        Pipeline.from(source).pipe(Pipeline.filter(normalise), Pipeline.write(Parquet.write({ dir: path.join(dir, "out"), schema: Row }))),
        path.join(dir, "db")
      ).pipe(Effect.provide(Layer.succeed(Normaliser, { normalise: (text) => Effect.succeed(text.trim().toLowerCase()) })))
      expect(RunResult.counts(result)).toEqual({ computed: 4, cached: 0, failed: 0 })
      const fingerprint = yield* source.fingerprint(2)
      expect(fingerprint).toMatch(/^in\.parquet:\d+:\d+#2$/)
      const back = yield* Stream.runCollect(Parquet.read({ schema: Row })(path.join(dir, "out", "000002.parquet")))
      expect(Chunk.toReadonlyArray(back)).toEqual(
        rows.filter((row) => row.id >= 200 && row.id < 300 && row.id % 3 !== 0).map((row) => ({ id: row.id, text: `row ${row.id}` }))
      )
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("Parquet.write", () => {
  it.scoped("a row that does not fit the schema fails its index naming the file and the row; the others are written", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const rows = (index: number): ReadonlyArray<unknown> =>
        Array.from({ length: 30 }, (_, id) => (index === 1 && id === 17 ? { id, text: 5 } : { id, text: `t${id}` }))
      const source = Source.make({ name: "Rows", params: { n: 3 }, length: 3, items: (index) => Effect.succeed(rows(index) as ReadonlyArray<Row>) })
      const result = yield* runIn(
        Pipeline.from(source).pipe(Pipeline.write(Parquet.write({ dir: path.join(dir, "out"), schema: Row, rowGroupSize: 10 }))),
        path.join(dir, "db")
      )
      const byIndex = outcomes(result)
      expect(byIndex.map(([, tag]) => tag)).toEqual(["Completed", "Failed", "Completed"])
      expect(byIndex[1]![2]).toContain(`${path.join(dir, "out", "000001.parquet")} (row 17): does not match the schema`)
      expect(fs.existsSync(path.join(dir, "out", "000001.parquet"))).toBe(false)
      expect(fs.readdirSync(path.join(dir, "out")).filter((name) => name.includes(".tmp"))).toEqual([])
      const back = yield* Stream.runCollect(Parquet.read({ schema: Row })(path.join(dir, "out", "000002.parquet")))
      expect(Chunk.toReadonlyArray(back)).toEqual(rows(2))
    }))

  it.scoped("rowsPerFile splits an index into shards, every path returned and recorded", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const rows = Array.from({ length: 60 }, (_, id) => ({ id, text: `t${id}` }))
      const source = Source.make({ name: "Rows", params: { n: 1 }, length: 1, read: () => Stream.fromIterable(rows) })
      const out = path.join(dir, "out")
      const result = yield* runIn(
        Pipeline.from(source).pipe(Pipeline.write(Parquet.write({ dir: out, schema: Row, rowGroupSize: 10, rowsPerFile: 25 }))),
        path.join(dir, "db")
      )
      const shards = ["000000-00000.parquet", "000000-00001.parquet", "000000-00002.parquet"].map((name) => path.join(out, name))
      expect(RunResult.paths(result)).toEqual([shards])
      const perShard = yield* Effect.forEach(shards, (file) => Stream.runCollect(Parquet.read({ schema: Row })(file)))
      expect(perShard.map((chunk) => chunk.length)).toEqual([25, 25, 10])
      expect(perShard.flatMap((chunk) => Chunk.toReadonlyArray(chunk))).toEqual(rows)
      expect(yield* Effect.forEach(shards, Parquet.rowGroupCount)).toEqual([3, 3, 1])
    }))

  it.scoped("rows arriving in chunks of any size make the same row groups and shards", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const rows = Array.from({ length: 60 }, (_, id) => ({ id, text: `t${id}` }))
      // Chunks of 7 straddle both the row groups (10) and the files (25); chunks of 30 hold several groups.
      for (const chunkSize of [1, 7, 30]) {
        const source = Source.make({
          name: "Rows",
          params: { chunkSize },
          length: 1,
          read: () => Stream.rechunk(Stream.fromIterable(rows), chunkSize)
        })
        const out = path.join(dir, `out-${chunkSize}`)
        yield* runIn(
          Pipeline.from(source).pipe(Pipeline.write(Parquet.write({ dir: out, schema: Row, rowGroupSize: 10, rowsPerFile: 25 }))),
          path.join(dir, `db-${chunkSize}`)
        )
        const shards = ["000000-00000.parquet", "000000-00001.parquet", "000000-00002.parquet"].map((name) => path.join(out, name))
        const perShard = yield* Effect.forEach(shards, (file) => Stream.runCollect(Parquet.read({ schema: Row })(file)))
        expect(perShard.flatMap((chunk) => Chunk.toReadonlyArray(chunk))).toEqual(rows)
        expect(yield* Effect.forEach(shards, Parquet.rowGroupCount)).toEqual([3, 3, 1])
      }
    }))

  it("derives the columns from a Schema struct", () => {
    const columns = Parquet.columnsOf(Schema.Struct({
      a: Schema.Int,
      b: Schema.Number,
      c: Schema.optional(Schema.String),
      d: Schema.NullOr(Schema.BigIntFromSelf),
      e: Schema.Boolean,
      f: Schema.DateFromSelf,
      g: Schema.Uint8ArrayFromSelf,
      h: Schema.Array(Schema.String),
      i: Schema.NumberFromString
    }))
    expect(columns).toEqual([
      { name: "a", type: "INT32", nullable: false },
      { name: "b", type: "DOUBLE", nullable: false },
      { name: "c", type: "STRING", nullable: true },
      { name: "d", type: "INT64", nullable: true },
      { name: "e", type: "BOOLEAN", nullable: false },
      { name: "f", type: "TIMESTAMP", nullable: false },
      { name: "g", type: "BYTE_ARRAY", nullable: false },
      { name: "h", type: "JSON", nullable: false },
      { name: "i", type: "DOUBLE", nullable: false }
    ])
    expect(() => Parquet.columnsOf(Schema.Record({ key: Schema.String, value: Schema.Number }))).toThrow(/needs a Schema.Struct/)
  })
})

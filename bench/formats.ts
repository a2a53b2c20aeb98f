/**
 * The formats workload (`npm run bench formats [rows]`):
 *
 * - Throughput: JSON Lines, CSV and Parquet files (8 shards, `rows` rows in
 *   all; default 10⁶, so that a run is mostly rows: at 200,000 rows a run
 *   lasts about a second and the fixed per-run cost below is 8% of it)
 *   read → no-op filter → written through Curator (FileSource.glob +
 *   reader, one index per file, the formats' sinks, SQLite checkpoint,
 *   concurrency 1), beside the same libraries doing the same work without
 *   Curator (decode each row with the same Schema, encode, write the file).
 *   Runs alternate and repeat; the median of each is reported, with rows/s,
 *   input MB/s and the ratio Curator / library (goal ≥ 0.9). The physical
 *   limit: reading the same bytes with `fs.readFile` alone.
 *   The baseline does the same work per row as Curator: JSON.parse / csv-parse
 *   / hyparquet, the same Schema decoded per row with
 *   `ParseResult.decodeUnknownEither` (CSV: encoded back with it, as the CSV
 *   sink does), JSON.stringify / csv-stringify / hyparquet-writer, one output
 *   file per input file. What only Curator does: the checkpoint (a SQLite
 *   database opened, written and closed per run), atomic writes (temp +
 *   rename), the run's bookkeeping.
 *   Beside the wall-clock ratio (what the goal is about), two figures that
 *   survive a loaded machine better: `_cpu_ratio`, the same ratio in CPU time
 *   of this process (`process.cpuUsage`), and `_curator_fixed_ms`, the wall
 *   time of the same Curator run over shards of one row each: the per-run
 *   cost (database, bookkeeping, files) that more rows amortise;
 *   `_ratio_per_row` is the ratio with it taken off. Every timed run starts
 *   after a full garbage collection, so that none pays for the garbage of
 *   the run before it. That collection also deoptimizes JIT code that was
 *   specialised on the previous run's objects, which costs Effect-heavy
 *   code most: `_curator_fixed_ms` is what a run pays right after one
 *   (back to back, without it, the same tiny run takes about 55–60% as long).
 * - Memory: peak RSS growth while Curator reads a big Parquet file (written
 *   by the bench; `CURATOR_BENCH_FORMATS_MB`, default 1024) as one index per
 *   row group (64 Ki rows each), rows drained. Goal ≤ 128 MB.
 *
 * `CURATOR_BENCH_FORMATS=jsonl,csv` measures only those formats.
 */
import { Backend, Filter, Pipeline, Sink } from "@curator/core"
import { Csv, FileSource, JsonLines, Parquet } from "@curator/formats"
import { SqliteCheckpointStore } from "@curator/node"
import { parse } from "csv-parse"
import { stringify } from "csv-stringify/sync"
import { Effect, Either, Layer, ParseResult, Schema } from "effect"
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet"
import { compressors } from "hyparquet-compressors"
import { ByteWriter, fileWriter, ParquetWriter, parquetWriteBuffer, schemaFromColumnData } from "hyparquet-writer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import * as v8 from "node:v8"
import * as vm from "node:vm"

const Row = Schema.Struct({ id: Schema.Int, text: Schema.String, score: Schema.Number })
type Row = typeof Row.Type
const CsvRow = Schema.Struct({ id: Schema.NumberFromString, text: Schema.String, score: Schema.NumberFromString })

const shards = 8
const repetitions = 5

/** A cheap deterministic generator, so every run measures the same data. */
const generator = (seed: number) => () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32
const alphabet = "abcdefghijklmnopqrstuvwxyz      "
// Texts are slices of one random pool: quick to make, and they do not compress away.
const pool = (() => {
  const next = generator(1)
  return Array.from({ length: 1 << 20 }, () => alphabet[Math.floor(next() * alphabet.length)]).join("")
})()
const textOf = (next: () => number, length: number) => {
  const start = Math.floor(next() * (pool.length - length))
  return pool.slice(start, start + length)
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits))
const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const sizeOf = (files: ReadonlyArray<string>) => files.reduce((sum, file) => sum + fs.statSync(file).size, 0)

const parquetColumns = [
  { name: "id", type: "INT32", nullable: false },
  { name: "text", type: "STRING", nullable: false },
  { name: "score", type: "DOUBLE", nullable: false }
] as const
const toColumns = (rows: ReadonlyArray<Row>) =>
  parquetColumns.map((column) => ({ ...column, data: rows.map((row) => row[column.name]) }))

/** Writes the input shards of each format with the libraries directly. */
const generateInputs = (dir: string, rows: number) => {
  const next = generator(42)
  const perShard = Math.ceil(rows / shards)
  for (const format of ["jsonl", "csv", "parquet"]) fs.mkdirSync(path.join(dir, format), { recursive: true })
  for (let s = 0; s < shards; s++) {
    const data: Array<Row> = []
    for (let i = s * perShard; i < Math.min(rows, (s + 1) * perShard); i++) data.push({ id: i, text: textOf(next, 80), score: Math.round(next() * 1000) / 1000 })
    const name = `shard-${s}`
    fs.writeFileSync(path.join(dir, "jsonl", `${name}.jsonl`), data.map((row) => JSON.stringify(row) + "\n").join(""))
    fs.writeFileSync(path.join(dir, "csv", `${name}.csv`), stringify(data, { header: true, columns: ["id", "text", "score"] }))
    fs.writeFileSync(path.join(dir, "parquet", `${name}.parquet`), new Uint8Array(parquetWriteBuffer({ columnData: toColumns(data), rowGroupSize: 16_384 })))
  }
}

type Format = "jsonl" | "csv" | "parquet"

/** The pipeline Curator runs for one format: every shard, a no-op filter, the format's sink. */
const curatorPipeline = (format: Format, dir: string, outDir: string) => {
  const root = path.join(dir, format)
  const pattern = `*.${format}`
  const source = format === "jsonl"
    ? FileSource.glob(pattern, { root, read: JsonLines.read(Row) })
    : format === "csv"
    ? FileSource.glob(pattern, { root, read: Csv.read(CsvRow) })
    : FileSource.glob(pattern, { root, read: Parquet.read({ schema: Row }) })
  const sink = format === "jsonl"
    ? JsonLines.write<Row>({ dir: outDir })
    : format === "csv"
    ? Csv.write({ dir: outDir, schema: CsvRow })
    : Parquet.write({ dir: outDir, schema: Row, rowGroupSize: 16_384 })
  return Pipeline.from(source).pipe(
    Pipeline.filter(Filter.map({ name: "NoOp", f: (row: Row) => row })),
    Pipeline.write(sink as Sink.Sink<Row, unknown>)
  )
}

/** Wall and CPU seconds of `run`. */
interface Timing {
  readonly wall: number
  readonly cpu: number
}

/**
 * A full collection, so that each timed run starts from the same heap and
 * does not pay for the garbage of the run before it (the baseline runs
 * right after a Curator run). `gc` is exposed here rather than by a node flag.
 */
const collectGarbage: () => void = (() => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
})()

const timed = async (run: () => Promise<void>): Promise<Timing> => {
  collectGarbage()
  const cpu = process.cpuUsage()
  const started = performance.now()
  await run()
  const used = process.cpuUsage(cpu)
  return { wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 }
}

const timedCurator = async (format: Format, dir: string, dbDir: string): Promise<Timing> => {
  const outDir = fs.mkdtempSync(path.join(dir, `out-curator-${format}-`))
  const timing = await timed(() =>
    Effect.runPromise(
      Pipeline.run(Pipeline.withOptions(curatorPipeline(format, dir, outDir), { dbDir }), { concurrency: 1 }).pipe(
        Effect.flatMap((result) => (result.outcomes.every((o) => o._tag === "Completed") ? Effect.void : Effect.dieMessage(`a ${format} index failed`))),
        Effect.provide(Layer.merge(Backend.layerFibers, SqliteCheckpointStore.layer()))
      )
    ))
  fs.rmSync(outDir, { recursive: true, force: true })
  return timing
}

const decoder = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = ParseResult.decodeUnknownEither(schema)
  return (value: unknown): A => {
    const decoded = decode(value)
    if (Either.isLeft(decoded)) throw new Error(String(decoded.left))
    return decoded.right
  }
}

/** The same work as Curator's pipeline, with the same libraries and nothing else. */
const libraryOnly: Record<Format, (input: string, output: string) => Promise<void>> = {
  jsonl: async (input, output) => {
    const decode = decoder(Row)
    const lines: Array<string> = []
    for await (const line of readline.createInterface({ input: fs.createReadStream(input), crlfDelay: Infinity })) {
      if (line.trim().length === 0) continue
      lines.push(JSON.stringify(decode(JSON.parse(line))))
    }
    lines.push("")
    fs.writeFileSync(output, lines.join("\n"))
  },
  csv: async (input, output) => {
    const decode = decoder(CsvRow)
    const encode = ParseResult.encodeSync(CsvRow)
    const rows: Array<typeof CsvRow.Encoded> = []
    for await (const record of fs.createReadStream(input).pipe(parse({ columns: true, skip_empty_lines: true }))) rows.push(encode(decode(record)))
    fs.writeFileSync(output, stringify(rows, { header: true, columns: ["id", "text", "score"] }))
  },
  parquet: async (input, output) => {
    const decode = decoder(Row)
    const file = await asyncBufferFromFile(input)
    const metadata = await parquetMetadataAsync(file)
    const writer = new ByteWriter()
    const parquet = new ParquetWriter({ writer, schema: schemaFromColumnData({ columnData: toColumns([]) }) })
    let rowStart = 0
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows)
      const rows = (await parquetReadObjects({ file, metadata, rowStart, rowEnd, compressors })).map(decode)
      void parquet.write({ columnData: toColumns(rows), rowGroupSize: 16_384 })
      rowStart = rowEnd
    }
    parquet.finish()
    fs.writeFileSync(output, writer.getBytes())
  }
}

const timedLibrary = async (format: Format, dir: string): Promise<Timing> => {
  const outDir = fs.mkdtempSync(path.join(dir, `out-library-${format}-`))
  const inputs = fs.readdirSync(path.join(dir, format)).sort()
  const timing = await timed(async () => {
    for (const [i, name] of inputs.entries()) await libraryOnly[format](path.join(dir, format, name), path.join(outDir, `${i}.${format}`))
  })
  fs.rmSync(outDir, { recursive: true, force: true })
  return timing
}

const timedRawRead = (files: ReadonlyArray<string>) => {
  const started = performance.now()
  for (const file of files) fs.readFileSync(file)
  return (performance.now() - started) / 1000
}

/** Writes a Parquet file of about `megabytes` MB, row group by row group, streaming to disk. */
const generateBigParquet = (file: string, megabytes: number, rowsPerGroup: number) => {
  const next = generator(7)
  const writer = fileWriter(file)
  const parquet = new ParquetWriter({ writer, schema: schemaFromColumnData({ columnData: toColumns([]) }), codec: "UNCOMPRESSED" })
  let id = 0
  while (fs.statSync(file).size < megabytes * 2 ** 20) {
    const rows: Array<Row> = []
    for (let i = 0; i < rowsPerGroup; i++) rows.push({ id: id++, text: textOf(next, 200), score: next() })
    void parquet.write({ columnData: toColumns(rows), rowGroupSize: rowsPerGroup })
  }
  parquet.finish()
  return id
}

/** Peak RSS growth (sampled every 20 ms) while Curator drains a big Parquet file, one index per row group. */
const parquetMemory = async (dir: string, dbDir: string) => {
  const megabytes = Number(process.env.CURATOR_BENCH_FORMATS_MB ?? 1024)
  const rowsPerGroup = 65_536
  const file = path.join(dir, "big.parquet")
  const rows = generateBigParquet(file, megabytes, rowsPerGroup)
  const pipeline = Pipeline.from(Parquet.rowGroups(file)).pipe(
    Pipeline.filter(Filter.map({ name: "NoOp", f: (row: Record<string, unknown>) => row })),
    Pipeline.write(Sink.drain({ name: "Drain", pathOf: (index) => [`${file}#${index}`] })),
    Pipeline.withOptions({ dbDir })
  )
  const baseline = process.memoryUsage.rss()
  let peak = baseline
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
  const started = performance.now()
  try {
    await Effect.runPromise(
      Pipeline.run(pipeline, { concurrency: 1 }).pipe(Effect.provide(Layer.merge(Backend.layerFibers, SqliteCheckpointStore.layer())))
    )
  } finally {
    clearInterval(sampler)
  }
  const seconds = (performance.now() - started) / 1000
  const size = fs.statSync(file).size
  fs.rmSync(file)
  return {
    parquet_big_file_mb: round(size / 2 ** 20, 1),
    parquet_big_rows: rows,
    parquet_big_row_groups: Math.ceil(rows / rowsPerGroup),
    parquet_big_row_group_mb: round(size / Math.ceil(rows / rowsPerGroup) / 2 ** 20, 1),
    parquet_big_read_mb_per_s: round(size / 2 ** 20 / seconds, 1),
    parquet_big_peak_rss_growth_mb: round((peak - baseline) / 2 ** 20, 1)
  }
}

/** The formats measured: all, or those named in `CURATOR_BENCH_FORMATS` (e.g. `jsonl,csv`). */
const selectedFormats = (): ReadonlyArray<Format> => {
  const all = ["jsonl", "csv", "parquet"] as const
  const named = process.env.CURATOR_BENCH_FORMATS?.split(",").map((name) => name.trim())
  return named === undefined ? all : all.filter((format) => named.includes(format))
}

export const formats = async (rows: number) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "curator-bench-formats-"))
  const dbDir = path.join(dir, "db")
  try {
    generateInputs(dir, rows)
    // The same shards with one row each: what a Curator run costs whatever its size.
    const tiny = path.join(dir, "tiny")
    generateInputs(tiny, shards)
    const figures: Record<string, number> = {}
    let curatorSeconds = 0
    for (const format of selectedFormats()) {
      const inputs = fs.readdirSync(path.join(dir, format)).map((name) => path.join(dir, format, name))
      const megabytes = sizeOf(inputs) / 2 ** 20
      await timedCurator(format, dir, dbDir) // warm-up: modules, JIT, the database
      const curator: Array<Timing> = []
      const library: Array<Timing> = []
      const fixed: Array<Timing> = []
      const raw: Array<number> = []
      for (let r = 0; r < repetitions; r++) {
        library.push(await timedLibrary(format, dir))
        curator.push(await timedCurator(format, dir, dbDir))
        fixed.push(await timedCurator(format, tiny, dbDir))
        raw.push(timedRawRead(inputs))
      }
      const wall = (timings: ReadonlyArray<Timing>) => median(timings.map((t) => t.wall))
      const cpu = (timings: ReadonlyArray<Timing>) => median(timings.map((t) => t.cpu))
      const [c, l, p, f] = [wall(curator), wall(library), median(raw), wall(fixed)]
      curatorSeconds += c
      figures[`${format}_input_mb`] = round(megabytes, 1)
      figures[`${format}_curator_rows_per_s`] = Math.round(rows / c)
      figures[`${format}_curator_mb_per_s`] = round(megabytes / c, 1)
      figures[`${format}_library_rows_per_s`] = Math.round(rows / l)
      figures[`${format}_library_mb_per_s`] = round(megabytes / l, 1)
      figures[`${format}_ratio`] = round(l / c, 2)
      figures[`${format}_cpu_ratio`] = round(cpu(library) / cpu(curator), 2)
      figures[`${format}_curator_fixed_ms`] = Math.round(f * 1000)
      figures[`${format}_ratio_per_row`] = round(l / Math.max(c - f, Number.EPSILON), 2)
      figures[`${format}_raw_read_mb_per_s`] = round(megabytes / p, 1)
    }
    return {
      workload: "formats",
      n: rows,
      backend: "fibers",
      seconds: round(curatorSeconds),
      indices_per_s: round((selectedFormats().length * shards) / curatorSeconds, 1),
      ...figures,
      ...(await parquetMemory(dir, dbDir))
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

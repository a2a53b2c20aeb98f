/**
 * `curator metrics <target>`: per-index and per-stage timing and memory, as
 * a table of the first indices, or every index written as JSON and CSV
 * (`--json`/`--csv` alone, or with `-`, to stdout; with a file name, to that
 * file). The exports stream page by page: constant memory at 10⁶ indices.
 */
import { CheckpointStore, Metrics } from "@curator/core"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import { Chunk, Console, Effect, Option, Stream } from "effect"
import { resolve } from "node:path"
import { failed } from "../CliError.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

/**
 * `--json` and `--csv` take a file, and alone mean stdout as every other
 * listing: a bare one (last, or followed by another option) gets `-`.
 * @effect/cli has no options with an optional value, so the command line is
 * completed before it is parsed.
 */
export const withDefaultFiles = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (argv[2] !== "metrics") return argv
  return argv.flatMap((arg, i) => {
    const next = argv[i + 1]
    return (arg === "--json" || arg === "--csv") && (next === undefined || next.startsWith("-") && next !== "-") ? [arg, "-"] : [arg]
  })
}

const pageSize = 2000

/** Writes text chunks to a file or (for `-`) to stdout, waiting when stdout is full. */
const openOutput = (file: string) =>
  Effect.gen(function*() {
    if (file === "-") {
      return (text: string) =>
        Effect.async<void>((resume) => {
          if (process.stdout.write(text)) resume(Effect.void)
          else process.stdout.once("drain", () => resume(Effect.void))
        })
    }
    const fs = yield* FileSystem.FileSystem
    const handle = yield* fs.open(resolve(file), { flag: "w" }).pipe(
      Effect.mapError((cause) => failed(`cannot write ${file}: ${cause.message}`))
    )
    const encoder = new TextEncoder()
    return (text: string) =>
      handle.writeAll(encoder.encode(text)).pipe(Effect.mapError((cause) => failed(`cannot write ${file}: ${cause.message}`)))
  })

/** Every index's metrics, a page at a time, in index order. */
const allMetrics = (checkpoint: CheckpointStore.Checkpoint) =>
  Stream.grouped(CheckpointStore.streamPages((after) => checkpoint.resultsPage({ after, limit: pageSize })), pageSize)

/** Streams the metrics as CSV (columns from the stage statistics) to `file`; how many indices. */
const exportCsv = (checkpoint: CheckpointStore.Checkpoint, file: string) =>
  Effect.gen(function*() {
    const write = yield* openOutput(file)
    const stages = (yield* checkpoint.stageStatistics).map((s) => ({ order: s.order, name: s.name }))
    yield* write(Metrics.csvHeader(stages) + "\n")
    let rows = 0
    yield* Stream.runForEach(allMetrics(checkpoint), (chunk) => {
      rows += chunk.length
      return write(Chunk.toReadonlyArray(chunk).map((row) => Metrics.csvLine(row, stages) + "\n").join(""))
    })
    return rows
  })

/** Streams the metrics as the JSON document `Metrics.toJson` makes, a page at a time; how many indices. */
const exportJson = (checkpoint: CheckpointStore.Checkpoint, file: string) =>
  Effect.gen(function*() {
    const write = yield* openOutput(file)
    let rows = 0
    yield* Stream.runForEach(allMetrics(checkpoint), (chunk) => {
      const text = Chunk.toReadonlyArray(chunk).map((row) => JSON.stringify(row, null, 2).replace(/^/gm, "  ")).join(",\n")
      const opening = rows === 0 ? "[\n" : ",\n"
      rows += chunk.length
      return write(opening + text)
    })
    yield* write(rows === 0 ? "[]\n" : "\n]\n")
    return rows
  })

const reportWritten = (file: string, rows: number) =>
  file === "-" ? Effect.void : Console.error(`wrote the metrics of ${rows} indices to ${resolve(file)}`)

export const command = Command.make(
  "metrics",
  {
    target: Shared.target,
    json: Options.text("json").pipe(
      Options.withPseudoName("FILE"),
      Options.optional,
      Options.withDescription("write every index's metrics as JSON to FILE (alone or - : stdout)")
    ),
    csv: Options.text("csv").pipe(
      Options.withPseudoName("FILE"),
      Options.optional,
      Options.withDescription("write every index's metrics as CSV to FILE (alone or - : stdout)")
    ),
    limit: Options.integer("limit").pipe(
      Options.withDefault(100),
      Options.withDescription("how many indices the table shows (the exports hold every index)")
    )
  },
  (options) =>
    Effect.gen(function*() {
      const checkpoint = yield* Target.resolveAndOpen(options.target)
      if (Option.isSome(options.json)) yield* reportWritten(options.json.value, yield* exportJson(checkpoint, options.json.value))
      if (Option.isSome(options.csv)) yield* reportWritten(options.csv.value, yield* exportCsv(checkpoint, options.csv.value))
      if (Option.isNone(options.json) && Option.isNone(options.csv)) {
        const first = yield* checkpoint.resultsPage({ limit: Math.max(1, options.limit) })
        if (first.rows.length === 0) return yield* Console.log("no metrics recorded yet")
        yield* Console.log(Metrics.toTable(first.rows).trimEnd())
        if (first.next !== undefined) {
          // Counted, not aggregated: the statistics would read every record.
          const { completed, failed } = yield* checkpoint.recordedCounts
          yield* Console.log(`(the first ${first.rows.length} of ${completed + failed} indices; --csv or --json writes them all)`)
        }
      }
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Show per-index and per-stage times and memory (or write them all as JSON / CSV)"))

/**
 * `curator logs <target>`: the log lines a run captured, filtered by level,
 * index or worker; `--follow` keeps printing new lines until interrupted.
 */
import { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Chunk, Console, Effect, Option, Stream } from "effect"
import { usage } from "../CliError.js"
import * as Format from "../Format.js"
import * as Json from "../Json.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

const levels: Record<string, number> = {
  trace: 5,
  debug: 10,
  info: 20,
  warning: 30,
  warn: 30,
  error: 40,
  critical: 50,
  fatal: 50
}

/** A level name (`debug`, `info`, `warning`, `error`, `critical`) or number as the numeric minimum. */
export const parseLevel = (text: string): number | undefined =>
  /^\d+$/.test(text) ? Number(text) : levels[text.toLowerCase()]

/** One log line as text: time, level, worker and index, logger, message. */
export const formatRow = (row: CheckpointStore.LogRow): string => {
  const where = [row.workerId === null ? undefined : Format.shortId(row.workerId), row.index === null ? undefined : `#${row.index}`]
    .filter((part) => part !== undefined)
    .join(" ")
  return `${row.timestamp.slice(0, 23).replace("T", " ")} ${row.levelName.padEnd(8)} ${where === "" ? "" : `[${where}] `}${row.loggerName}: ${row.message}`
}

/** How often `--follow` looks for new lines. */
const pollInterval = "500 millis"

export const command = Command.make(
  "logs",
  {
    target: Shared.target,
    level: Options.text("level").pipe(
      Options.optional,
      Options.withPseudoName("LEVEL"),
      Options.withDescription("the lowest level shown: debug, info, warning, error, critical (or a number)")
    ),
    index: Options.integer("index").pipe(Options.optional, Options.withPseudoName("N"), Options.withDescription("only the lines of this index")),
    worker: Options.text("worker").pipe(
      Options.optional,
      Options.withPseudoName("WORKER"),
      Options.withDescription("only the lines of this worker: a worker id or any label the logs recorded (e.g. ForkServerProcess-1), or a unique prefix")
    ),
    follow: Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription("keep printing new lines until interrupted")),
    json: Shared.json.pipe(Options.withDescription("print a JSON array (with --follow: one JSON object per line)"))
  },
  (options) =>
    Effect.gen(function*() {
      const minLevel = Option.isSome(options.level) ? parseLevel(options.level.value) : undefined
      if (Option.isSome(options.level) && minLevel === undefined) {
        return yield* usage(`--level must be debug, info, warning, error, critical or a number, got "${options.level.value}"`)
      }
      const checkpoint = yield* Target.resolveAndOpen(options.target)
      let workerId: string | undefined
      if (Option.isSome(options.worker)) {
        // Any label in `workers` or in `logs.worker_id`: the reference logs process names that have no `workers` row.
        const prefix = options.worker.value
        const matches = yield* checkpoint.workerLabels(prefix, 6)
        if (matches.length === 0) {
          return yield* usage(`no worker of this configuration has an id or log label starting with "${prefix}"; see curator workers`)
        }
        if (matches.length > 1 && !matches.includes(prefix)) {
          return yield* usage(
            `"${prefix}" matches ${matches.length > 5 ? "more than 5" : matches.length} workers: ${
              matches.slice(0, 5).map((label) => (label.length > 20 ? Format.shortId(label) : label)).join(", ")
            }; give more of the label`
          )
        }
        workerId = matches.includes(prefix) ? prefix : matches[0]!
      }
      const query: CheckpointStore.LogQuery = {
        minLevel,
        index: Option.getOrUndefined(options.index),
        workerId
      }
      const print = (batch: ReadonlyArray<CheckpointStore.LogRow>) =>
        batch.length === 0
          ? Effect.void
          : Console.log(batch.map((row) => (options.json ? JSON.stringify(Json.logLine(row)) : formatRow(row))).join("\n"))
      // Page by page: a million lines are printed without holding them all.
      const pages = CheckpointStore.streamPages((after) => checkpoint.logsPage({ ...query, after, limit: 5000 }))
      if (!options.follow) {
        if (!options.json) {
          let printed = 0
          yield* Stream.runForEach(Stream.grouped(pages, 5000), (chunk) => {
            printed += chunk.length
            return print(Chunk.toReadonlyArray(chunk))
          })
          // Said on stderr, so that a pipe reading the lines gets none.
          if (printed === 0) {
            const filtered = minLevel !== undefined || query.index !== undefined || workerId !== undefined
            yield* Console.error(filtered ? "no log lines match" : "no log lines recorded")
          }
          return
        }
        // The same document as JSON.stringify(rows, null, 2), written a page at a time.
        let first = true
        yield* Stream.runForEach(Stream.grouped(pages, 5000), (chunk) => {
          const text = Chunk.toReadonlyArray(chunk).map((row) => Format.json(Json.logLine(row)).replace(/^/gm, "  ")).join(",\n")
          const opening = first ? "[\n" : ",\n"
          first = false
          return Effect.sync(() => process.stdout.write(opening + text))
        })
        return yield* Console.log(first ? "[]" : "\n]")
      }
      let sinceId = 0
      yield* Stream.runForEach(Stream.grouped(pages, 5000), (chunk) => {
        const rows = Chunk.toReadonlyArray(chunk)
        for (const row of rows) if (row.id > sinceId) sinceId = row.id
        return print(rows)
      })
      while (true) {
        yield* Effect.sleep(pollInterval)
        const next = yield* checkpoint.logs({ ...query, sinceId })
        yield* print(next)
        for (const row of next) if (row.id > sinceId) sinceId = row.id
      }
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Print the log lines captured in the database (oldest first)"))

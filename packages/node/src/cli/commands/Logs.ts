/**
 * `curator logs <target>`: the log lines a run captured, filtered by level,
 * index or worker; `--follow` keeps printing new lines until interrupted.
 */
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option } from "effect"
import { usage } from "../CliError.js"
import * as Format from "../Format.js"
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
      Options.withDescription("the lowest level shown: debug, info, warning, error, critical (or a number)")
    ),
    index: Options.integer("index").pipe(Options.optional, Options.withDescription("only the lines of this index")),
    worker: Options.text("worker").pipe(Options.optional, Options.withDescription("only the lines of this worker (id or unique prefix)")),
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
        const prefix = options.worker.value
        const matches = (yield* checkpoint.workers).filter((worker) => worker.workerId.startsWith(prefix))
        if (matches.length !== 1) {
          return yield* usage(
            matches.length === 0
              ? `no worker of this configuration has an id starting with "${prefix}"; see curator workers`
              : `"${prefix}" matches ${matches.length} workers: ${matches.map((w) => Format.shortId(w.workerId)).join(", ")}; give more of the id`
          )
        }
        workerId = matches[0]!.workerId
      }
      const query: CheckpointStore.LogQuery = {
        minLevel,
        index: Option.getOrUndefined(options.index),
        workerId
      }
      const rows = yield* checkpoint.logs(query)
      if (!options.follow) {
        if (options.json) return yield* Console.log(Format.json(rows))
        if (rows.length > 0) yield* Console.log(rows.map(formatRow).join("\n"))
        return
      }
      const print = (batch: ReadonlyArray<CheckpointStore.LogRow>) =>
        batch.length === 0
          ? Effect.void
          : Console.log(batch.map((row) => (options.json ? JSON.stringify(row) : formatRow(row))).join("\n"))
      yield* print(rows)
      let sinceId = rows.reduce((max, row) => Math.max(max, row.id), 0)
      while (true) {
        yield* Effect.sleep(pollInterval)
        const next = yield* checkpoint.logs({ ...query, sinceId })
        yield* print(next)
        for (const row of next) sinceId = Math.max(sinceId, row.id)
      }
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Print the log lines captured in the database (oldest first)"))

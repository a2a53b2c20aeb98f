/**
 * `curator metrics <target>`: per-index and per-stage timing and memory, as
 * a table, or written as JSON and CSV files.
 */
import { type CheckpointStore, Metrics } from "@curator/core"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option } from "effect"
import * as fs from "node:fs/promises"
import { resolve } from "node:path"
import { failed } from "../CliError.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

/** Writes `text` to `file`, or to stdout when `file` is `-`. */
const writeTo = (file: string, text: string, rows: number) =>
  file === "-"
    ? Effect.sync(() => process.stdout.write(text.endsWith("\n") ? text : text + "\n"))
    : Effect.tryPromise({
      try: () => fs.writeFile(resolve(file), text.endsWith("\n") ? text : text + "\n"),
      catch: (cause) => failed(`cannot write ${file}: ${(cause as Error).message}`)
    }).pipe(Effect.zipRight(Console.error(`wrote the metrics of ${rows} indices to ${resolve(file)}`)))

export const command = Command.make(
  "metrics",
  {
    target: Shared.target,
    json: Options.text("json").pipe(Options.withPseudoName("FILE"), Options.optional, Options.withDescription("write the metrics as JSON to FILE (- for stdout)")),
    csv: Options.text("csv").pipe(Options.withPseudoName("FILE"), Options.optional, Options.withDescription("write the metrics as CSV to FILE (- for stdout)"))
  },
  (options) =>
    Effect.gen(function*() {
      const checkpoint = yield* Target.resolveAndOpen(options.target)
      const metrics = yield* checkpoint.metrics
      if (Option.isSome(options.json)) yield* writeTo(options.json.value, Metrics.toJson(metrics), metrics.length)
      if (Option.isSome(options.csv)) yield* writeTo(options.csv.value, Metrics.toCsv(metrics), metrics.length)
      if (Option.isNone(options.json) && Option.isNone(options.csv)) {
        yield* Console.log(metrics.length === 0 ? "no metrics recorded yet" : Metrics.toTable(metrics).trimEnd())
      }
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Show per-index and per-stage times and memory (or write them as JSON / CSV)"))

/**
 * `curator diff <a> <b>`: the configuration difference of two databases (or
 * a pipeline module and a database, or two modules): which source, filter
 * and sink parameters differ, from `config_json` (a module's is computed as
 * a run would record it). Exits 0 when they are the same configuration,
 * 1 when they differ. Also the warning `curator run --resume` prints before
 * it starts afresh beside a database of the same pipeline ({@link warnBeforeRun}).
 */
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import { type Pipeline, Provenance } from "@curator/core"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Console, Effect } from "effect"
import * as ConfigDiff from "../../ConfigDiff.js"
import * as DatabaseLocation from "../../DatabaseLocation.js"
import * as PipelineModule from "../../PipelineModule.js"
import * as SqliteCheckpointStore from "../../SqliteCheckpointStore.js"
import { ExitCode, SilentExit } from "../CliError.js"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

/** A target's configuration document: a module's as a run records it, else the database's. */
const configOf = (input: string) =>
  Target.isModule(input)
    ? Effect.map(PipelineModule.load(Target.moduleReference(input)), (pipeline) => ({
      name: input,
      configHash: pipeline.configHash,
      configJson: Provenance.canonicalJson(pipeline.config)
    }))
    : Effect.scoped(Effect.flatMap(Target.resolveAndOpen(input), (checkpoint) =>
      Effect.map(checkpoint.configJson, (configJson) => ({ name: checkpoint.location, configHash: checkpoint.configHash, configJson }))))

/**
 * The warning `curator run --resume` prints (stderr) before it starts:
 * there is no database for this configuration, but a sibling with other
 * parameters — named, with its completed count and the differences.
 */
export const warnBeforeRun = (pipeline: Pipeline.Pipeline<unknown, never>) =>
  !pipeline.options.resume || !pipeline.options.trackMetrics || pipeline.options.dbFile !== undefined
    ? Effect.void
    : Effect.gen(function*() {
      const configuration = { configHash: pipeline.configHash, configJson: Provenance.canonicalJson(pipeline.config) }
      const path = yield* DatabaseLocation.resolvePath({ ...configuration, totalIndices: 0, resume: true, dbDir: pipeline.options.dbDir, runDir: "" })
      const warning = yield* ConfigDiff.warningBeforeFreshStart((file) => SqliteCheckpointStore.openFile(file), path, configuration)
      if (warning !== undefined) yield* Console.error(`warning: ${warning}`)
    })

export const command = Command.make(
  "diff",
  {
    a: Args.text({ name: "a" }).pipe(Args.withDescription("a database (file, cached id) or a pipeline module")),
    b: Args.text({ name: "b" }).pipe(Args.withDescription("another database or pipeline module")),
    json: Shared.json
  },
  (options) =>
    Effect.gen(function*() {
      const a = yield* configOf(options.a)
      const b = yield* configOf(options.b)
      const changes = ConfigDiff.diff(a.configJson, b.configJson)
      if (options.json) {
        yield* Console.log(Format.json({
          a: { target: a.name, config_hash: a.configHash },
          b: { target: b.name, config_hash: b.configHash },
          same: changes.length === 0,
          changes: changes.map((change) => ({ path: change.path, a: change.before ?? null, b: change.after ?? null }))
        }))
      } else if (changes.length === 0) {
        yield* Console.log(`same configuration (${a.configHash.slice(0, 16)})`)
      } else {
        yield* Console.log(
          [
            `a: ${a.name} (${a.configHash.slice(0, 16)})`,
            `b: ${b.name} (${b.configHash.slice(0, 16)})`,
            `${changes.length} difference${changes.length === 1 ? "" : "s"} (a → b):`,
            ...changes.map((change) => `  ${ConfigDiff.formatChange(change)}`)
          ].join("\n")
        )
      }
      if (changes.length > 0) return yield* new SilentExit({ code: ExitCode.Failed })
    })
).pipe(Command.withDescription("Show how the configurations of two databases or pipeline modules differ (exit 1 when they do)"))

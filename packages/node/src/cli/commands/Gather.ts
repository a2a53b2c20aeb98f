/**
 * `curator gather <module>`: merges the shards of the pipeline's stateful
 * filters (`Filter.stateful`) recorded in its database into their base
 * paths, as `Pipeline.gather` does. The module is needed (not only the
 * database): merging runs the filters' own `merge`.
 */
// CheckpointStore names the error type in the declaration of `command`.
import { type CheckpointStore, Gather, Pipeline } from "@curator/core"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Console, Effect, Option } from "effect"
import { resolve as resolvePath } from "node:path"
import * as PipelineModule from "../../PipelineModule.js"
import { usage } from "../CliError.js"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

export const command = Command.make(
  "gather",
  {
    module: Args.text({ name: "module" }).pipe(
      Args.withDescription("the pipeline module (path.ts, or path.ts#exportName) whose stateful filters to gather")
    ),
    dbFile: Options.text("db-file").pipe(
      Options.optional,
      Options.withPseudoName("FILE"),
      Options.withDescription("the database the runs recorded into (default: the module's, as other commands find it)")
    ),
    resume: Options.boolean("resume").pipe(
      Options.withDescription("the database is the one resumed runs share (as with run --resume): also merge shards of runs killed before they recorded")
    ),
    keepShards: Options.boolean("keep-shards").pipe(Options.withDescription("keep the shard files after merging them")),
    json: Shared.json.pipe(Options.withDescription("print what was gathered as JSON"))
  },
  (options) =>
    Effect.gen(function*() {
      const reference = Target.moduleReference(options.module)
      if (!Target.isModule(options.module)) {
        return yield* usage(`${options.module} is not a pipeline module: gathering runs the filters' merge, so give the module (path.ts or path.ts#export)`)
      }
      const loaded = yield* PipelineModule.load(reference)
      const pipeline = options.resume ? Pipeline.withOptions(loaded, { resume: true }) : loaded
      const target: Target.Target = Option.isSome(options.dbFile)
        ? { path: resolvePath(options.dbFile.value), configHash: pipeline.configHash }
        : yield* Target.resolve(options.module)
      const checkpoint = yield* Target.open(target, { writable: true })
      const gathered = yield* Gather.gatherInto(pipeline, checkpoint, { keepShards: options.keepShards })
      if (gathered.length === 0) return yield* usage(`${options.module} has no stateful filter: nothing to gather`)
      if (options.json) {
        return yield* Console.log(Format.json(gathered.map(({ state: _, ...rest }) => rest)))
      }
      for (const g of gathered) {
        yield* Console.log(`${g.filterName}: ${g.shards} shard(s) merged into ${g.path} (${g.indices} indices)`)
      }
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
).pipe(Command.withDescription("Merge the shards of a pipeline's stateful filters into their base paths"))

/**
 * `curator gc <target>`: removes the files `curator verify` reports as
 * orphaned (in the output directories, claimed by no completed index) and
 * the temporary files interrupted sinks left. Lists them and asks first
 * (`--yes` does not ask, `--dry-run` only lists). Just before each removal
 * the checkpoint is read again, so a file a run claimed meanwhile is kept:
 * a claimed file is never removed. (`curator cache prune` removes
 * databases.)
 */
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option } from "effect"
import * as fs from "node:fs/promises"
import * as Audit from "../Audit.js"
import { confirm } from "../Confirm.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

export const command = Command.make(
  "gc",
  {
    target: Shared.target,
    yes: Shared.yes,
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("list what would be removed, remove nothing"))
  },
  (options) =>
    Effect.gen(function*() {
      const target = yield* Target.resolve(options.target)
      const audit = yield* Effect.scoped(Effect.flatMap(Target.open(target), Audit.audit))
      const candidates = [...audit.orphaned, ...audit.temporary]
      if (candidates.length === 0) return yield* Console.log(`nothing to remove in ${audit.directories.length} output directories`)
      yield* Console.log(
        [
          ...(audit.orphaned.length > 0 ? [`orphaned (claimed by no completed index): ${audit.orphaned.length}`, ...Audit.listed(audit.orphaned)] : []),
          ...(audit.temporary.length > 0 ? [`temporary files of interrupted writes: ${audit.temporary.length}`, ...Audit.listed(audit.temporary)] : [])
        ].join("\n")
      )
      if (options.dryRun) return yield* Console.log(`dry run: ${candidates.length} files would be removed`)
      if (!options.yes && !(yield* confirm(`Remove these ${candidates.length} files?`))) return yield* Console.error("nothing was removed")
      // Read again just before removing: a run may have claimed a file since the audit.
      const { kept, removed } = yield* Effect.scoped(Effect.gen(function*() {
        const checkpoint = yield* Target.open(target)
        let removed = 0
        let kept = 0
        for (const path of candidates) {
          if (Option.isSome(yield* checkpoint.indexOfOutput(path))) {
            kept++
            continue
          }
          yield* Effect.promise(() => fs.rm(path, { force: true }))
          removed++
        }
        return { kept, removed }
      }))
      yield* Console.log(`removed ${removed} files${kept > 0 ? `; kept ${kept} that a run claimed meanwhile` : ""}`)
    })
).pipe(Command.withDescription("Remove orphaned outputs and interrupted sinks' temporary files (asks first; --dry-run lists only)"))

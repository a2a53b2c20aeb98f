/**
 * `curator failed <target>`: the failed indices and their errors.
 */
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import { Console, Effect } from "effect"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

export const command = Command.make(
  "failed",
  { target: Shared.target, json: Shared.json },
  ({ json, target }) =>
    Effect.gen(function*() {
      const checkpoint = yield* Target.resolveAndOpen(target)
      const failed = [...(yield* checkpoint.failedIndices)].sort(([a], [b]) => a - b)
      if (json) return yield* Console.log(Format.json(failed.map(([index, error]) => ({ index, error }))))
      if (failed.length === 0) return yield* Console.log("no failed indices")
      yield* Console.log(Format.table(["idx", "error"], failed.map(([index, error]) => [String(index), error.split("\n")[0]!]), [0]))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("List the failed indices with their errors (a resumed run retries them)"))

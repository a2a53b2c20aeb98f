/**
 * `curator outputs <target> <index>`: the files a completed index wrote.
 */
import * as Args from "@effect/cli/Args"
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import { Console, Effect, Option } from "effect"
import { failed } from "../CliError.js"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

export const command = Command.make(
  "outputs",
  { target: Shared.target, index: Args.integer({ name: "index" }), json: Shared.json },
  ({ index: given, json, target }) =>
    Effect.gen(function*() {
      const checkpoint = yield* Target.resolveAndOpen(target)
      const index = yield* Target.resolveIndex(checkpoint, given, "index")
      const outputs = yield* checkpoint.outputsOf(index)
      if (Option.isNone(outputs)) {
        // Only this index's record: why it has no outputs.
        const record = Option.getOrUndefined(yield* checkpoint.metricsOf(index))
        const error = record?.status === "error" ? record.error ?? "" : undefined
        return yield* failed(
          error === undefined
            ? `index ${index} is not completed in ${checkpoint.location}`
            : `index ${index} failed (${error.split("\n")[0]}); it has no outputs`
        )
      }
      if (json) return yield* Console.log(Format.json(outputs.value))
      // Said on stderr, so that a pipe reading the paths gets none.
      if (outputs.value.length === 0) return yield* Console.error(`index ${index} completed with no outputs`)
      yield* Console.log(outputs.value.join("\n"))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("List the output files of a completed index"))

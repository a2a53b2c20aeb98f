/**
 * `curator reset <target>`: forgets every record of the configuration (or
 * one index), so that the next run computes it again. Asks first unless
 * `--yes`.
 */
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option } from "effect"
import { usage } from "../CliError.js"
import { confirm } from "../Confirm.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

export const command = Command.make(
  "reset",
  {
    target: Shared.target,
    index: Options.integer("index").pipe(Options.optional, Options.withDescription("forget only this index (and lift its quarantine)")),
    retryQuarantined: Options.boolean("retry-quarantined").pipe(
      Options.withDescription("forget nothing; lift the quarantine of every quarantined index so that the next run computes it again")
    ),
    yes: Shared.yes
  },
  (options) =>
    Effect.gen(function*() {
      const target = yield* Target.resolve(options.target)
      if (options.retryQuarantined) {
        if (Option.isSome(options.index)) {
          return yield* usage("--retry-quarantined lifts every quarantine; give it without --index (or --index alone to reset one index)")
        }
        const checkpoint = yield* Target.open(target, { writable: true })
        const lifted = yield* checkpoint.liftQuarantine
        return yield* Console.log(`${lifted} quarantined ${lifted === 1 ? "index" : "indices"} lifted in ${checkpoint.location}; the next run computes them again`)
      }
      // An index outside the configuration is refused before anything is asked or changed.
      const given = Option.getOrUndefined(options.index)
      const index = given === undefined
        ? undefined
        : yield* Effect.flatMap(Target.open(target), (checkpoint) => Target.resolveIndex(checkpoint, given, "--index"))
      const question = index !== undefined
        ? `Forget index ${index} in ${target.path} so that the next run computes it again?`
        : `Clear every record in ${target.path} (completions, failures, metrics, workers, logs)?`
      if (!options.yes && !(yield* confirm(question))) return yield* Console.error("nothing was changed")
      const checkpoint = yield* Target.open(target, { writable: true })
      if (index !== undefined) {
        yield* checkpoint.resetIndex(index)
        yield* Console.log(`index ${index} forgotten in ${checkpoint.location}`)
      } else {
        yield* checkpoint.reset
        yield* Console.log(`every record cleared in ${checkpoint.location}`)
      }
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Clear a configuration's records (or one index's) so that they run again"))

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
      // Only the failed records' indices and errors, in one indexed read: no stage timings, which the list does not show.
      const failed = [...(yield* checkpoint.failedIndices)].sort(([a], [b]) => a - b)
      // The stage it failed in and the failure policy's class, attempts and quarantine, where recorded (not in a reference database).
      const details = yield* checkpoint.failureDetails(failed.map(([index]) => index))
      if (json) {
        return yield* Console.log(Format.json(failed.map(([index, error]) => {
          const detail = details.get(index)
          return detail === undefined
            ? { index, error }
            : { index, stage: detail.stage, error, class: detail.failureClass, attempts: detail.attempts, quarantined: detail.quarantined }
        })))
      }
      if (failed.length === 0) return yield* Console.log("no failed indices")
      if (details.size === 0) {
        return yield* Console.log(Format.table(["idx", "error"], failed.map(([index, error]) => [String(index), error.split("\n")[0]!]), [0]))
      }
      yield* Console.log(Format.table(
        ["idx", "stage", "class", "attempts", "quarantine", "error"],
        failed.map(([index, error]) => {
          const detail = details.get(index)
          return [
            String(index),
            detail?.stage ?? "",
            detail?.failureClass ?? "",
            detail === undefined ? "" : String(detail.attempts),
            detail === undefined ? "" : detail.quarantined ? "quarantined" : detail.failureClass === "permanent" ? `${detail.permanentFailures} run(s)` : "",
            error.split("\n")[0]!
          ]
        }),
        [0, 3]
      ))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("List the failed indices with their errors (a resumed run retries them)"))

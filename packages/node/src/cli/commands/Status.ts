/**
 * `curator status <target>`: the summary of a checkpoint database.
 */
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import { Console, Effect } from "effect"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

export const command = Command.make(
  "status",
  { target: Shared.target, json: Shared.json },
  ({ json, target }) =>
    Effect.gen(function*() {
      const checkpoint = yield* Target.resolveAndOpen(target)
      const summary = yield* checkpoint.summary
      if (json) return yield* Console.log(Format.json(summary))
      yield* Console.log(Format.keyValues([
        ["database", summary.db_path],
        ["config hash", summary.config_hash],
        ["total", String(summary.total)],
        ["completed", String(summary.completed)],
        ["failed", String(summary.failed)],
        ["remaining", String(summary.remaining)],
        ["avg time", `${summary.avg_time_ms} ms`],
        ["elapsed", Format.duration(summary.elapsed_s)],
        ["workers", String(summary.workers)]
      ]))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Show how far a pipeline's checkpoint database has come"))

/**
 * `curator which <target> <path>`: the index whose sink wrote a file.
 */
import * as Args from "@effect/cli/Args"
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import { Console, Effect, Option } from "effect"
import { resolve } from "node:path"
import { failed } from "../CliError.js"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

export const command = Command.make(
  "which",
  { target: Shared.target, path: Args.text({ name: "path" }), json: Shared.json },
  ({ json, path, target }) =>
    Effect.gen(function*() {
      const checkpoint = yield* Target.resolveAndOpen(target)
      // Sinks record the paths they return, usually absolute: try the path as given, then resolved.
      let found = yield* checkpoint.indexOfOutput(path)
      if (Option.isNone(found) && resolve(path) !== path) found = yield* checkpoint.indexOfOutput(resolve(path))
      if (Option.isNone(found)) return yield* failed(`no index of ${checkpoint.location} wrote ${path}`)
      yield* Console.log(json ? Format.json({ path, index: found.value }) : String(found.value))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Tell which index wrote an output file"))

/**
 * `curator workers <target>`: the workers registered for a configuration.
 */
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import { Console, Effect } from "effect"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

export const command = Command.make(
  "workers",
  { target: Shared.target, json: Shared.json },
  ({ json, target }) =>
    Effect.gen(function*() {
      const checkpoint = yield* Target.resolveAndOpen(target)
      const workers = yield* checkpoint.workers
      if (json) return yield* Console.log(Format.json(workers))
      if (workers.length === 0) return yield* Console.log("no workers registered")
      yield* Console.log(Format.table(
        ["worker", "pid", "host", "started", "heartbeat", "index", "done", "invocation"],
        workers.map((worker) => [
          Format.shortId(worker.workerId),
          String(worker.pid),
          worker.hostname,
          Format.timestamp(worker.startedAt),
          Format.timestamp(worker.lastHeartbeat),
          worker.currentIndex === null ? "-" : String(worker.currentIndex),
          String(worker.completedCount),
          Format.shortId(worker.invocationId)
        ]),
        [1, 5, 6]
      ))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("List the workers registered for the configuration, oldest first"))

/**
 * `curator workers <target>`: the run calls (invocations) recorded for a
 * configuration, one line each, then the workers of the latest (or of the
 * one `--invocation` names). Every invocation is counted; only one
 * invocation's workers are listed, so a database with a `workers` row per
 * index (the Python reference's) stays readable.
 */
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option } from "effect"
import { usage } from "../CliError.js"
import * as Format from "../Format.js"
import * as Json from "../Json.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"
import { withProgress } from "../../internal/workerState.js"

export const command = Command.make(
  "workers",
  {
    target: Shared.target,
    invocation: Options.text("invocation").pipe(
      Options.optional,
      Options.withDescription("list the workers of this invocation (id or unique prefix) instead of the latest")
    ),
    json: Shared.json.pipe(Options.withDescription("print the listed workers as a JSON array"))
  },
  ({ invocation, json, target }) =>
    Effect.gen(function*() {
      const checkpoint = yield* Target.resolveAndOpen(target)
      const invocations = yield* checkpoint.invocations
      let chosen: CheckpointStore.Invocation | undefined = invocations.reduce<CheckpointStore.Invocation | undefined>(
        (acc, i) => (acc === undefined || i.startedAt >= acc.startedAt ? i : acc),
        undefined
      )
      if (Option.isSome(invocation)) {
        const matches = invocations.filter((i) => i.invocationId.startsWith(invocation.value))
        if (matches.length !== 1) {
          return yield* usage(
            matches.length === 0
              ? `no invocation of this configuration has an id starting with "${invocation.value}"; see curator workers`
              : `"${invocation.value}" matches ${matches.length} invocations; give more of the id`
          )
        }
        chosen = matches[0]
      }
      const listed = chosen === undefined ? [] : yield* checkpoint.workersOf(chosen.invocationId)
      // Heartbeats' progress (FailurePolicy): items so far, and the watchdog's stalled flag.
      const progress = yield* checkpoint.workerProgress
      const workers = listed.map((worker) => withProgress(worker, progress))
      if (json) return yield* Console.log(Format.json(workers.map((w) => ({ ...Json.worker(w), state: w.state, items: w.items }))))
      if (invocations.length === 0) return yield* Console.log("no workers registered")
      const shown = invocations.length > 20 ? invocations.slice(-20) : invocations
      yield* Console.log(Format.table(
        ["invocation", "started", "elapsed", "processes", "worker rows", "completed"],
        shown.map((i) => [
          Format.shortId(i.invocationId) || "-",
          Format.timestamp(i.startedAt),
          Format.duration(i.elapsedS),
          String(i.processes),
          String(i.workerRows),
          String(i.completed)
        ]),
        [2, 3, 4, 5]
      ))
      if (shown.length < invocations.length) {
        yield* Console.log(`(the latest 20 of ${invocations.length} invocations)`)
      }
      yield* Console.log(`\nworkers of invocation ${Format.shortId(chosen?.invocationId) || "-"}:`)
      yield* Console.log(Format.table(
        ["worker", "pid", "host", "started", "heartbeat", "index", "state", "items", "done"],
        workers.map((worker) => [
          Format.shortId(worker.workerId),
          String(worker.pid),
          worker.hostname,
          Format.timestamp(worker.startedAt),
          Format.timestamp(worker.lastHeartbeat),
          worker.currentIndex === null ? "-" : String(worker.currentIndex),
          worker.state,
          worker.items === null ? "-" : String(worker.items),
          String(worker.completedCount)
        ]),
        [1, 5, 7, 8]
      ))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("List the invocations (run calls) of the configuration and the workers of the latest"))

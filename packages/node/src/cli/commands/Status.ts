/**
 * `curator status <target>`: the summary of a checkpoint database, with the
 * figures of the whole run (every invocation together) apart from those of
 * the latest invocation, so that a database written by several run calls,
 * or by the Python reference (one `workers` row per index), reads right.
 */
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import { Console, Effect } from "effect"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

/** A rate as text: `8.1/s`, `120/s`, or `-` when no time passed. */
const rate = (perS: number | null) => (perS === null ? "-" : `${perS.toFixed(perS < 10 ? 2 : 0)}/s`)

export const command = Command.make(
  "status",
  { target: Shared.target, json: Shared.json },
  ({ json, target }) =>
    Effect.gen(function*() {
      const checkpoint = yield* Target.resolveAndOpen(target)
      const { invocations, run, summary } = yield* Effect.all({
        summary: checkpoint.summary,
        run: checkpoint.runFigures,
        invocations: checkpoint.invocations
      })
      const runRate = run.spanS > 0 ? summary.completed / run.spanS : null
      const latest = invocations.reduce<CheckpointStore.Invocation | undefined>(
        (acc, i) => (acc === undefined || i.startedAt >= acc.startedAt ? i : acc),
        undefined
      )
      // The reference registers a worker (with its own invocation id) per index: its
      // "invocations" are single indices, and the latest one says nothing about the run.
      const perIndexRegistrations = run.workerRows > 1 && run.invocations === run.workerRows
      const latestInvocation = latest === undefined || perIndexRegistrations
        ? null
        : {
          invocation_id: latest.invocationId,
          started_at: latest.startedAt,
          elapsed_s: latest.elapsedS,
          completed: latest.completed,
          rate_per_s: latest.elapsedS > 0 ? latest.completed / latest.elapsedS : null,
          processes: latest.processes,
          worker_rows: latest.workerRows
        }
      if (json) {
        return yield* Console.log(Format.json({
          ...summary,
          run: {
            invocations: run.invocations,
            first_started_at: run.firstStartedAt,
            last_activity_at: run.lastActivityAt,
            span_s: run.spanS,
            rate_per_s: runRate,
            processes: run.processes,
            worker_rows: run.workerRows
          },
          latest_invocation: latestInvocation
        }))
      }
      yield* Console.log(Format.keyValues([
        ["database", summary.db_path],
        ["config hash", summary.config_hash],
        ["total", String(summary.total)],
        ["completed", String(summary.completed)],
        ["failed", String(summary.failed)],
        ["remaining", String(summary.remaining)],
        ["avg time", `${summary.avg_time_ms} ms per completed index`],
        [
          "whole run",
          `${Format.duration(run.spanS)} from first start to last record, ${rate(runRate)}, ${run.invocations} invocation${
            run.invocations === 1 ? "" : "s"
          }, ${run.processes} process${run.processes === 1 ? "" : "es"} (${run.workerRows} worker rows)`
        ],
        [
          "latest invocation",
          latestInvocation === null
            ? perIndexRegistrations ? "- (workers were registered once per index, as the Python reference does)" : "-"
            : `${Format.duration(latestInvocation.elapsed_s)}, ${latestInvocation.completed} completed, ${
              rate(latestInvocation.rate_per_s)
            }, ${latestInvocation.worker_rows} worker${latestInvocation.worker_rows === 1 ? "" : "s"}`
        ]
      ]))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Show how far a pipeline's checkpoint database has come"))

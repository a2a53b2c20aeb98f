/**
 * The outcome of one index as it crosses a thread or machine boundary: a
 * worker computes the index (with its logs captured there) and sends this
 * report back; the run records it exactly as if the index had run locally.
 */
import { Cause, Data, Effect, LogLevel, Schema } from "effect"
import type { LogEntry } from "./CheckpointStore.js"
import { type Computed, computeIndex, stagesOf } from "./internal/computeIndex.js"
import { CurrentIndex } from "./internal/context.js"
import * as LogCapture from "./LogCapture.js"
import type { Pipeline } from "./Pipeline.js"

const StageTiming = Schema.Struct({ order: Schema.Number, name: Schema.String, wallTimeNs: Schema.Number })

const Artifact = Schema.Struct({ path: Schema.String, filterName: Schema.String, filterOrder: Schema.Number })

const Log = Schema.Struct({
  timestamp: Schema.String,
  level: Schema.Number,
  levelName: Schema.String,
  loggerName: Schema.String,
  message: Schema.String,
  workerId: Schema.NullOr(Schema.String),
  index: Schema.NullOr(Schema.Number)
})

/** An index whose sink finished in a worker. */
export class Success extends Schema.TaggedClass<Success>()("Success", {
  paths: Schema.Array(Schema.String),
  wallTimeNs: Schema.Number,
  peakMemoryBytes: Schema.NullOr(Schema.Number),
  stages: Schema.Array(StageTiming),
  artifacts: Schema.Array(Artifact),
  logs: Schema.Array(Log)
}) {}

/** An index that failed in a worker: the recorded message, since the error itself cannot cross. */
export class Failure extends Schema.TaggedClass<Failure>()("Failure", {
  message: Schema.String,
  wallTimeNs: Schema.Number,
  peakMemoryBytes: Schema.NullOr(Schema.Number),
  logs: Schema.Array(Log)
}) {}

/** The report of one index. */
export const IndexReport = Schema.Union(Success, Failure)
export type IndexReport = typeof IndexReport.Type

/**
 * The failure of an index computed elsewhere, in a run's outcomes: it carries
 * the message recorded in the database (the original error stayed in the
 * worker).
 */
export class RemoteIndexFailure extends Data.TaggedError("RemoteIndexFailure")<{ readonly message: string }> {}

/**
 * Computes one index here (in a worker) and reports it, with the logs its
 * stages wrote at or above `logLevel`.
 */
export const compute = (
  pipeline: Pipeline<unknown, unknown>,
  index: number,
  workerId: string,
  logLevel: LogLevel.Literal
): Effect.Effect<IndexReport, never, unknown> =>
  Effect.suspend(() => {
    const stages = stagesOf(pipeline)
    const current: CurrentIndex["Type"] = { index, workerId, stage: stages[0]!, artifacts: [] }
    const logs: Array<LogEntry> = []
    const minimum = LogLevel.fromLiteral(logLevel)
    return computeIndex(pipeline, stages, current).pipe(
      Effect.provideService(CurrentIndex, current),
      LogCapture.withLogger(LogCapture.makeLogger(logs, minimum), minimum),
      Effect.map((computed): IndexReport =>
        computed._tag === "Success"
          ? new Success({
            paths: computed.paths,
            wallTimeNs: computed.wallTimeNs,
            peakMemoryBytes: computed.peakMemoryBytes,
            stages: computed.stages,
            artifacts: computed.artifacts,
            logs
          })
          : new Failure({ message: computed.message, wallTimeNs: computed.wallTimeNs, peakMemoryBytes: computed.peakMemoryBytes, logs })
      )
    )
  })

/** What the run records for a report: the same as for an index computed locally. */
export const toComputed = <E>(report: IndexReport): Computed<E> =>
  report._tag === "Success"
    ? {
      _tag: "Success",
      paths: report.paths,
      wallTimeNs: report.wallTimeNs,
      peakMemoryBytes: report.peakMemoryBytes,
      stages: report.stages,
      artifacts: report.artifacts
    }
    : {
      _tag: "Failure",
      message: report.message,
      cause: Cause.die(new RemoteIndexFailure({ message: report.message })),
      wallTimeNs: report.wallTimeNs,
      peakMemoryBytes: report.peakMemoryBytes
    }

import { IndexReport } from "@curator/core/Remote"
import { Schema } from "effect"
import { PipelineModuleError } from "../PipelineModule.js"
import * as SharedUnits from "./sharedUnits.js"

/** Load the pipeline module; the parent checks its configuration hash against each run's. */
export class Prepare extends Schema.TaggedRequest<Prepare>()("Prepare", {
  failure: PipelineModuleError,
  success: Schema.Struct({ configHash: Schema.String }),
  payload: {
    module: Schema.String,
    exportName: Schema.optional(Schema.String)
  }
}) {}

/** A log level by name, as runs take it. */
export const LogLevelName = Schema.Literal("All", "Fatal", "Error", "Warning", "Info", "Debug", "Trace", "None")

/**
 * One step of a lane's work in a thread: the report of the index it just
 * computed (none on the first step) and the index it starts next (none on
 * the last). An index's failure, if any, is inside its report.
 */
export const LaneStep = Schema.Struct({
  report: Schema.NullOr(IndexReport),
  started: Schema.NullOr(Schema.Number)
})

/**
 * Serve a lane: compute `first`, then the units the thread claims from the
 * shared queue, streaming a step as each index finishes and the next starts.
 */
export class ServeLane extends Schema.TaggedRequest<ServeLane>()("ServeLane", {
  failure: Schema.Never,
  success: LaneStep,
  payload: {
    units: SharedUnits.Buffers,
    lane: Schema.Number,
    first: Schema.Array(Schema.Number),
    workerId: Schema.String,
    logLevel: LogLevelName,
    /** Record spans into each report, for the run to replay (it traces). */
    tracing: Schema.Boolean,
    /** Whether the run resumes (stateful filters claim what earlier shards count). */
    resume: Schema.Boolean,
    /** What the run records of each output, measured in the thread (`verifyOutputs: "size" | "content"`). */
    measureOutputs: Schema.optional(Schema.Literal("size", "content"))
  }
}) {}

/** Everything a parent asks a worker thread. */
export const WorkerRequest = Schema.Union(Prepare, ServeLane)
export type WorkerRequest = typeof WorkerRequest.Type

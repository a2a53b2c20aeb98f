import { IndexReport } from "@curator/core"
import { Schema } from "effect"
import { PipelineModuleError } from "../PipelineModule.js"

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
 * Compute indices in order, streaming one report per index as each finishes;
 * an index's failure, if any, is inside its report.
 */
export class ComputeIndices extends Schema.TaggedRequest<ComputeIndices>()("ComputeIndices", {
  failure: Schema.Never,
  success: IndexReport.IndexReport,
  payload: {
    indices: Schema.Array(Schema.Number),
    workerId: Schema.String,
    logLevel: LogLevelName
  }
}) {}

/** Everything a parent asks a worker thread. */
export const WorkerRequest = Schema.Union(Prepare, ComputeIndices)
export type WorkerRequest = typeof WorkerRequest.Type

/**
 * Pipelines identified by the module that exports them. Functions cannot
 * cross threads or machines, so worker threads, the command line and remote
 * runners all load the same module and find the pipeline by its export name.
 * TypeScript modules load through `tsx`; compiled JavaScript loads as is.
 */
import { Pipeline } from "@curator/core"
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import { resolve } from "node:path"
import { importModule } from "./internal/moduleImport.js"

/** A pipeline module that cannot be used, and why. */
export class PipelineModuleError extends Schema.TaggedError<PipelineModuleError>()("PipelineModuleError", {
  reason: Schema.Literal("NotFound", "ImportFailed", "MissingExport", "NotAPipeline"),
  module: Schema.String,
  message: Schema.String
}) {}

/** Where a pipeline lives: a module path (absolute, or relative to the working directory) and an export name. */
export interface Reference {
  readonly module: string
  /** The export holding the pipeline; by default `pipeline`, else the default export. */
  readonly exportName?: string | undefined
}

/** The absolute path of a module reference. */
export const modulePath = (reference: Reference): string => resolve(reference.module)

/**
 * Imports the module and returns the pipeline it exports. A missing module, a
 * missing export, or an export that is not a pipeline is a typed error that
 * says what was found instead.
 */
export const load = (reference: Reference): Effect.Effect<Pipeline.Any, PipelineModuleError> =>
  Effect.gen(function*() {
    const path = modulePath(reference)
    const fail = (reason: PipelineModuleError["reason"], message: string) =>
      new PipelineModuleError({ reason, module: path, message })
    if (!fs.existsSync(path)) {
      return yield* fail("NotFound", `the pipeline module ${path} does not exist; check the path`)
    }
    const exports = yield* Effect.tryPromise({
      try: () => importModule(path),
      catch: (cause) =>
        fail("ImportFailed", `importing ${path} failed: ${cause instanceof Error ? cause.message : String(cause)}`)
    })
    const name = reference.exportName ?? ("pipeline" in exports ? "pipeline" : "default")
    if (!(name in exports)) {
      const pipelines = Object.keys(exports).filter((key) => Pipeline.isPipeline(exports[key]))
      return yield* fail(
        "MissingExport",
        `${path} has no export "${name}"; ${
          pipelines.length === 0 ? "it exports no pipeline at all" : `its pipeline exports are: ${pipelines.join(", ")}`
        }`
      )
    }
    const value = exports[name]
    if (!Pipeline.isPipeline(value)) {
      return yield* fail(
        "NotAPipeline",
        `the export "${name}" of ${path} is not a pipeline (it is ${value === null ? "null" : typeof value}); export the value built by Pipeline.write`
      )
    }
    return value
  })

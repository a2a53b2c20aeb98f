/**
 * Pipelines identified by the module that exports them. Functions cannot
 * cross threads or machines, so worker threads, the command line and remote
 * runners all load the same module and find the pipeline by its export name.
 * TypeScript modules load through `tsx`; compiled JavaScript loads as is.
 */
import { Pipeline } from "@curator/core"
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import { dirname, join, resolve } from "node:path"
import { importModule } from "./internal/moduleImport.js"

/** A pipeline module that cannot be used, and why. */
export class PipelineModuleError extends Schema.TaggedError<PipelineModuleError>()("PipelineModuleError", {
  reason: Schema.Literal("NotFound", "ImportFailed", "MissingExport", "NotAPipeline"),
  module: Schema.String,
  message: Schema.String
}) {}

/**
 * A pipeline loaded from a module. Its types are not known at run time, so
 * it is taken as closed: the services its stages need must travel with it
 * (`Pipeline.provide`); a stage whose service is missing fails its index
 * ("Service not found").
 */
export type Loaded = Pipeline.Pipeline<unknown, never, boolean>

/** Where a pipeline lives: a module path (absolute, or relative to the working directory) and an export name. */
export interface Reference {
  readonly module: string
  /** The export holding the pipeline; by default `pipeline`, else the default export. */
  readonly exportName?: string | undefined
}

/**
 * Whether a TypeScript module failed because Node loaded it as CommonJS (no
 * `"type": "module"` in the nearest package.json), where it cannot import
 * the ES modules it needs: Node reports a `require()` cycle or an ES module
 * required.
 */
const loadedAsCommonJs = (path: string, cause: unknown): boolean => {
  const code = (cause as { readonly code?: unknown } | undefined)?.code
  const message = cause instanceof Error ? cause.message : ""
  return /\.tsx?$/.test(path) && (
    code === "ERR_REQUIRE_CYCLE_MODULE" || code === "ERR_REQUIRE_ESM" || code === "ERR_REQUIRE_ASYNC_MODULE" ||
    /Cannot require\(\) ES Module/.test(message)
  )
}

/** What to change so that Node loads a TypeScript module as an ES module. */
const commonJsFix = (path: string): string => {
  let manifest: string | undefined
  for (let dir = dirname(path); manifest === undefined; dir = dirname(dir)) {
    if (fs.existsSync(join(dir, "package.json"))) manifest = join(dir, "package.json")
    else if (dirname(dir) === dir) break
  }
  const rename = path.endsWith(".ts") ? `, or rename the module to ${path.slice(0, -3)}.mts` : ""
  return `Add "type": "module" to ${manifest ?? `a package.json beside it (${join(dirname(path), "package.json")})`}${rename}`
}

/** The absolute path of a module reference. */
export const modulePath = (reference: Reference): string => resolve(reference.module)

/**
 * Imports the module and returns the pipeline it exports. A missing module, a
 * missing export, or an export that is not a pipeline is a typed error that
 * says what was found instead.
 */
export const load = (reference: Reference): Effect.Effect<Loaded, PipelineModuleError> =>
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
        fail(
          "ImportFailed",
          loadedAsCommonJs(path, cause)
            ? `importing ${path} failed: Node loaded it as CommonJS, where it cannot import ES modules (${
              String((cause as { readonly code?: unknown }).code ?? "require() of an ES module")
            }). ${commonJsFix(path)}`
            : `importing ${path} failed: ${cause instanceof Error ? cause.message : String(cause)}`
        )
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
    return value as Loaded
  })

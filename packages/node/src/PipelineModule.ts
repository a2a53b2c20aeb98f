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
  message: Schema.String,
  /** For `ImportFailed`: the stack of what the user's module threw (`--verbose` prints it). */
  userStack: Schema.optional(Schema.String)
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
    if (fs.statSync(path).isDirectory()) {
      const modules = fs.readdirSync(path).filter((file) => /\.[cm]?[jt]sx?$/.test(file) && !file.endsWith(".d.ts")).sort()
      return yield* fail(
        "NotFound",
        `${path} is a directory, not a pipeline module; give the module file${
          modules.length === 0 ? "" : ` (here: ${modules.slice(0, 5).map((file) => join(reference.module, file)).join(", ")})`
        }`
      )
    }
    const exports = yield* Effect.tryPromise({
      try: () => importModule(path),
      catch: (cause) =>
        new PipelineModuleError({
          reason: "ImportFailed",
          module: path,
          message: loadedAsCommonJs(path, cause)
            ? `importing ${path} failed: Node loaded it as CommonJS, where it cannot import ES modules (${
              String((cause as { readonly code?: unknown }).code ?? "require() of an ES module")
            }). ${commonJsFix(path)}`
            : `importing ${path} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
          userStack: cause instanceof Error && cause.stack !== undefined ? cause.stack : undefined
        })
    })
    const pipelines = Object.keys(exports).filter((key) => Pipeline.isPipeline(exports[key]))
    const choose = `choose one with --export NAME (e.g. --export ${pipelines[0]}; as a target: ${reference.module}#${pipelines[0]})`
    // Without --export: `pipeline`, else the only pipeline the module exports (named or default).
    const name = reference.exportName ??
      ("pipeline" in exports ? "pipeline" : pipelines.length === 1 ? pipelines[0]! : pipelines.length > 1 ? undefined : "default")
    if (name === undefined) {
      return yield* fail("MissingExport", `${path} exports ${pipelines.length} pipelines: ${pipelines.join(", ")}; ${choose}`)
    }
    if (!(name in exports)) {
      return yield* fail(
        "MissingExport",
        `${path} has no export "${name}"; ${
          pipelines.length === 0 ? "it exports no pipeline at all" : `its pipeline exports are: ${pipelines.join(", ")}; ${choose}`
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

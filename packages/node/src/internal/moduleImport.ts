/**
 * Imports a user's module (a pipeline module) by its path, the way
 * `curator`, worker threads and runners all need it:
 *
 * - TypeScript loads through `tsx`, an optional package registered only
 *   when a `.ts` module is imported (compiled JavaScript needs nothing);
 *   without it the error says how to install it.
 * - A module outside any project that installs Curator (a script in
 *   `/tmp`, a pipeline in another folder) may still import what Curator
 *   itself imports — `@curator/core`, `effect`… — from Curator's own
 *   installation: a bare import that cannot be resolved from the module is
 *   resolved again from here. The module then shares Curator's copies
 *   (one `effect`, one `@curator/core`), which a pipeline must.
 */
import { register } from "node:module"
import { pathToFileURL } from "node:url"
import * as WT from "node:worker_threads"
import { type Transpiled, typeScript } from "./transpiledModules.js"

/**
 * The module hook: the default resolution, else, for a bare specifier
 * that is not found, the same resolution from Curator's package; and, in a
 * worker thread, the TypeScript its pool transpiled once (see
 * internal/transpiledModules.ts) served at its own URLs. Hooks run on
 * Node's loader thread, so this is plain JavaScript given as a data URL
 * (one file for the sources and the compiled package alike).
 */
const hook = `
let base
let sources = new Map()
let resolutions = new Map()
export const initialize = (data) => {
  base = data.base
  if (data.transpiled !== undefined) {
    sources = new Map(Object.entries(data.transpiled.sources))
    resolutions = new Map(Object.entries(data.transpiled.resolutions))
  }
}
const bare = (specifier) => !/^(\\.{0,2}\\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier)
export const resolve = async (specifier, context, next) => {
  const known = context.parentURL === undefined ? undefined : resolutions.get(context.parentURL + "\\0" + specifier)
  if (known !== undefined) return { url: known, format: "module", shortCircuit: true }
  try {
    return await next(specifier, context)
  } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND" || !bare(specifier) || context.parentURL === base) throw error
    return next(specifier, { ...context, parentURL: base })
  }
}
`

/** Serving transpiled sources: only where there are some, as a load hook costs every module a round trip. */
const loadHook = `
export const load = async (url, context, next) => {
  const source = sources.get(url)
  return source === undefined ? next(url, context) : { format: "module", source, shortCircuit: true }
}`

const hookUrl = (transpiled: Transpiled | undefined) =>
  `data:text/javascript,${encodeURIComponent(transpiled === undefined ? hook : hook + loadHook)}`

/**
 * The hook of a worker thread, with the TypeScript its pool transpiled. The
 * thread registers it as late as it can: every module loaded after it pays
 * a round trip to the loader thread, so it goes in before the entry only
 * when the entry itself is TypeScript (`atStart`), else on the first import
 * of a pipeline module, once Curator and effect are loaded.
 */
export interface WorkerHook {
  readonly url: string
  readonly data: { readonly base: string; readonly transpiled: Transpiled | undefined }
  readonly atStart: boolean
}

/** The key of `workerData` under which a thread finds its hook. */
export const workerDataKey = "curatorModuleHook"

export const workerHook = (transpiled: Transpiled | undefined, atStart: boolean): WorkerHook => ({
  url: hookUrl(transpiled),
  data: { base: import.meta.url, transpiled },
  atStart
})

/** In a worker thread of the pool: its hook. */
const poolHook: WorkerHook | undefined = WT.isMainThread
  ? undefined
  : (WT.workerData as Record<string, WorkerHook | undefined> | null)?.[workerDataKey]

let hookRegistered = poolHook?.atStart === true

/** Registers the hook for this thread, once. */
const registerHook = (): void => {
  if (hookRegistered) return
  hookRegistered = true
  const { data, url } = poolHook ?? workerHook(undefined, false)
  register(url, { data })
}

/** Whether this thread's hook serves `path` already transpiled. */
const transpiledHere = (path: string): boolean => poolHook?.data.transpiled?.sources[pathToFileURL(path).href] !== undefined

let tsxRegistered: Promise<void> | undefined

/** Lets this thread import TypeScript through tsx, once; fails with what to install when tsx is missing. */
const registerTypeScript = (path: string): Promise<void> =>
  (tsxRegistered ??= import("tsx/esm/api").then(
    (tsx) => {
      tsx.register()
    },
    (cause: unknown) => {
      tsxRegistered = undefined
      const missing = (cause as { code?: unknown } | null)?.code === "ERR_MODULE_NOT_FOUND"
      throw missing
        ? new Error(
          `${path} is TypeScript, which Curator loads through the package tsx, and tsx is not installed: npm install --save-dev tsx (or give the compiled JavaScript module)`
        )
        : cause
    }
  ))

/** Imports the module at an absolute path, as described in this module's header. */
export const importModule = async (path: string): Promise<Record<string, unknown>> => {
  if (typeScript.test(path) && !transpiledHere(path)) await registerTypeScript(path)
  // Registered after tsx, so it runs first and sees tsx's resolution fail.
  registerHook()
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>
}

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

const typeScript = /\.[cm]?tsx?$/

/**
 * The resolve hook: the default resolution, else, for a bare specifier
 * that is not found, the same resolution from Curator's package. Hooks run
 * on Node's loader thread, so this is plain JavaScript given as a data URL
 * (one file for the sources and the compiled package alike).
 */
const fallbackHook = `
let base
export const initialize = (data) => { base = data.base }
const bare = (specifier) => !/^(\\.{0,2}\\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier)
export const resolve = async (specifier, context, next) => {
  try {
    return await next(specifier, context)
  } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND" || !bare(specifier) || context.parentURL === base) throw error
    return next(specifier, { ...context, parentURL: base })
  }
}`

let fallbackRegistered = false

/** Registers the fallback resolution for this thread, once. */
const registerFallback = (): void => {
  if (fallbackRegistered) return
  fallbackRegistered = true
  register(`data:text/javascript,${encodeURIComponent(fallbackHook)}`, { data: { base: import.meta.url } })
}

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
  if (typeScript.test(path)) await registerTypeScript(path)
  // Registered after tsx, so it runs first and sees tsx's resolution fail.
  registerFallback()
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>
}

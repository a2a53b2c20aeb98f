/**
 * Modules a command loads when it runs rather than when `curator` starts:
 * the cluster, PostgreSQL, worker threads and the dashboard cost a second of
 * start-up that `--help` or `status` should not pay. Some of them need an
 * optional package of `@curator/node` (`peerDependencies`); when it is not
 * installed, the command fails with a usage error naming the package and
 * the command that installs it.
 */
import { Effect } from "effect"
import * as PackageDir from "../internal/packageDir.js"
import { type CliError, usage } from "./CliError.js"

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`); undefined for a path. */
const packageOf = (specifier: string): string | undefined => {
  if (specifier.startsWith(".") || specifier.startsWith("/")) return undefined
  return specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/")
}

/**
 * The package a failed import could not find, if that is why it failed: as
 * an ES module import says it, or as `require` does (the read commands run
 * from a CommonJS bundle, see `bin/codeCache.mjs`).
 */
const missingPackage = (cause: unknown): string | undefined => {
  const code = (cause as { code?: unknown } | null)?.code
  const message = String((cause as Error | null)?.message)
  if (code === "ERR_MODULE_NOT_FOUND") return /Cannot find package '([^']+)'/.exec(message)?.[1]
  const required = code === "MODULE_NOT_FOUND" ? /Cannot find module '([^']+)'/.exec(message)?.[1] : undefined
  return required === undefined ? undefined : packageOf(required)
}

/** The version range `@curator/node` declares for an optional package, if any. */
const declaredRange = (name: string): string | undefined => {
  const range = PackageDir.manifest()?.peerDependencies?.[name]
  return typeof range === "string" ? range : undefined
}

/**
 * Imports a module for `feature` (as the user asked for it: `--postgres`,
 * `--backend cluster`…). A package missing from the installation is a usage
 * error saying what to install; any other failure is a defect.
 */
export const load = <A>(feature: string, importer: () => Promise<A>): Effect.Effect<A, CliError> =>
  Effect.tryPromise({ try: importer, catch: (cause) => cause }).pipe(
    Effect.catchAll((cause) => {
      const missing = missingPackage(cause)
      if (missing === undefined) return Effect.die(cause)
      const range = declaredRange(missing)
      const spec = range === undefined ? missing : `"${missing}@${range}"`
      return Effect.fail(usage(`${feature} needs the package ${missing}, which is not installed: npm install ${spec}`))
    })
  )

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

/** The package a failed import could not find, if that is why it failed. */
const missingPackage = (cause: unknown): string | undefined => {
  if ((cause as { code?: unknown } | null)?.code !== "ERR_MODULE_NOT_FOUND") return undefined
  return /Cannot find package '([^']+)'/.exec(String((cause as Error).message))?.[1]
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

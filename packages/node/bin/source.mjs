/**
 * Runs `curator` from the TypeScript sources (`node --conditions=@curator/source
 * --import ./source.mjs ../src/bin.ts`): lets the process import TypeScript
 * through tsx, after loading the command line's JavaScript dependencies.
 *
 * Loader hooks cost a round trip to the hooks thread for every module
 * loaded after they are registered, which doubles the time to load Effect's
 * few hundred modules; the dependencies are plain JavaScript and need no
 * hooks, so they are loaded first (a module missing from this list still
 * loads, through the hooks, only slower).
 */
await Promise.allSettled(
  [
    "effect",
    "effect/Function",
    "effect/Pipeable",
    "@effect/cli/Args",
    "@effect/cli/Command",
    "@effect/cli/Options",
    "@effect/cli/ValidationError",
    "@effect/experimental/Reactivity",
    "@effect/platform/Worker",
    "@effect/platform-node/NodeContext",
    "@effect/platform-node/NodeRuntime",
    "@effect/platform-node/NodeWorker",
    "@effect/printer-ansi/AnsiDoc",
    "@effect/sql/Migrator",
    "@effect/sql/SqlClient",
    "@effect/sql/SqlError",
    "@effect/sql-sqlite-node",
    "canonicalize"
  ].map((specifier) => import(specifier))
)

const { register } = await import("tsx/esm/api")
register()

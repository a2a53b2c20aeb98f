/**
 * Where a checkpoint database goes, as SPEC.md orders it: `dbFile`, else
 * `dbDir`, else `$PSNC_CACHE_DIR`, else `$XDG_CACHE_HOME/psnc`, else
 * `~/.cache/psnc`. Environment variables are read through `Config`, so a
 * test (or an application) can supply them with a `ConfigProvider`.
 */
import { CheckpointStore } from "@curator/core"
import { Clock, Config, Effect } from "effect"
import { homedir } from "node:os"
import { join, resolve } from "node:path"

const nonEmpty = (name: string) =>
  Config.string(name).pipe(Config.validate({ message: `${name} is empty`, validation: (value) => value.length > 0 }))

/** The cache directory for checkpoint databases. */
export const cacheDirectory: Config.Config<string> = nonEmpty("PSNC_CACHE_DIR").pipe(
  Config.orElse(() => nonEmpty("XDG_CACHE_HOME").pipe(Config.map((dir) => join(dir, "psnc")))),
  Config.orElse(() =>
    nonEmpty("HOME").pipe(
      Config.orElse(() => Config.succeed(homedir())),
      Config.map((home) => join(home, ".cache", "psnc"))
    )
  ),
  Config.map((dir) => resolve(dir))
)

/** The database path of an open request: absolute, named `{hash16}.db` or `{hash16}_{epoch µs}.db`. */
export const resolvePath = (request: CheckpointStore.OpenRequest): Effect.Effect<string> =>
  Effect.gen(function*() {
    if (request.dbFile !== undefined) return resolve(request.dbFile)
    const directory = request.dbDir !== undefined ? resolve(request.dbDir) : yield* Effect.orDie(cacheDirectory)
    const micros = (yield* Clock.currentTimeNanos) / 1000n
    return join(directory, CheckpointStore.databaseFileName(request.configHash, request.resume, micros))
  })

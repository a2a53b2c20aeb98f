/**
 * Checkpoints in SQLite files on disk, one file per configuration (SPEC.md's
 * naming and location), through `@effect/sql-sqlite-node`: WAL journal,
 * foreign keys off (as the reference writes them), and lock conflicts waited
 * out in Effect instead of SQLite's blocking busy handler.
 */
import type { FileSystem } from "@effect/platform"
import * as NodeHost from "./NodeHost.js"
import { CheckpointStore, type Host } from "@curator/core"
import { CheckpointSchema, SqlCheckpoint } from "@curator/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as Reactivity from "@effect/experimental/Reactivity"
import { Effect, Layer, type Scope } from "effect"
import * as fs from "node:fs/promises"
import { dirname } from "node:path"
import * as DatabaseLocation from "./DatabaseLocation.js"

type CheckpointError = CheckpointStore.CheckpointError

const error = (reason: CheckpointError["reason"], location: string, message: string, cause?: unknown) =>
  new CheckpointStore.CheckpointError({ reason, location, message, cause })

const sqliteHeader = "SQLite format 3\u0000"

/**
 * Checks, without changing anything, that `path` can hold a database: not a
 * directory, and either missing, empty, or a SQLite file.
 */
const preflight = (path: string, mustExist: boolean): Effect.Effect<void, CheckpointError> =>
  Effect.gen(function*() {
    const stat = yield* Effect.promise(() => fs.stat(path).catch(() => undefined))
    if (stat === undefined) {
      if (mustExist) return yield* error("NotFound", path, `${path} does not exist; check the path, or run the pipeline first`)
      return
    }
    if (stat.isDirectory()) {
      return yield* error("NotADatabase", path, `${path} is a directory; give a database file path (or use dbDir for a directory)`)
    }
    if (stat.size === 0) return
    const header = yield* Effect.tryPromise({
      try: async () => {
        const file = await fs.open(path, "r")
        try {
          const buffer = Buffer.alloc(16)
          await file.read(buffer, 0, 16, 0)
          return buffer.toString("latin1")
        } finally {
          await file.close()
        }
      },
      catch: (cause) => error("StorageFailure", path, `cannot read ${path}: ${String(cause)}`, cause)
    })
    if (header !== sqliteHeader) {
      return yield* error(
        "NotADatabase",
        path,
        `${path} is not a SQLite database; it was left untouched. Choose another dbFile or dbDir`
      )
    }
  })

const describeOpenFailure = (path: string, cause: unknown): CheckpointError => {
  const code = (cause as { readonly code?: unknown })?.code
  const message = cause instanceof Error ? cause.message : String(cause)
  switch (code) {
    case "SQLITE_NOTADB":
      return error("NotADatabase", path, `${path} is not a SQLite database; it was left untouched`, cause)
    case "SQLITE_READONLY":
    case "SQLITE_CANTOPEN":
    case "SQLITE_PERM":
    case "SQLITE_AUTH":
      return error(
        "ReadOnly",
        path,
        `cannot write ${path} (${message}); make its directory writable or choose another dbDir`,
        cause
      )
    default:
      return error("StorageFailure", path, `cannot open ${path}: ${message}`, cause)
  }
}

/**
 * Switches a writable database to WAL, once it is known to be Curator's (or
 * empty): changing the journal mode rewrites the file's header, and a file
 * that is not ours must be left untouched.
 */
const enableWal = (path: string, sql: SqlClient.SqlClient): Effect.Effect<void, CheckpointError> =>
  Effect.provideService(CheckpointSchema.inspect(path), SqlClient.SqlClient, sql).pipe(
    Effect.zipRight(sql`PRAGMA journal_mode = WAL`),
    Effect.catchTag("SqlError", (cause) => Effect.fail(describeOpenFailure(path, cause.cause))),
    Effect.asVoid
  )

/** Opens a SQLite connection for the scope; driver exceptions become typed errors. */
const connect = (path: string, readonly: boolean): Effect.Effect<SqlClient.SqlClient, CheckpointError, Scope.Scope> =>
  SqliteClient.make({ filename: path, readonly, disableWAL: true }).pipe(
    Effect.provide(Reactivity.layer),
    Effect.catchAllDefect((cause) => Effect.fail(describeOpenFailure(path, cause))),
    Effect.tap((sql) => (readonly ? Effect.void : enableWal(path, sql))),
    Effect.tap((sql) =>
      // Lock waits happen in Effect (see @curator/sql's retryBusy), never inside SQLite.
      sql`PRAGMA busy_timeout = 0`.pipe(
        Effect.zipRight(readonly ? Effect.void : Effect.asVoid(sql`PRAGMA foreign_keys = OFF`)),
        Effect.mapError((cause) => describeOpenFailure(path, cause.cause))
      )
    )
  )

const makeDirectory = (path: string) =>
  Effect.tryPromise({
    try: () => fs.mkdir(dirname(path), { recursive: true }),
    catch: (cause) =>
      error(
        "ReadOnly",
        path,
        `cannot create the directory ${dirname(path)} (${(cause as Error).message}); choose a writable dbDir or PSNC_CACHE_DIR`,
        cause
      )
  })

/** Opens (creating if needed) the database at `path` for one configuration's run. */
export const openForRun = (
  path: string,
  request: CheckpointStore.OpenRequest,
  options: SqlCheckpoint.Options = {}
): Effect.Effect<CheckpointStore.Checkpoint, CheckpointError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* preflight(path, false)
    yield* makeDirectory(path)
    const sql = yield* connect(path, false)
    return yield* Effect.provideService(SqlCheckpoint.make(path, request, options), SqlClient.SqlClient, sql)
  })

/**
 * Opens an existing database file offline, to query it (and, unless
 * `readonly`, reset it). Opening never modifies the file. With several
 * configurations in one file, `configHash` (or a prefix) says which.
 */
export const openFile = (
  path: string,
  options: { readonly readonly?: boolean | undefined; readonly configHash?: string | undefined } = {}
): Effect.Effect<CheckpointStore.Checkpoint, CheckpointError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* preflight(path, true)
    const readonly = options.readonly ?? true
    const sql = yield* connect(path, readonly)
    return yield* Effect.provideService(SqlCheckpoint.openExisting(path, { ...options, readonly }), SqlClient.SqlClient, sql)
  })

/**
 * The default checkpoint store: one SQLite file per configuration, placed
 * and named as SPEC.md says (see `DatabaseLocation`).
 */
export const layer = (
  options: SqlCheckpoint.Options = {}
): Layer.Layer<CheckpointStore.CheckpointStore | Host.Host | FileSystem.FileSystem> =>
  Layer.merge(NodeHost.platform, Layer.succeed(CheckpointStore.CheckpointStore, {
    open: (request) =>
      Effect.flatMap(DatabaseLocation.resolvePath(request), (path) => openForRun(path, request, options))
  }))

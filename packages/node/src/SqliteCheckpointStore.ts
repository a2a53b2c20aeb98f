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
import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import { tmpdir } from "node:os"
import { basename, dirname, join } from "node:path"
import * as ConfigDiff from "./ConfigDiff.js"
import * as DatabaseLocation from "./DatabaseLocation.js"

type CheckpointError = CheckpointStore.CheckpointError

const error = (reason: CheckpointError["reason"], location: string, message: string, cause?: unknown) =>
  new CheckpointStore.CheckpointError({ reason, location, message, cause })

const sqliteHeader = "SQLite format 3\u0000"

/** What to do about a file that is not a checkpoint database: opened for a run, or to be read. */
const adviceFor = (mustExist: boolean) => (mustExist ? "give the path of a Curator checkpoint database" : "choose another dbFile or dbDir")

/**
 * Checks, without changing anything, that `path` can hold a database: not a
 * directory, and either missing, empty, or a SQLite file. `mustExist` when
 * it is to be read (the advice then fits reading).
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
        `${path} is not a SQLite database; it was left untouched. ${capitalized(adviceFor(mustExist))}`
      )
    }
  })

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

/** The SQLite result code behind a failure (a `SqliteError` among its causes), if any. */
const sqliteCode = (failure: unknown): string | undefined => {
  for (let cause = failure, depth = 0; cause !== undefined && cause !== null && depth < 5; depth++) {
    const code = (cause as { readonly code?: unknown }).code
    if (typeof code === "string" && code.startsWith("SQLITE_")) return code
    cause = (cause as { readonly cause?: unknown }).cause
  }
  return undefined
}

const driverMessage = (failure: unknown): string => {
  for (let cause = failure, depth = 0; cause !== undefined && cause !== null && depth < 5; depth++) {
    if (typeof (cause as { readonly code?: unknown }).code === "string") return (cause as Error).message
    cause = (cause as { readonly cause?: unknown }).cause
  }
  return failure instanceof Error ? failure.message : String(failure)
}

/**
 * The failure of a SQLite file, worded for what the user can do about it:
 * a damaged file, a read-only folder or file, a full disk; `undefined` for
 * other failures.
 */
const explainCode = (path: string, cause: unknown): CheckpointError | undefined => {
  const code = sqliteCode(cause)
  const message = driverMessage(cause)
  if (code === undefined) return undefined
  if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") {
    return error(
      "Damaged",
      path,
      `${path} is damaged (${message}); it was left untouched. Restore it from a copy, or move it aside and run again to start afresh`,
      cause
    )
  }
  if (code.startsWith("SQLITE_FULL")) {
    return error(
      "DiskFull",
      path,
      `the disk holding ${dirname(path)} is full (${message}); free some space there, then resume the run (with --resume) to continue`,
      cause
    )
  }
  if (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN") || code === "SQLITE_PERM" || code === "SQLITE_AUTH") {
    return error(
      "ReadOnly",
      path,
      existsSync(path)
        ? `cannot write ${path}: its folder ${dirname(path)} (or the file) is read-only (${message}); make it writable, ` +
          `or copy the database to a writable folder and use the copy (dbFile)`
        : `cannot create ${path}: its folder ${dirname(path)} is read-only (${message}); make it writable or choose another dbDir`,
      cause
    )
  }
  return undefined
}

/**
 * A checkpoint failure re-worded when its cause is a condition of the SQLite
 * file the user can act on (damaged, read-only, full disk), so that it says
 * what happened and what to do; any other failure as it is.
 */
export const explain = (failure: CheckpointError): CheckpointError =>
  failure.reason === "StorageFailure" ? explainCode(failure.location, failure.cause) ?? failure : failure

/** Whether a failure is a full disk: a run can say how far it got, and how to resume. */
export const isDiskFull = (failure: unknown): failure is CheckpointError =>
  failure instanceof CheckpointStore.CheckpointError && explain(failure).reason === "DiskFull"

const describeOpenFailure = (path: string, cause: unknown): CheckpointError => {
  const explained = explainCode(path, cause)
  if (explained !== undefined) return explained
  return error("StorageFailure", path, `cannot open ${path}: ${driverMessage(cause)}`, cause)
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

/**
 * Opens a SQLite connection for the scope; driver exceptions become typed
 * errors. `pageCacheKiB` bounds SQLite's own page cache (the driver's
 * default is 16 MB).
 */
const connect = (
  path: string,
  readonly: boolean,
  pageCacheKiB?: number | undefined
): Effect.Effect<SqlClient.SqlClient, CheckpointError, Scope.Scope> =>
  SqliteClient.make({ filename: path, readonly, disableWAL: true }).pipe(
    Effect.provide(Reactivity.layer),
    Effect.catchAllDefect((cause) => Effect.fail(describeOpenFailure(path, cause))),
    Effect.tap((sql) => (readonly ? probe(path, sql) : enableWal(path, sql))),
    Effect.tap((sql) =>
      // Lock waits happen in Effect (see @curator/sql's retryBusy), never inside SQLite.
      sql`PRAGMA busy_timeout = 0`.pipe(
        Effect.zipRight(readonly ? Effect.void : Effect.asVoid(sql`PRAGMA foreign_keys = OFF`)),
        Effect.zipRight(
          pageCacheKiB === undefined ? Effect.void : Effect.asVoid(sql.unsafe(`PRAGMA cache_size = -${Math.max(1, Math.round(pageCacheKiB))}`))
        ),
        Effect.mapError((cause) => describeOpenFailure(path, cause.cause))
      )
    )
  )

/** Reads the schema once, so that a file that cannot be read fails on opening, with its reason. */
const probe = (path: string, sql: SqlClient.SqlClient): Effect.Effect<void, CheckpointError> =>
  sql`SELECT COUNT(*) AS tables FROM sqlite_master`.pipe(
    Effect.mapError((cause) => describeOpenFailure(path, cause.cause)),
    Effect.asVoid
  )

/**
 * Reads a database whose folder cannot be written: SQLite cannot read a WAL
 * database without creating its shared-memory file beside it, and
 * better-sqlite3 offers no `immutable` open. Its files (the database and
 * any `-wal` journal, so that nothing committed is missed) are copied to a
 * temporary folder for the scope, and the copy is read.
 */
const connectToCopy = (path: string): Effect.Effect<SqlClient.SqlClient, CheckpointError, Scope.Scope> =>
  Effect.gen(function*() {
    const folder = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => fs.mkdtemp(join(tmpdir(), "curator-read-")),
        catch: (cause) => error("ReadOnly", path, `cannot read ${path} from its read-only folder: ${String(cause)}`, cause)
      }),
      (folder) => Effect.promise(() => fs.rm(folder, { recursive: true, force: true }))
    )
    const copy = join(folder, basename(path))
    yield* Effect.tryPromise({
      try: async () => {
        await fs.copyFile(path, copy)
        await fs.copyFile(`${path}-wal`, `${copy}-wal`).catch((cause) => {
          if ((cause as NodeJS.ErrnoException).code !== "ENOENT") throw cause
        })
      },
      catch: (cause) => error("StorageFailure", path, `cannot read ${path}: ${String(cause)}`, cause)
    })
    return yield* connect(copy, true).pipe(Effect.mapError((failure) => error(failure.reason, path, failure.message.replaceAll(copy, path), failure.cause)))
  })

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

/**
 * A run's page cache: 4 MB instead of the driver's 16 MB. A run appends its
 * records in about index order, so what it reuses is the right edge of each
 * B-tree. 200,000 tracked indices, three runs each: 4 MB as fast as 16 MB
 * (16.7–17.7k idx/s both); SQLite's own default, 2 MB, about 7% slower.
 * The 12 MB saved is resident memory of every run.
 */
const runPageCacheKiB = 4000

/** Opens (creating if needed) the database at `path` for one configuration's run. */
export const openForRun = (
  path: string,
  request: CheckpointStore.OpenRequest,
  options: SqlCheckpoint.Options = {}
): Effect.Effect<CheckpointStore.Checkpoint, CheckpointError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* preflight(path, false)
    yield* makeDirectory(path)
    const sql = yield* connect(path, false, runPageCacheKiB)
    return yield* Effect.provideService(SqlCheckpoint.make(path, request, options), SqlClient.SqlClient, sql)
  }).pipe(Effect.mapError(explain))

/**
 * Opens an existing database file offline, to query it (and, unless
 * `readonly`, reset it). Opening never modifies the file. With several
 * configurations in one file, `configHash` (or a prefix) says which.
 *
 * `pageCacheKiB` suits a one-shot read: a command that reads most pages
 * once gains nothing from a large cache of its own (the operating system
 * caches the file), and allocating one costs it time (about 60 ms of fresh
 * memory to list 3,600 failures of 10⁶ records with the 16 MB default).
 */
export const openFile = (
  path: string,
  options: {
    readonly readonly?: boolean | undefined
    readonly configHash?: string | undefined
    readonly pageCacheKiB?: number | undefined
  } = {}
): Effect.Effect<CheckpointStore.Checkpoint, CheckpointError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* preflight(path, true)
    const readonly = options.readonly ?? true
    const sql = yield* connect(path, readonly, options.pageCacheKiB).pipe(
      Effect.catchIf((failure) => readonly && failure.reason === "ReadOnly", () => connectToCopy(path))
    )
    return yield* Effect.provideService(SqlCheckpoint.openExisting(path, { ...options, readonly }), SqlClient.SqlClient, sql).pipe(
      Effect.catchIf((failure) => failure.reason === "ForeignSchema", (failure) =>
        Effect.fail(error(
          "ForeignSchema",
          path,
          `${path} is not a Curator checkpoint database (it holds other tables); it was left untouched. ${capitalized(adviceFor(true))}`,
          failure
        )))
    )
  }).pipe(Effect.mapError(explain))

/**
 * How many indices a database holds records of (completed or failed), or
 * undefined when it cannot be read: what a run stopped by a full disk kept.
 */
export const recordedIndices = (path: string): Effect.Effect<number | undefined> =>
  openFile(path).pipe(
    Effect.flatMap((checkpoint) => checkpoint.summary),
    Effect.map((summary) => summary.completed + summary.failed),
    Effect.orElseSucceed(() => undefined),
    Effect.scoped
  )

/**
 * The default checkpoint store: one SQLite file per configuration, placed
 * and named as SPEC.md says (see `DatabaseLocation`).
 */
export const layer = (
  options: SqlCheckpoint.Options = {}
): Layer.Layer<CheckpointStore.CheckpointStore | Host.Host | FileSystem.FileSystem> =>
  Layer.merge(NodeHost.platform, Layer.succeed(CheckpointStore.CheckpointStore, {
    open: (request) =>
      Effect.flatMap(DatabaseLocation.resolvePath(request), (path) =>
        Effect.zipRight(
          // A resumed run about to start fresh beside a database of the same pipeline with other parameters says so.
          request.resume && request.dbFile === undefined
            ? Effect.flatMap(
              Effect.suspend(() => ConfigDiff.warningBeforeFreshStart((file) => openFile(file), path, request)),
              (warning) => (warning === undefined ? Effect.void : Effect.logWarning(warning))
            )
            : Effect.void,
          openForRun(path, request, options)
        ))
  }))

/**
 * Checkpoints on a PostgreSQL server, shared by every machine that reaches
 * it. Each database SPEC.md would write as a file is a schema of the
 * server's database, named as that file without `.db`: `{hash16}` for a
 * resumed configuration, `{hash16}_{epoch µs}` for a fresh run. The tables,
 * queries and results are the SQLite store's (`@curator/sql`).
 *
 * @example
 * Pipeline.run(pipeline).pipe(
 *   Effect.provide(PgCheckpointStore.layer({ url: "postgresql://curator:secret@db:5432/curation" })),
 *   Effect.provide(Backend.layerFibers)
 * )
 */
import type { FileSystem } from "@effect/platform"
import * as NodeHost from "./NodeHost.js"
import { CheckpointStore, type Host } from "@curator/core"
import { SqlCheckpoint } from "@curator/sql"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgClient } from "@effect/sql-pg"
import { Clock, Effect, Layer, Redacted, type Scope } from "effect"
import { basename, extname } from "node:path"

type CheckpointError = CheckpointStore.CheckpointError

/** The server, and how records are written to it. */
export interface Options extends SqlCheckpoint.Options {
  /** A `postgresql://` connection URL; its database must exist. */
  readonly url: string | Redacted.Redacted<string>
}

/** The server's URL without password or parameters, to name it in messages and locations. */
export const describeServer = (url: string | Redacted.Redacted<string>): string => {
  const text = Redacted.isRedacted(url) ? Redacted.value(url) : url
  try {
    const parsed = new URL(text)
    parsed.password = ""
    parsed.search = ""
    parsed.hash = ""
    return parsed.href
  } catch {
    return "postgresql://(unparsable URL)"
  }
}

/** The location of a schema's checkpoint: `<server>#<schema>`, as summaries show it and `dbFile` accepts. */
export const locationOf = (url: string | Redacted.Redacted<string>, schema: string): string => `${describeServer(url)}#${schema}`

/**
 * The schema an exact `dbFile` names: the part after `#` of a location this
 * store printed, else the file's name without its extension.
 */
export const schemaOfFile = (dbFile: string): string => {
  const hash = dbFile.lastIndexOf("#")
  if (hash >= 0) return dbFile.slice(hash + 1)
  return basename(dbFile, extname(dbFile))
}

/** The schema of an open request, named as SPEC.md names database files. `dbDir` has no meaning on a server. */
export const schemaOf = (request: CheckpointStore.OpenRequest): Effect.Effect<string> =>
  request.dbFile !== undefined
    ? Effect.succeed(schemaOfFile(request.dbFile))
    : Effect.map(Clock.currentTimeNanos, (nanos) =>
      CheckpointStore.databaseFileName(request.configHash, request.resume, nanos / 1000n).replace(/\.db$/, ""))

const storageFailure = (location: string, message: string, cause?: unknown) =>
  new CheckpointStore.CheckpointError({ reason: "StorageFailure", location, message, cause })

const causeMessage = (error: { readonly message: string; readonly cause?: unknown }) =>
  error.cause instanceof Error ? error.cause.message : error.message

/**
 * A connection pool for the scope whose unqualified tables are those of
 * `schema` (its `search_path`), so the SQL store's statements run unchanged.
 */
const connect = (
  url: string | Redacted.Redacted<string>,
  schema: string
): Effect.Effect<SqlClient.SqlClient, CheckpointError, Scope.Scope> => {
  const location = locationOf(url, schema)
  if (!/^[\w-]{1,63}$/.test(schema)) {
    return Effect.fail(storageFailure(
      location,
      `"${schema}" cannot name a PostgreSQL schema: use up to 63 letters, digits, _ or - (give dbFile a name like that, or none)`
    ))
  }
  return Effect.gen(function*() {
    const withSchema = new URL(Redacted.isRedacted(url) ? Redacted.value(url) : url)
    // Quoted: schema names start with a hex digit.
    withSchema.searchParams.set("options", `-c search_path="${schema.replaceAll("\"", "\"\"")}"`)
    return yield* PgClient.make({ url: Redacted.make(withSchema.href), applicationName: "curator" }).pipe(
      Effect.provide(Reactivity.layer)
    )
  }).pipe(
    Effect.catchAllDefect((cause) => Effect.fail(storageFailure(location, `${describeServer(url)} is not a valid PostgreSQL URL: ${String(cause)}`))),
    Effect.catchTag("SqlError", (error) =>
      Effect.fail(storageFailure(
        location,
        `cannot connect to PostgreSQL at ${describeServer(url)} (${causeMessage(error)}); check the URL, the password and that the server is running`,
        error
      )))
  )
}

/**
 * Creates the schema unless it exists. Processes opening it at the same time
 * take turns (an advisory lock), since concurrent `CREATE SCHEMA IF NOT
 * EXISTS` can still collide.
 */
const ensureSchema = (sql: SqlClient.SqlClient, schema: string, location: string): Effect.Effect<void, CheckpointError> =>
  sql.withTransaction(
    Effect.zipRight(
      sql`SELECT pg_advisory_xact_lock(hashtext(${`curator schema ${schema}`}))`,
      sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`
    )
  ).pipe(
    Effect.mapError((error) =>
      storageFailure(location, `cannot create the schema ${schema} (${causeMessage(error)}); the user needs CREATE on the database`, error)
    ),
    Effect.asVoid
  )

/** Opens (creating if needed) the checkpoint of one configuration's run in `schema`. */
export const openForRun = (
  options: Options,
  schema: string,
  request: CheckpointStore.OpenRequest
): Effect.Effect<CheckpointStore.Checkpoint, CheckpointError, Scope.Scope> =>
  Effect.gen(function*() {
    const location = locationOf(options.url, schema)
    const sql = yield* connect(options.url, schema)
    yield* ensureSchema(sql, schema, location)
    return yield* Effect.provideService(SqlCheckpoint.make(location, request, options), SqlClient.SqlClient, sql)
  })

/**
 * Opens the checkpoint in an existing schema, to query it (and, unless
 * `readonly`, reset it). Nothing is written on open.
 */
export const openSchema = (
  url: string | Redacted.Redacted<string>,
  schema: string,
  options: { readonly readonly?: boolean | undefined; readonly configHash?: string | undefined } = {}
): Effect.Effect<CheckpointStore.Checkpoint, CheckpointError, Scope.Scope> =>
  Effect.flatMap(
    connect(url, schema),
    (sql) =>
      Effect.provideService(
        SqlCheckpoint.openExisting(locationOf(url, schema), { ...options, readonly: options.readonly ?? true }),
        SqlClient.SqlClient,
        sql
      )
  )

/** Checkpoints on the PostgreSQL server at `options.url`, one schema per database SPEC.md would write as a file. */
export const layer = (
  options: Options
): Layer.Layer<CheckpointStore.CheckpointStore | Host.Host | FileSystem.FileSystem> =>
  Layer.merge(NodeHost.platform, Layer.succeed(CheckpointStore.CheckpointStore, {
    open: (request) => Effect.flatMap(schemaOf(request), (schema) => openForRun(options, schema, request))
  }))

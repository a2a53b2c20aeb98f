/**
 * What a command's `<target>` names: a database file path (with `#hash`
 * to pick one configuration of a file that holds several), the id (or a
 * unique prefix of it) of a database in the cache directory, or a pipeline
 * module (with `#export` to name its export) whose configuration hash finds
 * its `{hash16}.db`; or a checkpoint on PostgreSQL, by the location a run
 * printed (`postgresql://user@host:port/db#schema`; the password may come
 * from `PGPASSWORD`).
 */
import { type CheckpointStore, RunOptions } from "@curator/core"
import { Effect, Either, type Scope } from "effect"
import * as fs from "node:fs/promises"
import { join, resolve as resolvePath, sep } from "node:path"
import * as PipelineModule from "../PipelineModule.js"
import * as SqliteCheckpointStore from "../SqliteCheckpointStore.js"
import * as Cache from "./Cache.js"
import { type CliError, usage } from "./CliError.js"
import * as Lazy from "./Lazy.js"

/** A resolved target: a database file, and the configuration in it when a module named it. */
export interface Target {
  /** The database file, or for PostgreSQL the location as runs print it (no password). */
  readonly path: string
  /** The configuration's hash (or a prefix of it), when the target names one. */
  readonly configHash: string | undefined
  /** A checkpoint on a PostgreSQL server: its URL and the schema after `#`. */
  readonly postgres?: { readonly url: string; readonly schema: string } | undefined
}

/** The PostgreSQL store, loaded only for a PostgreSQL target. */
const postgresStore = Lazy.load("a PostgreSQL target", () => import("../PgCheckpointStore.js"))

/** PostgreSQL locations, as `curator run --postgres` prints them: `postgresql://user@host:port/db#schema`. */
const postgresPattern = /^(postgres(?:ql)?:\/\/[^#]+)#([^#]+)$/

/** File names that are pipeline modules rather than databases, optionally with `#export`. */
const modulePattern = /^(.*\.[cm]?[jt]sx?)(?:#([^#]+))?$/

/** Tells whether a target names a pipeline module (`path.ts`, or `path.ts#exportName`). */
export const isModule = (input: string): boolean => modulePattern.test(input)

/** The module reference of a module target: `path.ts#name` names the export. */
export const moduleReference = (input: string): PipelineModule.Reference => {
  const match = modulePattern.exec(input)
  return match === null ? { module: input } : { module: match[1]!, exportName: match[2] }
}

const stat = (path: string) => Effect.promise(() => fs.stat(path).catch(() => undefined))

/**
 * The database of a pipeline module: `dbFile` if the pipeline sets one,
 * else `{hash16}.db` in its `dbDir` (or the cache directory), else the
 * newest `{hash16}_{time}.db` there (a run without resume).
 */
const fromModule = (input: string): Effect.Effect<Target, CliError | PipelineModule.PipelineModuleError> =>
  Effect.gen(function*() {
    const reference = moduleReference(input)
    const hint = `run it first with curator run ${reference.module}${reference.exportName === undefined ? "" : ` --export ${reference.exportName}`}`
    const pipeline = yield* PipelineModule.load(reference)
    const configHash = pipeline.configHash
    const hash16 = configHash.slice(0, 16)
    if (pipeline.options.dbFile !== undefined) {
      const path = resolvePath(pipeline.options.dbFile)
      if ((yield* stat(path)) === undefined) {
        return yield* usage(`${input} records into ${path}, which does not exist yet; ${hint}`)
      }
      return { path, configHash }
    }
    const dir = pipeline.options.dbDir !== undefined ? resolvePath(pipeline.options.dbDir) : yield* Cache.directory
    const files = yield* Cache.databaseFiles(dir)
    const stable = files.find((file) => file.id === hash16)
    if (stable !== undefined) return { path: stable.path, configHash }
    const fresh = files
      .filter((file) => file.id.startsWith(`${hash16}_`))
      .sort((a, b) => Number(BigInt(b.id.slice(17) || "0") - BigInt(a.id.slice(17) || "0")))
    if (fresh[0] !== undefined) return { path: fresh[0].path, configHash }
    return yield* usage(
      `no database of ${input} (configuration ${hash16}) in ${dir}; ${hint}`
    )
  })

/** Resolves a target as the commands take it (see the module's description). */
export const resolve = (input: string): Effect.Effect<Target, CliError | PipelineModule.PipelineModuleError> =>
  Effect.gen(function*() {
    const postgres = postgresPattern.exec(input)
    if (postgres !== null) {
      const [, url, schema] = postgres as unknown as [string, string, string]
      const PgCheckpointStore = yield* postgresStore
      return { path: PgCheckpointStore.locationOf(url, schema), configHash: undefined, postgres: { url, schema } }
    }
    if (/^postgres(ql)?:/.test(input)) {
      return yield* usage(`${input} names no checkpoint: add #<schema>, as curator run --postgres prints its location`)
    }
    if (isModule(input)) return yield* fromModule(input)
    // `file.db#hash` picks one configuration of a database that holds several.
    const hashAt = input.lastIndexOf("#")
    const [file, configHash] = hashAt > 0 ? [input.slice(0, hashAt), input.slice(hashAt + 1)] : [input, undefined]
    const found = yield* stat(file)
    if (found !== undefined) {
      if (found.isDirectory()) return yield* usage(`${file} is a directory; give a database file, a cached database id, or a pipeline module`)
      return { path: resolvePath(file), configHash }
    }
    if (input.includes(sep) || input.includes("/") || input.length === 0) {
      return yield* usage(`${input} does not exist; give a database file, a cached database id, or a pipeline module`)
    }
    const dir = yield* Cache.directory
    const stem = input.endsWith(".db") ? input.slice(0, -3) : input
    const match = Cache.find(yield* Cache.databaseFiles(dir), stem, dir)
    if (Either.isLeft(match)) return yield* usage(match.left)
    return { path: join(dir, `${match.right.id}.db`), configHash: undefined }
  })

/** How the command uses what it opens. */
export interface OpenOptions {
  /** It writes (only `reset` does); else the file is opened read-only and never changed. */
  readonly writable?: boolean
  /** It keeps answering queries (the dashboard), rather than reading once and exiting. */
  readonly serving?: boolean
}

/** SQLite's page cache for a command that reads once and exits (see `SqliteCheckpointStore.openFile`); writes keep the default. */
const oneShotPageCacheKiB = 1024

/** Opens a target's records. */
export const open = (
  target: Target,
  options: OpenOptions = {}
): Effect.Effect<CheckpointStore.Checkpoint, CheckpointStore.CheckpointError | CliError, Scope.Scope> =>
  target.postgres !== undefined
    ? Effect.flatMap(postgresStore, (PgCheckpointStore) =>
      PgCheckpointStore.openSchema(target.postgres!.url, target.postgres!.schema, { readonly: options.writable !== true }))
    : SqliteCheckpointStore.openFile(target.path, {
      readonly: options.writable !== true,
      configHash: target.configHash,
      pageCacheKiB: options.serving === true || options.writable === true ? undefined : oneShotPageCacheKiB
    })

/** Resolves and opens a target in one step. */
export const resolveAndOpen = (
  input: string,
  options: OpenOptions = {}
): Effect.Effect<
  CheckpointStore.Checkpoint,
  CliError | PipelineModule.PipelineModuleError | CheckpointStore.CheckpointError,
  Scope.Scope
> => Effect.flatMap(resolve(input), (target) => open(target, options))

/**
 * One index of a checkpoint as a command names it, validated as `run
 * --indices` validates its list: a negative index counts from the end, and
 * one outside the configuration's indices is a usage error (`option` names
 * the option or argument in the message).
 */
export const resolveIndex = (
  checkpoint: CheckpointStore.Checkpoint,
  index: number,
  option: string
): Effect.Effect<number, CliError | CheckpointStore.CheckpointError> =>
  Effect.flatMap(checkpoint.totalIndices, (total) =>
    Either.match(RunOptions.resolveIndices([index], total), {
      onLeft: (error) => usage(`${option}: ${error.message} in ${checkpoint.location}`),
      onRight: ([resolved]) => Effect.succeed(resolved!)
    }))

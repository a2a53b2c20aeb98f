/**
 * The cache directory of checkpoint databases, as the command line sees it:
 * the database files in it, what each holds (read without changing it),
 * finding one by its id, and removing one with its WAL files.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as Reactivity from "@effect/experimental/Reactivity"
import { Effect, Either } from "effect"
import * as fs from "node:fs/promises"
import { basename, join } from "node:path"
import * as DatabaseLocation from "../DatabaseLocation.js"
import * as Json from "./Json.js"

/** The cache directory: `$PSNC_CACHE_DIR`, else `$XDG_CACHE_HOME/psnc`, else `~/.cache/psnc`. */
export const directory: Effect.Effect<string> = Effect.orDie(DatabaseLocation.cacheDirectory)

/** A database file in the cache directory; its id is the file name without `.db`. */
export interface DatabaseFile {
  readonly id: string
  readonly path: string
}

/** What a listing shows of a cached database. */
export interface Entry extends DatabaseFile {
  /** The full configuration hash (of the first configuration in the file). */
  readonly configHash: string | null
  /** When the configuration's records were started (ISO), else the file's modification time. */
  readonly created: string
  /** The latest modification of the file or its WAL (ISO). */
  readonly modified: string
  /** The file with its WAL and shared-memory files, in bytes. */
  readonly sizeBytes: number
  readonly completed: number
  readonly failed: number
  readonly total: number | null
  readonly source: string | null
  readonly filters: ReadonlyArray<string>
  readonly sink: string | null
  /** The number of configurations recorded in the file (usually 1). */
  readonly configurations: number
  /** Why the file could not be read, if it could not. */
  readonly error: string | null
}

/** The suffixes of a SQLite database's companion files. */
const companions = ["-wal", "-shm", "-journal"] as const

/** The database files (`*.db`) of a directory, by id; none if the directory does not exist. */
export const databaseFiles = (dir: string): Effect.Effect<ReadonlyArray<DatabaseFile>> =>
  Effect.promise(async () => {
    const names = await fs.readdir(dir).catch(() => [] as Array<string>)
    return names
      .filter((name) => name.endsWith(".db"))
      .sort()
      .map((name) => ({ id: name.slice(0, -3), path: join(dir, name) }))
  })

const statOrUndefined = (path: string) => fs.stat(path).catch(() => undefined)

/**
 * The total size of a database with its companion files, and its latest
 * write: of the file, or of its WAL when that holds pages (a reader creates
 * an empty WAL and a shared-memory file, which are no writes).
 */
const fileFacts = (path: string) =>
  Effect.promise(async () => {
    const [main, ...others] = await Promise.all([path, ...companions.map((suffix) => path + suffix)].map(statOrUndefined))
    let size = main?.size ?? 0
    let modified = main?.mtimeMs ?? 0
    for (const [k, stat] of others.entries()) {
      if (stat === undefined) continue
      size += stat.size
      if (companions[k] === "-wal" && stat.size > 0) modified = Math.max(modified, stat.mtimeMs)
    }
    return { sizeBytes: size, modifiedMs: modified }
  })

interface RunRow {
  readonly run_id: number
  readonly config_hash: string
  readonly config_json: string
  readonly started_at: string
  readonly total_indices: number | null
}

interface CountRow {
  readonly completed: number | null
  readonly failed: number | null
}

interface ConfigDocument {
  readonly source?: { readonly name?: string }
  readonly filters?: ReadonlyArray<{ readonly name?: string }>
  readonly sink?: { readonly name?: string }
}

const parseConfig = (text: string): ConfigDocument => {
  try {
    return JSON.parse(text) as ConfigDocument
  } catch {
    return {}
  }
}

/**
 * Reads what a listing shows of one database, on a read-only connection
 * (nothing in the file changes). A file that cannot be read is still
 * listed, with the reason.
 */
export const describe = (file: DatabaseFile): Effect.Effect<Entry> =>
  Effect.gen(function*() {
    const facts = yield* fileFacts(file.path)
    const modified = Json.timestamp(facts.modifiedMs)
    const base: Entry = {
      ...file,
      configHash: null,
      created: modified,
      modified,
      sizeBytes: facts.sizeBytes,
      completed: 0,
      failed: 0,
      total: null,
      source: null,
      filters: [],
      sink: null,
      configurations: 0,
      error: null
    }
    const read = Effect.gen(function*() {
      const sql = (yield* SqliteClient.make({ filename: file.path, readonly: true, disableWAL: true })).withoutTransforms()
      const runs = yield* sql<RunRow>`
        SELECT run_id, config_hash, config_json, started_at, total_indices FROM pipeline_runs ORDER BY run_id`
      const first = runs[0]
      if (first === undefined) return { ...base, error: "no Curator records" }
      const [counts] = yield* sql<CountRow>`
        SELECT SUM(status = 'completed') AS completed, SUM(status = 'error') AS failed
        FROM index_results WHERE run_id = ${first.run_id}`
      const config = parseConfig(first.config_json)
      return {
        ...base,
        configHash: first.config_hash,
        created: first.started_at,
        completed: Number(counts?.completed ?? 0),
        failed: Number(counts?.failed ?? 0),
        total: first.total_indices,
        source: config.source?.name ?? null,
        filters: (config.filters ?? []).map((filter) => filter.name ?? "?"),
        sink: config.sink?.name ?? null,
        configurations: runs.length
      } satisfies Entry
    })
    return yield* read.pipe(
      Effect.scoped,
      Effect.provide(Reactivity.layer),
      Effect.catchAllCause((cause) =>
        Effect.succeed({ ...base, error: `not a readable Curator database (${firstLine(cause)})` })
      )
    )
  })

const firstLine = (cause: unknown): string => {
  const text = String(cause)
  const line = text.split("\n").find((l) => l.trim().length > 0) ?? text
  return line.replace(/^Error: /, "").trim()
}

/** Every database of the directory, described, newest first. */
export const list = (dir: string): Effect.Effect<ReadonlyArray<Entry>> =>
  Effect.flatMap(databaseFiles(dir), (files) =>
    Effect.map(
      Effect.forEach(files, describe, { concurrency: 4 }),
      (entries) => [...entries].sort((a, b) => b.created.localeCompare(a.created) || a.id.localeCompare(b.id))
    ))

/**
 * Finds the database an id names: the file whose id is exactly `id`, else
 * the only one whose id starts with it. No match or several matches is an
 * error message (several: listing them).
 */
export const find = (
  files: ReadonlyArray<DatabaseFile>,
  id: string,
  dir: string
): Either.Either<DatabaseFile, string> => {
  const exact = files.find((file) => file.id === id)
  if (exact !== undefined) return Either.right(exact)
  const matches = files.filter((file) => file.id.startsWith(id))
  if (matches.length === 1) return Either.right(matches[0]!)
  if (matches.length === 0) return Either.left(`no database in ${dir} matches "${id}"; see curator cache list`)
  return Either.left(
    `"${id}" matches ${matches.length} databases in ${dir}: ${matches.map((file) => file.id).join(", ")}; give more of the id`
  )
}

/** Removes a database file with its WAL, shared-memory and journal files; returns the paths removed. */
export const remove = (path: string): Effect.Effect<ReadonlyArray<string>, Error> =>
  Effect.tryPromise({
    try: async () => {
      const removed: Array<string> = []
      for (const file of [path, ...companions.map((suffix) => path + suffix)]) {
        const existed = (await statOrUndefined(file)) !== undefined
        await fs.rm(file, { force: true })
        if (existed) removed.push(file)
      }
      return removed
    },
    catch: (cause) => new Error(`cannot remove ${basename(path)}: ${(cause as Error).message ?? String(cause)}`)
  })

/**
 * Units of `--older-than`. A bare `m` could be minutes or months, so it is
 * refused with both spellings; `min` and `mo` say which.
 */
const ageUnits: Record<string, number> = {
  s: 1e3,
  sec: 1e3,
  min: 60e3,
  h: 3600e3,
  d: 86400e3,
  w: 7 * 86400e3,
  mo: 30 * 86400e3,
  y: 365 * 86400e3
}

/** What `--older-than` accepts, for messages. */
export const ageExamples = "90s, 30min, 12h, 7d, 2w or 6mo"

/**
 * Parses an age like `90s`, `30min`, `12h`, `7d`, `2w` or `6mo` into
 * milliseconds; a message saying what to write instead when it cannot.
 */
export const parseAge = (text: string): { readonly ms: number } | { readonly error: string } => {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/.exec(text.trim())
  if (match !== null && match[2] === "m") {
    return { error: `--older-than: "${text}" could be minutes or months; write ${match[1]}min or ${match[1]}mo` }
  }
  const unit = match === null ? undefined : ageUnits[match[2]!]
  if (match === null || unit === undefined) return { error: `--older-than takes an age like ${ageExamples}, got "${text}"` }
  return { ms: Number(match[1]) * unit }
}

/**
 * A source of files found by a glob pattern: one index per file, in a stable
 * (sorted) order, so the same files give the same indices on every run and
 * on every worker. Each index yields the file's path, its bytes, or the
 * stream a reader makes of it (`JsonLines.read`, `Csv.read`, ...).
 *
 * Globbing uses `tinyglobby` (Node 20 has no `fs.glob`; tinyglobby is small,
 * maintained, and has two dependencies against fast-glob's seventeen).
 */
import { type Provenance, Source } from "@curator/core"
import { Effect, Stream } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { glob as findFiles } from "tinyglobby"
import { describe, FormatError } from "./FormatError.js"

/**
 * Turns one file (its absolute path) into the items of its index. Its
 * `params` (the format and its options) join the source's params, so
 * reading the same files differently is a different configuration.
 */
export type Reader<A, E = FormatError, R = never> = ((file: string) => Stream.Stream<A, E, R>) & {
  readonly params?: Provenance.Params | undefined
}

/** A reader with the params that identify it (see `Reader`). */
export const makeReader = <A, E = FormatError, R = never>(
  params: Provenance.Params,
  read: (file: string) => Stream.Stream<A, E, R>
): Reader<A, E, R> => Object.assign((file: string) => read(file), { params })

/** Options of `glob`. */
export interface GlobOptions<A, E, R> {
  /** The directory the pattern is relative to; relative roots resolve against the working directory. */
  readonly root: string
  /** What an index yields: the default yields the file's absolute path. */
  readonly read?: Reader<A, E, R> | undefined
  /** The source's name in the configuration (default "Files"). */
  readonly name?: string | undefined
}

/** A file source: a `Source`, plus the per-index fingerprint of its files. */
export type FileSource<A, E, R> = Source.Source<A, E | FormatError, R> & {
  /**
   * The identity of the file of `index`: its path relative to the root (so
   * an index that now lists another file is stale), its size and its
   * modification time. A resumed run computes again an index whose
   * fingerprint differs from the one recorded with it.
   */
  readonly fingerprint: (index: number) => Effect.Effect<string, FormatError>
}

/** The files matching `pattern` under `root`, as absolute paths, sorted by relative path. */
export const list = (pattern: string, root: string): Effect.Effect<ReadonlyArray<string>, FormatError> =>
  Effect.tryPromise({
    try: () => findFiles(pattern, { cwd: root, onlyFiles: true, absolute: false, dot: false }),
    catch: (cause) =>
      new FormatError({ format: "file", path: root, reason: `cannot list "${pattern}": ${describe(cause)}; check that the root directory exists and is readable` })
  }).pipe(Effect.map((relative) => relative.sort(compareCodePoints).map((file) => path.join(root, file))))

// Code-point order, not locale order: the same on every machine.
const compareCodePoints = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** The fingerprint of one file: relative path, size and modification time. */
export const fingerprintOf = (root: string, file: string): Effect.Effect<string, FormatError> =>
  Effect.tryPromise({
    try: () => fs.stat(file),
    catch: (cause) => new FormatError({ format: "file", path: file, reason: `cannot stat: ${describe(cause)}` })
  }).pipe(Effect.map((stat) => `${path.relative(root, file)}:${stat.size}:${Math.trunc(stat.mtimeMs)}`))

/** Reads a whole file as one `Uint8Array` item (for small files: images, documents). */
export const bytes: Reader<Uint8Array> = makeReader({ format: "bytes" }, (file) =>
  Stream.fromEffect(Effect.tryPromise({
    try: () => fs.readFile(file),
    catch: (cause) => new FormatError({ format: "file", path: file, reason: `cannot read: ${describe(cause)}` })
  })))

/**
 * One index per file matching `pattern` (tinyglobby syntax) under `root`.
 * The listing is taken once per source value, on first use, so `length` and
 * every `read` agree even if files appear during the run.
 *
 * @example
 * const shards = FileSource.glob("shards/*.jsonl", { root: "/data", read: JsonLines.read(Row) })
 */
export function glob(
  pattern: string,
  options: GlobOptions<string, never, never> & { readonly read?: undefined }
): FileSource<string, never, never>
export function glob<A, E, R>(pattern: string, options: GlobOptions<A, E, R> & { readonly read: Reader<A, E, R> }): FileSource<A, E, R>
export function glob<A, E, R>(pattern: string, options: GlobOptions<A, E, R>): FileSource<A, E, R> {
  const root = path.resolve(options.root)
  // Effect.cached only builds the memo here; the listing itself runs on first use.
  const files = Effect.runSync(Effect.cached(list(pattern, root)))
  const fileAt = (index: number) =>
    Effect.flatMap(files, (all) => {
      const file = all[index]
      return file === undefined
        ? Effect.dieMessage(`index ${index} is outside the ${all.length} files matching "${pattern}"`)
        : Effect.succeed(file)
    })
  // Without a reader an index yields its path (A = string, by the overloads above).
  const read: Reader<A, E, R> = options.read ?? ((file) => Stream.succeed(file as A))
  const source = Source.make({
    name: options.name ?? "Files",
    params: { pattern, root, ...(read.params === undefined ? {} : { reader: read.params }) },
    length: Effect.map(files, (all) => all.length),
    read: (index: number) => Stream.flatMap(Stream.fromEffect(fileAt(index)), read)
  })
  return { ...source, fingerprint: (index: number) => Effect.flatMap(fileAt(index), (file) => fingerprintOf(root, file)) }
}

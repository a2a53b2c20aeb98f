/**
 * Sinks that write files: one file per index, written atomically (to a
 * temporary name, then renamed), so a file that exists holds exactly what
 * the sink meant to write even if the process dies mid-write. The temporary
 * files of a writer killed mid-write are swept by the sink's next run.
 */
import { type Provenance, Sink } from "@curator/core"
import { Effect, Option, Schema } from "effect"
import * as fs from "node:fs/promises"
import { dirname, join, resolve } from "node:path"

/** Writing an output file failed. */
export class FileSinkError extends Schema.TaggedError<FileSinkError>()("FileSinkError", {
  path: Schema.String,
  message: Schema.String
}) {}

/**
 * The temporary files of `writeFileAtomic`: `<final name>.<pid>.<random>.tmp`,
 * the pid being the writing process's.
 */
const temporaryPattern = /^.+\.(\d+)\.[0-9a-z]+\.tmp$/

/** Tells whether a process of this machine is alive (one we may not signal is). */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Removes the temporary files that writers killed mid-write (SIGKILL, a
 * crash) left in `dir`: only names of `writeFileAtomic`'s pattern, only in
 * that directory, and never one whose writing process is still alive (a
 * concurrent run may be writing it). Returns the files removed.
 */
export const sweepTemporaryFiles = (dir: string): Effect.Effect<ReadonlyArray<string>> =>
  Effect.flatMap(interruptedTemporaryFiles(dir), (stale) =>
    Effect.promise(async () => {
      await Promise.all(stale.map((file) => fs.rm(file, { force: true })))
      return stale
    }))

/**
 * The temporary files in `dir` that writers killed mid-write left (what
 * {@link sweepTemporaryFiles} removes): `writeFileAtomic`'s pattern, the
 * writing process no longer alive. `curator gc` lists them.
 */
export const interruptedTemporaryFiles = (dir: string): Effect.Effect<ReadonlyArray<string>> =>
  Effect.promise(async () => {
    const names = await fs.readdir(dir).catch(() => [] as Array<string>)
    return names.filter((name) => {
      const match = temporaryPattern.exec(name)
      return match !== null && !isAlive(Number(match[1]))
    }).map((name) => join(dir, name))
  })

/** Tells whether a file name is one of `writeFileAtomic`'s temporary files (alive or not). */
export const isTemporaryFile = (name: string): boolean => temporaryPattern.test(name)

/**
 * Writes `contents` to `path` atomically: a reader (or a resumed run) never
 * sees a half-written file under the final name. When the run records its
 * outputs' sizes and hashes (`verifyOutputs`), the bytes are measured as
 * they are written (`Sink.meterOutput`), so the file is never read back.
 */
export const writeFileAtomic = (path: string, contents: string | Uint8Array): Effect.Effect<void, FileSinkError> =>
  Effect.flatMap(Sink.meterOutput(path), (meter) => {
    if (Option.isNone(meter)) return writeAtomically(path, contents)
    // Encoded once, as the write would have (UTF-8), so the bytes measured are the bytes written.
    const bytes = typeof contents === "string" ? Buffer.from(contents) : contents
    meter.value.update(bytes)
    return Effect.zipRight(writeAtomically(path, bytes), meter.value.done)
  })

const writeAtomically = (path: string, contents: string | Uint8Array): Effect.Effect<void, FileSinkError> =>
  Effect.tryPromise({
    try: async () => {
      const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
      try {
        // The directory is made when the first write finds it missing, not checked before every file.
        await fs.writeFile(temporary, contents).catch(async (cause: NodeJS.ErrnoException) => {
          if (cause.code !== "ENOENT") throw cause
          await fs.mkdir(dirname(path), { recursive: true })
          await fs.writeFile(temporary, contents)
        })
        await fs.rename(temporary, path)
      } catch (cause) {
        await fs.rm(temporary, { force: true })
        throw cause
      }
    },
    catch: (cause) =>
      new FileSinkError({
        path,
        message: `cannot write ${path}: ${(cause as Error).message ?? String(cause)}; check that the output directory is writable and has space`
      })
  })

interface FileOptions {
  /** The directory the files go to; relative paths are resolved against the working directory. */
  readonly dir: string
  /** The sink's name in the configuration (default "JsonFiles" / "JsonLinesFiles"). */
  readonly name?: string | undefined
  /** The file name of an index (default `{index}` zero-padded to 6 digits, with the format's extension). */
  readonly fileName?: ((index: number) => string) | undefined
  /** Further params recorded in the configuration (e.g. a format version). */
  readonly params?: Provenance.Params | undefined
}

const fileSink = <A>(options: FileOptions, defaults: { readonly name: string; readonly extension: string }, encode: (items: ReadonlyArray<A>) => string) => {
  const dir = resolve(options.dir)
  const fileName = options.fileName ?? ((index: number) => `${String(index).padStart(6, "0")}${defaults.extension}`)
  // Once per sink and process, before its first file: what killed writers left in its directory goes.
  // (Once it is done, a flag is all a write reads: the cached effect costs a clock read and a lock.)
  const sweepOnce = Effect.runSync(Effect.cached(sweepTemporaryFiles(dir)))
  let swept = false
  const sweptOnce = Effect.suspend(() => swept ? Effect.void : Effect.map(sweepOnce, () => void (swept = true)))
  return Sink.fromItems<A, FileSinkError>({
    name: options.name ?? defaults.name,
    params: { ...options.params, dir },
    write: (items, index) => {
      if (items.length === 0) return Effect.succeed([])
      const path = join(dir, fileName(index))
      return Effect.zipRight(sweptOnce, Effect.as(writeFileAtomic(path, encode(items)), [path]))
    }
  })
}

/** One JSON file per index holding the array of its items; an index whose items were all dropped writes none. */
export const json = <A>(options: FileOptions): Sink.Sink<A, FileSinkError> =>
  fileSink<A>(options, { name: "JsonFiles", extension: ".json" }, (items) => JSON.stringify(items, null, 2) + "\n")

/** One JSON Lines file per index, one item per line; an index whose items were all dropped writes none. */
export const jsonLines = <A>(options: FileOptions): Sink.Sink<A, FileSinkError> =>
  fileSink<A>(options, { name: "JsonLinesFiles", extension: ".jsonl" }, (items) => items.map((item) => JSON.stringify(item) + "\n").join(""))

/**
 * Measuring an output file — its size and a fast content hash — when its
 * index is recorded, and comparing it later. Files are read through
 * `@effect/platform`'s `FileSystem` (core imports no `node:` module). The
 * hash is xxh64 from `xxhash-wasm`: a maintained WebAssembly build of
 * xxHash, with no native code to compile and no dependency, that runs
 * wherever core runs (Node, browsers, workers) and hashes at memory speed
 * with a streaming API, so a large output is never held whole. It detects
 * changes, not tampering: no cryptographic hash is needed, and SHA-256 would
 * cost several times more per byte.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Effect, Option, Stream } from "effect"
import xxhash from "xxhash-wasm"
import type { OutputCheck } from "../CheckpointStore.js"

/** How much of a recorded output a check looks at. */
export type VerifyMode = "exists" | "size" | "content"

/** The mode of a pipeline's `verifyOutputs` option: `true` is `"exists"`, `false` none. */
export const verifyModeOf = (option: boolean | VerifyMode | undefined): VerifyMode | undefined =>
  option === true ? "exists" : option === false || option === undefined ? undefined : option

/** The measurements a run records with each output: sizes, or sizes and content hashes. */
export type MeasureMode = "size" | "content"

/** What a run with this `verifyOutputs` records of each output; undefined: nothing (`"exists"` checks existence only). */
export const measureModeOf = (option: boolean | VerifyMode | undefined): MeasureMode | undefined => {
  const mode = verifyModeOf(option)
  return mode === "size" || mode === "content" ? mode : undefined
}

/** How an output differs from its record; undefined when it matches. */
export type OutputProblem =
  | { readonly _tag: "OutputMissing"; readonly path: string }
  | {
    readonly _tag: "OutputModified"
    readonly path: string
    /** What differs: the size, or (same size) the content hash. */
    readonly what: "size" | "content"
    readonly recorded: string
    readonly current: string
  }

// The WebAssembly instance is immutable once compiled: one per process, made on first use.
let api: ReturnType<typeof xxhash> | undefined
const hasher = Effect.promise(() => (api ??= xxhash()))

const hex = (hash: bigint) => hash.toString(16).padStart(16, "0")

/** Files up to this size are hashed from one read. */
const wholeFileLimit = 4 << 20

/** The xxh64 of a byte stream, as 16 hex digits. */
export const hashStream = <E>(bytes: Stream.Stream<Uint8Array, E>): Effect.Effect<string, E> =>
  Effect.flatMap(hasher, (h) =>
    Effect.suspend(() => {
      const state = h.create64()
      return Effect.map(
        Stream.runForEach(bytes, (chunk) => Effect.sync(() => void state.update(chunk))),
        () => hex(state.digest())
      )
    }))

/** Bytes are fed to the hash in slices of at most this size, so its WebAssembly memory stays small whatever the file. */
const sliceSize = 1 << 20

/**
 * The measurement of a file taken from its bytes as they are written (by a
 * sink that holds them), instead of reading the file back: the same size
 * and xxh64 that `measure` reads from the file.
 */
export interface OutputMeter {
  /** Feeds the file's next bytes, in order. */
  readonly update: (bytes: Uint8Array) => void
  /** The measurement of the bytes fed so far. */
  readonly digest: () => OutputCheck
}

/** A meter for `path`: its size, and for `"content"` its xxh64 computed incrementally. */
export const makeMeter = (path: string, mode: "size" | "content"): Effect.Effect<OutputMeter> =>
  mode === "size"
    ? Effect.sync(() => {
      let size = 0
      return { update: (bytes) => void (size += bytes.length), digest: () => ({ path, size, hash: null }) }
    })
    : Effect.map(hasher, (h) => {
      const state = h.create64()
      let size = 0
      return {
        update: (bytes) => {
          size += bytes.length
          for (let offset = 0; offset < bytes.length; offset += sliceSize) state.update(bytes.subarray(offset, offset + sliceSize))
        },
        digest: () => ({ path, size, hash: hex(state.digest()) })
      }
    })

/** The file operations a check needs, from the `FileSystem` in context. */
export interface Measurer {
  /** Size (and, for `"content"`, hash) of a file; undefined when it is not a readable file. */
  readonly measure: (path: string, mode: "size" | "content") => Effect.Effect<OutputCheck | undefined>
  readonly exists: (path: string) => Effect.Effect<boolean>
}

/** The measurer of the `FileSystem` in context, if there is one. */
export const measurer: Effect.Effect<Option.Option<Measurer>> = Effect.map(
  Effect.serviceOption(FileSystem.FileSystem),
  Option.map((fs): Measurer => ({
    exists: (path) => Effect.orElseSucceed(fs.exists(path), () => false),
    measure: (path, mode) =>
      Effect.gen(function*() {
        const info = yield* fs.stat(path)
        if (info.type !== "File") return undefined
        const size = Number(info.size)
        if (mode === "size") return { path, size, hash: null }
        // A small file is read in one call; a large one streamed, a chunk in memory at a time.
        const hash = size <= wholeFileLimit
          ? yield* Effect.zipWith(hasher, fs.readFile(path), (h, bytes) => hex(h.h64Raw(bytes)))
          : yield* hashStream(fs.stream(path, { chunkSize: 1 << 20 }))
        return { path, size, hash }
      }).pipe(Effect.orElseSucceed(() => undefined))
  }))
)

/** Compares one recorded output with the file now, as far as `mode` looks. */
export const checkOutput = (
  m: Measurer,
  path: string,
  recorded: OutputCheck | undefined,
  mode: VerifyMode
): Effect.Effect<OutputProblem | undefined> =>
  Effect.gen(function*() {
    // Without a recorded measurement (an older record), only existence can be checked.
    if (mode === "exists" || recorded === undefined) {
      return (yield* m.exists(path)) ? undefined : { _tag: "OutputMissing", path } as const
    }
    const wantHash = mode === "content" && recorded.hash !== null
    const now = yield* m.measure(path, wantHash ? "content" : "size")
    if (now === undefined) return { _tag: "OutputMissing", path } as const
    if (now.size !== recorded.size) {
      return { _tag: "OutputModified", path, what: "size", recorded: `${recorded.size} bytes`, current: `${now.size} bytes` } as const
    }
    if (wantHash && now.hash !== recorded.hash) {
      return { _tag: "OutputModified", path, what: "content", recorded: `xxh64 ${recorded.hash}`, current: `xxh64 ${now.hash}` } as const
    }
    return undefined
  })

/** The first problem among an index's outputs, checked in order. */
export const checkOutputs = (
  m: Measurer,
  paths: ReadonlyArray<string>,
  recorded: ReadonlyArray<OutputCheck>,
  mode: VerifyMode
): Effect.Effect<OutputProblem | undefined> =>
  Effect.gen(function*() {
    const byPath = recorded.length === 0 ? undefined : new Map(recorded.map((check) => [check.path, check]))
    for (const path of paths) {
      const problem = yield* checkOutput(m, path, byPath?.get(path), mode)
      if (problem !== undefined) return problem
    }
    return undefined
  })

/** Whether a measurement taken with one mode serves another (a content hash also gives the size). */
export const serves = (check: OutputCheck, mode: "size" | "content"): boolean => mode === "size" || check.hash !== null

/**
 * The measurements recorded with an index's outputs: for `"size"` the
 * sizes, for `"content"` sizes and hashes; none for `"exists"` or no mode.
 * Those `known` (taken by the sink as it wrote) are used as they are; the
 * others are read from the files, through the `FileSystem` in context
 * (without one they get none). A path that is not a readable file gets no
 * measurement (a later check then looks at its existence only).
 */
export const measureOutputs = (
  paths: ReadonlyArray<string>,
  mode: VerifyMode | undefined,
  known?: ReadonlyMap<string, OutputCheck> | undefined
): Effect.Effect<ReadonlyArray<OutputCheck> | undefined> => {
  if (mode === undefined || mode === "exists" || paths.length === 0) return Effect.succeed(undefined)
  const ready = known === undefined ? undefined : paths.map((path) => {
    const check = known.get(path)
    return check !== undefined && serves(check, mode) ? check : undefined
  })
  if (ready !== undefined && ready.every((check) => check !== undefined)) return Effect.succeed(ready as ReadonlyArray<OutputCheck>)
  return Effect.flatMap(measurer, (files) =>
    Effect.map(
      Effect.forEach(
        paths,
        (path, i) =>
          ready?.[i] !== undefined
            ? Effect.succeed(ready[i])
            : Option.isNone(files)
            ? Effect.succeed(undefined)
            : files.value.measure(path, mode),
        { concurrency: 4 }
      ),
      (checks) => checks.filter((check): check is OutputCheck => check !== undefined)
    ))
}

/**
 * The measurements to record for an index computed with `measured` (by
 * its sink or where it ran): taken as they are when they cover every path
 * as `mode` wants, the missing ones read here (an index computed where
 * another mode was in force, say).
 */
export const completeOutputChecks = (
  paths: ReadonlyArray<string>,
  mode: MeasureMode,
  measured: ReadonlyArray<OutputCheck> | undefined
): Effect.Effect<ReadonlyArray<OutputCheck> | undefined> => {
  if (measured === undefined) return measureOutputs(paths, mode)
  const inOrder = measured.length === paths.length && measured.every((check, i) => check.path === paths[i] && serves(check, mode))
  return inOrder ? Effect.succeed(measured) : measureOutputs(paths, mode, new Map(measured.map((check) => [check.path, check])))
}

/**
 * Whether a completed index can still be trusted: its input's fingerprint
 * is the one recorded with it, and its outputs are as recorded (as far as
 * `verifyOutputs` looks). The run loop computes a stale index again; a plan
 * reports it with this reason.
 */
import { Effect, Option } from "effect"
import type { RecordedIndex } from "../CheckpointStore.js"
import { InvalidRunOptions } from "../RunOptions.js"
import { checkOutputs, measurer, type OutputProblem, type VerifyMode } from "./outputChecks.js"

/** Why a completed index is computed again. */
export type StaleReason =
  | { readonly _tag: "InputChanged"; readonly recorded: string; readonly current: string }
  | { readonly _tag: "InputUnreadable"; readonly message: string }
  | OutputProblem

/** A reason in one line (`input changed: a.txt:12:170… → a.txt:14:170…`). */
export const describeStale = (reason: StaleReason): string => {
  switch (reason._tag) {
    case "InputChanged":
      return `its input changed (fingerprint ${reason.recorded} → ${reason.current})`
    case "InputUnreadable":
      return `its input's fingerprint cannot be read (${reason.message})`
    case "OutputMissing":
      return `its output ${reason.path} is missing`
    case "OutputModified":
      return `its output ${reason.path} was modified (${reason.what}: ${reason.recorded} → ${reason.current})`
  }
}

/** Reads the current fingerprint of an index, the pipeline's services provided. */
export type FingerprintReader<R = never> = (index: number) => Effect.Effect<string, unknown, R>

/** Checks completed indices. */
export interface Checker<R = never> {
  /** Whether a check reads anything (fingerprints or files): callers then run checks concurrently. */
  readonly reads: boolean
  readonly check: (recorded: RecordedIndex) => Effect.Effect<StaleReason | undefined, never, R>
}

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

/**
 * The checker of a pipeline: fingerprints when the source has them (an
 * index recorded without one is trusted), outputs per `mode`. Checking
 * outputs needs a `FileSystem`; without one it fails, saying what to provide.
 */
export const makeChecker = <R = never>(
  fingerprint: FingerprintReader<R> | undefined,
  mode: VerifyMode | undefined
): Effect.Effect<Checker<R>, InvalidRunOptions> =>
  Effect.gen(function*() {
    const files = mode === undefined ? Option.none() : yield* measurer
    if (mode !== undefined && Option.isNone(files)) {
      return yield* new InvalidRunOptions({
        option: "verifyOutputs",
        message: "verifyOutputs needs a file system to check outputs on: provide NodeCurator.layer (or a FileSystem layer)"
      })
    }
    const checkInput = (recorded: RecordedIndex): Effect.Effect<StaleReason | undefined, never, R> =>
      fingerprint === undefined || recorded.fingerprint === null
        ? Effect.succeed(undefined)
        : Effect.match(fingerprint(recorded.index), {
          onFailure: (error): StaleReason => ({ _tag: "InputUnreadable", message: messageOf(error) }),
          onSuccess: (current): StaleReason | undefined =>
            current === recorded.fingerprint ? undefined : { _tag: "InputChanged", recorded: recorded.fingerprint!, current }
        })
    return {
      reads: fingerprint !== undefined || mode !== undefined,
      check: (recorded) =>
        Effect.flatMap(checkInput(recorded), (stale) =>
          stale !== undefined || mode === undefined || Option.isNone(files)
            ? Effect.succeed(stale)
            : checkOutputs(files.value, recorded.paths, recorded.outputChecks, mode))
    }
  })

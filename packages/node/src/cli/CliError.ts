/**
 * The command line's errors and exit codes: every failure a command can meet
 * becomes one line on stderr and one of a few exit codes.
 */
import { Backend, CheckpointStore, Gather, RunOptions, RunResult } from "@curator/core"
import * as ValidationError from "@effect/cli/ValidationError"
import { Cause, Data, Option } from "effect"
import { dirname } from "node:path"
import { PipelineModuleError } from "../PipelineModule.js"
import * as SqliteCheckpointStore from "../SqliteCheckpointStore.js"

/** The exit codes of `curator`. */
export const ExitCode = {
  /** Everything asked for was done. */
  Ok: 0,
  /** Some indices failed, or the command could not finish its work. */
  Failed: 1,
  /** Bad usage: an unknown option, a malformed value, a target that does not exist. */
  Usage: 2,
  /** Interrupted (Ctrl-C, SIGTERM), as shells report SIGINT. */
  Interrupted: 130
} as const

/**
 * A failure of a command, already worded for the user. `Usage` covers bad
 * options and targets (exit 2); `Failed` everything else (exit 1).
 */
export class CliError extends Data.TaggedError("CliError")<{
  readonly reason: "Usage" | "Failed"
  readonly message: string
}> {}

/** A usage error (exit 2). */
export const usage = (message: string): CliError => new CliError({ reason: "Usage", message })

/** A failure (exit 1). */
export const failed = (message: string): CliError => new CliError({ reason: "Failed", message })

/**
 * A run stopped by a full disk: where, how far it got (indices recorded in
 * the database, when it can still be read), and how to go on.
 */
export const diskFull = (failure: CheckpointStore.CheckpointError, recorded: number | undefined, resume: string): CliError =>
  usage(
    `the disk holding ${dirname(failure.location)} is full: ` +
      `${recorded === undefined ? "" : `${recorded} indices are recorded in ${failure.location}; `}` +
      `free some space there, then ${resume}`
  )

/** Checkpoint errors about where the database is are the user's to fix (exit 2); the rest are failures. */
const checkpointIsUsage = (error: CheckpointStore.CheckpointError) =>
  error.reason === "NotFound" || error.reason === "Ambiguous" || error.reason === "NotADatabase" ||
  error.reason === "ForeignSchema" || error.reason === "NewerSchema" || error.reason === "ReadOnly" ||
  error.reason === "Damaged" || error.reason === "DiskFull"

/** The exit code and the one-line message of a failure. */
export const describe = (error: unknown): { readonly code: number; readonly message: string } => {
  if (error instanceof SilentExit) return { code: error.code, message: "" }
  if (error instanceof CliError) return { code: error.reason === "Usage" ? ExitCode.Usage : ExitCode.Failed, message: error.message }
  if (error instanceof RunOptions.InvalidRunOptions) return { code: ExitCode.Usage, message: error.message }
  if (error instanceof PipelineModuleError) return { code: ExitCode.Usage, message: error.message }
  if (error instanceof CheckpointStore.CheckpointError) {
    // A damaged file, a read-only folder or a full disk may show only once reading or writing has begun.
    const explained = SqliteCheckpointStore.explain(error)
    return { code: checkpointIsUsage(explained) ? ExitCode.Usage : ExitCode.Failed, message: explained.message }
  }
  if (error instanceof RunResult.IndexFailed) {
    return { code: ExitCode.Failed, message: `index ${error.index} failed: ${error.message}; stopped there (--fail-fast)` }
  }
  // A shard that is missing here, damaged or foreign is the user's to fix; a failed write is a failure.
  if (error instanceof Gather.ShardError) return { code: error.reason === "WriteFailed" ? ExitCode.Failed : ExitCode.Usage, message: error.message }
  if (error instanceof Backend.BackendError) return { code: ExitCode.Failed, message: `${error.backend} backend: ${error.message}` }
  if (ValidationError.isValidationError(error)) return { code: ExitCode.Usage, message: "invalid usage" }
  if (error instanceof Error) return { code: ExitCode.Failed, message: error.message }
  return { code: ExitCode.Failed, message: String(error) }
}

/**
 * What a command's cause comes to: the exit code, and the line to print
 * (none for @effect/cli's validation errors, which it prints itself).
 */
export const fromCause = (cause: Cause.Cause<unknown>): { readonly code: number; readonly message: string | undefined } => {
  if (Cause.isInterruptedOnly(cause)) return { code: ExitCode.Interrupted, message: undefined }
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    if (ValidationError.isValidationError(failure.value)) return { code: ExitCode.Usage, message: undefined }
    const described = describe(failure.value)
    return { code: described.code, message: described.message === "" ? undefined : described.message }
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) {
    const { message } = describe(defect.value)
    return { code: ExitCode.Failed, message: `unexpected error: ${message}` }
  }
  return { code: ExitCode.Interrupted, message: undefined }
}

/**
 * Ends a command with an exit code and nothing more to say: the command has
 * already printed why (e.g. `run`'s summary of failed indices).
 */
export class SilentExit extends Data.TaggedError("SilentExit")<{ readonly code: number }> {}

/**
 * What `--verbose` adds below the error line: the stack of what a user's
 * module threw when importing it failed (not Curator's wrapper around it),
 * else the full cause.
 */
export const verboseDetail = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && failure.value instanceof PipelineModuleError && failure.value.userStack !== undefined) {
    return failure.value.userStack
  }
  return Cause.pretty(cause, { renderErrorCause: true })
}

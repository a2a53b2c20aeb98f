/**
 * What a run returns: for each requested index, in the requested order, its
 * output paths or its failure.
 */
import { type Cause, Data, Schema } from "effect"

/** An index whose sink finished: its paths, and whether they came from the checkpoint. */
export interface Completed {
  readonly _tag: "Completed"
  readonly index: number
  readonly paths: ReadonlyArray<string>
  /** True when the index was found completed in the checkpoint and no stage ran. */
  readonly cached: boolean
}

/**
 * A typed failure of an index computed in another thread or process whose
 * error schema the pipeline does not declare (`Pipeline.withErrors`): the
 * error's tag, message and stack, as they crossed.
 */
export class RemoteFailure extends Schema.TaggedError<RemoteFailure>()("RemoteFailure", {
  /** The original error's `_tag` (or its name). */
  tag: Schema.String,
  message: Schema.String,
  stack: Schema.optional(Schema.String)
}) {}

/**
 * An index that failed in some stage; it is recorded as failed and left not
 * completed. Its cause holds the stage's own typed error — or, computed in
 * another thread or process without a declared schema, a `RemoteFailure`.
 */
export interface Failed<E> {
  readonly _tag: "Failed"
  readonly index: number
  /** The recorded message, `"<ErrorTag or name>: <message>"`. */
  readonly message: string
  readonly cause: Cause.Cause<E | RemoteFailure>
}

/**
 * An index the run did not process because it was asked to stop first
 * (`RunOptions.stop`): nothing is recorded for it, so the next run does it.
 */
export interface NotRun {
  readonly _tag: "NotRun"
  readonly index: number
}

/** The outcome of one index. */
export type Outcome<E> = Completed | Failed<E> | NotRun

/** The result of `Pipeline.run`. */
export interface RunResult<E> {
  /** One outcome per requested index, in the requested order. */
  readonly outcomes: ReadonlyArray<Outcome<E>>
  /** The database the run recorded into, or undefined when metrics are off. */
  readonly location: string | undefined
  /** The SHA-256 of the pipeline's configuration. */
  readonly configHash: string
  /**
   * Indices found completed whose recorded output files were missing
   * (`verifyOutputs`), and so computed again in this run.
   */
  readonly redone: ReadonlyArray<number>
  /** Indices skipped because they are quarantined (FailurePolicy); their outcomes are `Failed` with `Quarantined`. */
  readonly quarantined?: ReadonlyArray<number> | undefined
  /** Set when the run stopped because its error budget (`maxFailures`) was reached: the message naming it. */
  readonly budgetExceeded?: string | undefined
}

/** With `failFast`, the run fails with this at the first failed index. */
export class IndexFailed extends Data.TaggedError("IndexFailed")<{
  readonly index: number
  readonly message: string
  readonly cause: Cause.Cause<unknown>
}> {}

export const completed = (index: number, paths: ReadonlyArray<string>, cached: boolean): Completed => ({
  _tag: "Completed",
  index,
  paths,
  cached
})

export const failed = <E>(index: number, message: string, cause: Cause.Cause<E | RemoteFailure>): Failed<E> => ({
  _tag: "Failed",
  index,
  message,
  cause
})

export const notRun = (index: number): NotRun => ({ _tag: "NotRun", index })

export const isCompleted = <E>(outcome: Outcome<E>): outcome is Completed => outcome._tag === "Completed"

export const isFailed = <E>(outcome: Outcome<E>): outcome is Failed<E> => outcome._tag === "Failed"

export const isNotRun = <E>(outcome: Outcome<E>): outcome is NotRun => outcome._tag === "NotRun"

/** The indices a stopped run did not process, in the requested order (empty unless the run was stopped). */
export const notRunIndices = <E>(result: RunResult<E>): ReadonlyArray<number> =>
  result.outcomes.filter(isNotRun).map((outcome) => outcome.index)

/** The output paths per requested index (undefined for failed and not-run ones), as the reference's `run_pipeline` returns. */
export const paths = <E>(result: RunResult<E>): ReadonlyArray<ReadonlyArray<string> | undefined> =>
  result.outcomes.map((outcome) => (outcome._tag === "Completed" ? outcome.paths : undefined))

/** How many outcomes are computed now, taken from the checkpoint, and failed (not-run ones are in none). */
export const counts = <E>(result: RunResult<E>): { computed: number; cached: number; failed: number } => {
  let computed = 0
  let cached = 0
  let failedCount = 0
  for (const outcome of result.outcomes) {
    if (outcome._tag === "Failed") failedCount++
    else if (outcome._tag === "NotRun") continue
    else if (outcome.cached) cached++
    else computed++
  }
  return { computed, cached, failed: failedCount }
}

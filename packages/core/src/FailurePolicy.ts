/**
 * What a run does when an index fails: retry it now (an Effect `Schedule`,
 * per index, where the index runs), classify the failure (transient or
 * permanent), give up on an index that runs too long (`indexTimeout`),
 * quarantine an index that failed permanently in several runs, and stop
 * the run once too many indices failed (`maxFailures`).
 *
 * The policy travels with the pipeline (`Pipeline.withFailurePolicy`), so a
 * worker thread or cluster runner that loads the pipeline applies the same
 * retries where it computes; `RunOptions.failurePolicy` overrides it for one
 * run on this process's backends.
 *
 * @example
 * const pipeline = Pipeline.from(source).pipe(
 *   Pipeline.write(sink),
 *   Pipeline.withFailurePolicy({
 *     retry: Schedule.exponential("100 millis").pipe(Schedule.jittered),
 *     maxAttempts: 5,
 *     indexTimeout: "10 minutes",
 *     maxFailures: 0.1
 *   })
 * )
 */
import { Cause, Duration, Effect, Either, Option, Schedule, Schema } from "effect"

/**
 * Whether a failure may go away by itself (`transient`: retried in the run)
 * or will happen again (`permanent`: not retried; counted towards quarantine).
 */
export type FailureClass = "transient" | "permanent"

/** The policy of a pipeline or a run; every field is optional. */
export interface FailurePolicy {
  /**
   * When to try a failed index again within the run (transient failures
   * only): each recurrence of the schedule is one more attempt, after its
   * delay. Default: no retry.
   */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** At most this many attempts of an index (shown as `attempt 2/5`). Default: as many as `retry` allows. */
  readonly maxAttempts?: number | undefined
  /**
   * Classifies a failure; `undefined` falls back to the defaults: an
   * `IndexTimeout` and a dead worker thread are transient, a defect is
   * permanent, a typed error is transient unless it has
   * `failureClass: "permanent"`.
   */
  readonly classify?: ((cause: Cause.Cause<unknown>) => FailureClass | undefined) | undefined
  /** Interrupts an index (each attempt) that runs longer, recording `IndexTimeout`. Default: no limit. */
  readonly indexTimeout?: Duration.DurationInput | undefined
  /** Quarantine an index after it failed permanently in this many runs (0: never). Default 3. */
  readonly quarantineAfter?: number | undefined
  /**
   * The run's error budget: a count of failed indices (≥ 1), or a fraction
   * (between 0 and 1) of the indices requested. Once reached, the run stops
   * gracefully. Default: no budget.
   */
  readonly maxFailures?: number | undefined
  /**
   * Flag an index that produced no new item (and entered no new stage) for
   * this long as stalled. Default: ten times the slowest recorded index,
   * at least a minute.
   */
  readonly stallAfter?: Duration.DurationInput | undefined
  /**
   * What a stall does: a warning and the `stalled` state (`"warn"`, the
   * default), or also give the index up as on a timeout (`"interrupt"`: on
   * fibers, and on worker threads by terminating the thread; an index on a
   * cluster runner is only warned about, and the warning says so).
   */
  readonly onStall?: "warn" | "interrupt" | undefined
}

/** The policy with its defaults applied, as a run uses it. */
export interface Resolved {
  readonly retry: Schedule.Schedule<unknown, unknown> | undefined
  readonly maxAttempts: number
  readonly classify: (cause: Cause.Cause<unknown>) => FailureClass
  readonly indexTimeout: Duration.Duration | undefined
  readonly quarantineAfter: number
  readonly maxFailures: number | undefined
  /** Undefined: the run's default (from the slowest recorded index). */
  readonly stallAfter: Duration.Duration | undefined
  readonly onStall: "warn" | "interrupt"
}

/** An index (one attempt of it) ran longer than `indexTimeout`; recorded as `IndexTimeout: index 42 exceeded … in stage X`. */
export class IndexTimeout extends Schema.TaggedError<IndexTimeout>()("IndexTimeout", {
  index: Schema.Number,
  stage: Schema.String,
  message: Schema.String
}) {}

/** An index skipped by the run because it is quarantined. */
export class Quarantined extends Schema.TaggedError<Quarantined>()("Quarantined", {
  index: Schema.Number,
  message: Schema.String
}) {}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`

/** A duration as a person writes it: `10 minutes`, `1.5 seconds`, `250 milliseconds`. */
export const describeDuration = (duration: Duration.Duration): string => {
  const ms = Duration.toMillis(duration)
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return plural(ms / 3_600_000, "hour")
  if (ms >= 60_000 && ms % 60_000 === 0) return plural(ms / 60_000, "minute")
  if (ms >= 1000) return plural(Number((ms / 1000).toFixed(1)), "second")
  return plural(Math.round(ms), "millisecond")
}

/** The timeout of `index` in the stage named `stage`. */
export const timeoutError = (index: number, timeout: Duration.Duration, stage: string): IndexTimeout =>
  new IndexTimeout({ index, stage, message: `index ${index} exceeded ${describeDuration(timeout)} in stage ${stage}` })

const tagOf = (value: unknown): string | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const record = value as { readonly _tag?: unknown; readonly tag?: unknown; readonly name?: unknown }
  // A RemoteFailure carries the original tag in `tag`.
  if (record._tag === "RemoteFailure" && typeof record.tag === "string") return record.tag
  return typeof record._tag === "string" ? record._tag : undefined
}

/** The default classification (see {@link FailurePolicy.classify}). */
export const defaultClassify = (cause: Cause.Cause<unknown>): FailureClass => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (tagOf(error) === "IndexTimeout") return "transient"
    const declared = typeof error === "object" && error !== null ? (error as { failureClass?: unknown }).failureClass : undefined
    if (declared === "permanent" || tagOf(error) === "InvalidSinkResult") return "permanent"
    return "transient"
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) {
    const message = defect.value instanceof Error ? defect.value.message : String(defect.value)
    return message.startsWith("WorkerDied:") || message.startsWith("IndexTimeout:") ? "transient" : "permanent"
  }
  return "permanent"
}

/** Applies the defaults; `override` (a run's) wins field by field over `base` (the pipeline's). */
export const resolve = (base: FailurePolicy | undefined, override?: FailurePolicy | undefined): Resolved => {
  const policy: FailurePolicy = { ...base, ...dropUndefined(override ?? {}) }
  const user = policy.classify
  return {
    retry: policy.retry,
    maxAttempts: policy.maxAttempts ?? (policy.retry === undefined ? 1 : Number.POSITIVE_INFINITY),
    classify: user === undefined ? defaultClassify : (cause) => user(cause) ?? defaultClassify(cause),
    indexTimeout: policy.indexTimeout === undefined ? undefined : Duration.decode(policy.indexTimeout),
    quarantineAfter: policy.quarantineAfter ?? 3,
    maxFailures: policy.maxFailures,
    stallAfter: policy.stallAfter === undefined ? undefined : Duration.decode(policy.stallAfter),
    onStall: policy.onStall ?? "warn"
  }
}

const dropUndefined = (policy: FailurePolicy): FailurePolicy =>
  Object.fromEntries(Object.entries(policy).filter(([, value]) => value !== undefined)) as FailurePolicy

/** Why a policy cannot be used, or undefined. */
export const invalidReason = (policy: FailurePolicy | undefined): string | undefined => {
  if (policy === undefined) return undefined
  const { maxAttempts, maxFailures, quarantineAfter } = policy
  if (maxAttempts !== undefined && !(Number.isSafeInteger(maxAttempts) && maxAttempts >= 1)) {
    return `maxAttempts must be a positive integer, got ${maxAttempts}`
  }
  if (maxFailures !== undefined && !(maxFailures > 0 && (maxFailures < 1 || Number.isSafeInteger(maxFailures)))) {
    return `maxFailures must be a count (a positive integer) or a fraction between 0 and 1, got ${maxFailures}`
  }
  if (quarantineAfter !== undefined && !(Number.isSafeInteger(quarantineAfter) && quarantineAfter >= 0)) {
    return `quarantineAfter must be a non-negative integer (0: never), got ${quarantineAfter}`
  }
  return undefined
}

/** The number of failures that stops a run of `requested` indices, or undefined for none. */
export const budgetOf = (policy: Resolved, requested: number): number | undefined =>
  policy.maxFailures === undefined
    ? undefined
    : policy.maxFailures >= 1
    ? policy.maxFailures
    : Math.max(1, Math.ceil(policy.maxFailures * requested))

/** How the budget reads in messages: `5 failures` or `10% of 200 indices (20 failures)`. */
export const describeBudget = (policy: Resolved, requested: number): string => {
  const budget = budgetOf(policy, requested) ?? 0
  return policy.maxFailures !== undefined && policy.maxFailures < 1
    ? `${Number((policy.maxFailures * 100).toFixed(2))}% of ${requested} indices (${plural(budget, "failure")})`
    : plural(budget, "failure")
}

/** The outcome's error of a quarantined index the run skipped. */
export const quarantinedError = (index: number): Quarantined =>
  new Quarantined({
    index,
    message: `index ${index} is quarantined after failing permanently in several runs; ` +
      `run curator reset --index ${index} (or --retry-quarantined) to compute it again`
  })

/** The default stall threshold: ten times the slowest recorded index (in ns), at least a minute. */
export const defaultStallAfter = (slowestNs: number | undefined): Duration.Duration =>
  Duration.millis(Math.max(60_000, Math.round(((slowestNs ?? 0) / 1e6) * 10)))

/** What a stalled index interrupted by the watchdog (`onStall: "interrupt"`) is recorded as. */
export const stallError = (index: number, stallAfter: Duration.Duration, stage: string): IndexTimeout =>
  new IndexTimeout({
    index,
    stage,
    message: `index ${index} produced nothing new for ${describeDuration(stallAfter)} in stage ${stage} (stalled)`
  })

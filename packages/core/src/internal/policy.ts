/**
 * The failure policy at run time: a run's policy checked against where its
 * indices are computed, and the retries around one index's computation.
 * (The policy's data and defaults are the public `FailurePolicy` module.)
 */
import { Cause, type Duration, Effect, Either, Option, Schedule } from "effect"
import type { LogEntry } from "../CheckpointStore.js"
import * as FailurePolicy from "../FailurePolicy.js"
import { InvalidRunOptions } from "../RunOptions.js"
import type { Computed } from "./computed.js"
import type { IndexReport } from "./wire.js"
import { CurrentIndex } from "./context.js"
import { asFramework } from "./logCapture.js"
import type { MeasureMode } from "./outputChecks.js"
import type { Probe } from "./probe.js"

/** One index's computation, as `makeComputeIndex` builds it. */
type Compute<E, R> = (
  index: number,
  workerId: string,
  probe?: Probe,
  resume?: boolean,
  measure?: MeasureMode | "none"
) => Effect.Effect<Computed<E>, never, R>

/** The `/N` of `attempt k/N` when attempts are bounded, else nothing. */
const attemptsBound = (policy: FailurePolicy.Resolved): string => Number.isFinite(policy.maxAttempts) ? `/${policy.maxAttempts}` : ""

/** The warning of a failed attempt that is tried again, in and out of the index's worker alike. */
const retryLine = (attempt: number, ofMax: string, index: number, failed: string, delay: Duration.Duration): string =>
  `attempt ${attempt}${ofMax} of index ${index} failed: ${failed}; retrying in ${FailurePolicy.describeDuration(delay)}`

/**
 * Wraps the computation of an index with the policy's retries: a failure
 * the policy classes transient is tried again after the schedule's delay,
 * while the schedule recurs and `maxAttempts` allows; each retry is logged
 * (`attempt 2/5 of index 42 failed: …; retrying in 1.3 s`) under the index
 * and its worker. The result carries the attempt count, the failure's class,
 * and the log lines of every attempt.
 */
export const withRetries = <E, R>(policy: FailurePolicy.Resolved, compute: Compute<E, R>): Compute<E, R> => {
  const retry = policy.retry
  if (retry === undefined || policy.maxAttempts <= 1) {
    return (index, workerId, probe, resume, measure) =>
      Effect.map(compute(index, workerId, probe, resume, measure), (computed) =>
        computed._tag === "Success" ? computed : { ...computed, attempts: 1, failureClass: policy.classify(computed.cause) })
  }
  const delays = Schedule.delays(retry)
  const ofMax = attemptsBound(policy)
  return (index, workerId, probe, resume, measure) =>
    Effect.gen(function*() {
      const logs: Array<LogEntry> = []
      // The retry lines are this index's: in a report, they join its lines.
      const current: CurrentIndex["Type"] = { index, workerId, artifacts: [], logs }
      let attempt = 1
      let failed = ""
      const driver = yield* Schedule.driver(Schedule.tapOutput(delays, (delay) =>
        asFramework(Effect.logWarning(retryLine(attempt, ofMax, index, failed, delay))).pipe(
          Effect.provideService(CurrentIndex, current)
        )))
      while (true) {
        const computed = yield* compute(index, workerId, probe, resume, measure)
        for (const line of computed.logs) logs.push(line)
        if (computed._tag === "Success") return { ...computed, logs, attempts: attempt }
        const failureClass = policy.classify(computed.cause)
        const last = { ...computed, logs, attempts: attempt, failureClass }
        if (failureClass !== "transient" || attempt >= policy.maxAttempts) return last
        failed = computed.message
        const again = yield* Effect.option(driver.next(computed.cause))
        if (Option.isNone(again)) return last
        attempt++
      }
    })
}

/**
 * The retries of indices whose worker was lost (a dead thread, one
 * terminated past its timeout), decided in the parent since the worker is
 * gone: as {@link withRetries} decides, one schedule per index, each lost
 * attempt counted and logged. Undefined when the policy retries nothing.
 */
export const retryLost = (policy: FailurePolicy.Resolved) => {
  const retry = policy.retry
  if (retry === undefined || policy.maxAttempts <= 1) return undefined
  const delays = Schedule.delays(retry)
  const ofMax = attemptsBound(policy)
  const drivers = new Map<number, Schedule.ScheduleDriver<Duration.Duration, unknown, never>>()
  return (index: number, attempts: number, report: IndexReport): Effect.Effect<boolean> =>
    Effect.gen(function*() {
      const cause = report._tag === "Failure" ? Cause.die(new Error(report.message)) : Cause.empty
      if (policy.classify(cause) !== "transient" || attempts >= policy.maxAttempts) return false
      let driver = drivers.get(index)
      if (driver === undefined) {
        driver = yield* Schedule.driver(delays)
        drivers.set(index, driver)
      }
      const delay = yield* Effect.option(driver.next(cause))
      if (Option.isNone(delay)) return false
      yield* asFramework(Effect.logWarning(retryLine(attempts, ofMax, index, report._tag === "Failure" ? report.message : "", delay.value)))
      yield* Effect.sleep(delay.value)
      return true
    })
}

/**
 * The policy of one run: the pipeline's, with the run's fields over it,
 * checked. A run's `retry`, `classify` or `indexTimeout` apply where the
 * index is computed, so on backends that compute elsewhere (threads,
 * runners load the pipeline's own policy) they are refused: set them on
 * the pipeline with `Pipeline.withFailurePolicy`. (`stallAfter` and
 * `onStall` act in the run's own watchdog, so they apply everywhere.)
 */
export const forRun = (
  pipelinePolicy: FailurePolicy.FailurePolicy | undefined,
  runPolicy: FailurePolicy.FailurePolicy | undefined,
  computesHere: boolean
): Either.Either<FailurePolicy.Resolved, InvalidRunOptions> => {
  const reason = FailurePolicy.invalidReason(pipelinePolicy) ?? FailurePolicy.invalidReason(runPolicy)
  if (reason !== undefined) return Either.left(new InvalidRunOptions({ option: "failurePolicy", message: reason }))
  if (!computesHere && runPolicy !== undefined) {
    const remote = (["retry", "classify", "indexTimeout", "maxAttempts"] as const).filter((key) => runPolicy[key] !== undefined)
    if (remote.length > 0) {
      return Either.left(
        new InvalidRunOptions({
          option: "failurePolicy",
          message: `${remote.join(", ")} in the run's failurePolicy cannot reach the threads or runners that compute the indices; ` +
            `set ${remote.length === 1 ? "it" : "them"} on the pipeline with Pipeline.withFailurePolicy instead`
        })
      )
    }
  }
  return Either.right(FailurePolicy.resolve(pipelinePolicy, runPolicy))
}

/**
 * The per-index timeout as a backend watches it from outside the index
 * (`Work.indexTimeout`): where a stage may block its thread, the thread
 * cannot time itself out, so whoever owns the thread (the run's process, or
 * a runner serving threads) stops it and records this message.
 */
import { Cause, Duration } from "effect"
import type { Work } from "../Backend.js"
import * as FailurePolicy from "../FailurePolicy.js"
import { stagesOf } from "./computeIndex.js"
import { describeFailure } from "./describeFailure.js"
import type { Pipeline } from "./pipeline.js"

/** The timeout of `pipeline`'s indices for a watching backend; undefined without one. */
export const watchedTimeout = (
  pipeline: Pipeline<unknown, unknown, boolean>,
  timeout: Duration.Duration | undefined
): Work<unknown, unknown>["indexTimeout"] => {
  if (timeout === undefined) return undefined
  const stageNames = stagesOf(pipeline).map((stage) => stage.name)
  return {
    millis: Duration.toMillis(timeout),
    message: (index, stageOrder) =>
      describeFailure(Cause.fail(FailurePolicy.timeoutError(index, timeout, stageNames[stageOrder] ?? "unknown")))
  }
}

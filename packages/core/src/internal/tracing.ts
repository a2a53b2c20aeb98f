import { Cause, Effect, Exit, Option, type Tracer } from "effect"
import type { StageTiming } from "../CheckpointStore.js"
import type { Computed } from "./computeIndex.js"
import type { CurrentIndex } from "./context.js"

/**
 * Effect's built-in tracer, which exports nothing. Curator creates its spans
 * only when another tracer is installed (OpenTelemetry, say): with the
 * built-in one they would cost a quarter of the per-index overhead and
 * reach no one.
 */
const builtInTracer = Effect.runSync(Effect.tracer)

/** Whether a tracer that exports spans is installed. */
export const tracingEnabled: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => tracer !== builtInTracer)

// A stack trace per span costs more than the rest of an index's bookkeeping.
const noStackTrace = { captureStackTrace: false } as const

/**
 * Stage spans under the index span, laid end to end from the index span's
 * start with each stage's measured time (streamed stages interleave, so
 * their times come from chain subtraction: the layout shows how long, not
 * when).
 */
const stageSpans = (stages: ReadonlyArray<StageTiming>) =>
  Effect.flatMap(Effect.currentSpan, (parent) =>
    Effect.tracerWith((tracer: Tracer.Tracer) =>
      Effect.sync(() => {
        // The span's own start, so that the stages lie within it.
        let at = parent.status.startTime
        for (const stage of stages) {
          const span = tracer.span(`curator.stage ${stage.name}`, Option.some(parent), parent.context, [], at, "internal")
          // A tracer's `span` ignores `options.attributes` (Effect.withSpan sets them afterwards): set them here.
          span.attribute("curator.stage.name", stage.name)
          span.attribute("curator.stage.order", stage.order)
          at += BigInt(stage.wallTimeNs)
          span.end(at, Exit.void)
        }
      })
    )).pipe(Effect.catchTag("NoSuchElementException", () => Effect.void))

/**
 * Computes an index inside a `curator.index` span with its stage spans. A
 * failed index ends its span with the failure's cause (an error status) but
 * is returned as an outcome, not raised.
 */
export const traceIndex = <E, R>(
  compute: Effect.Effect<Computed<E>, never, R>,
  current: CurrentIndex["Type"]
): Effect.Effect<Computed<E>, never, R> =>
  Effect.gen(function*() {
    let computed: Computed<E> | undefined
    const exit = yield* compute.pipe(
      Effect.flatMap((outcome) => {
        computed = outcome
        return Effect.zipRight(
          Effect.annotateCurrentSpan("curator.status", outcome._tag === "Success" ? "completed" : "error"),
          outcome._tag === "Success" ? stageSpans(outcome.stages) : Effect.failCause(outcome.cause)
        )
      }),
      Effect.withSpan("curator.index", {
        attributes: { "curator.index": current.index, "curator.cached": false, "curator.worker_id": current.workerId },
        ...noStackTrace
      }),
      Effect.exit
    )
    if (computed !== undefined) return computed
    // No outcome: the index was interrupted before it finished.
    return yield* Effect.failCause(Exit.isFailure(exit) ? (exit.cause as Cause.Cause<never>) : Cause.empty)
  })

/** The span of an index taken from the checkpoint: no stage ran. */
export const traceCachedIndex = (index: number): Effect.Effect<void> =>
  Effect.withSpan(Effect.void, "curator.index", {
    attributes: { "curator.index": index, "curator.cached": true, "curator.status": "completed" },
    ...noStackTrace
  })

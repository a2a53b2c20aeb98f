import { Effect } from "effect"

/**
 * Effect's built-in tracer, which exports nothing. Curator creates its spans
 * only when another tracer is installed (OpenTelemetry, say): with the
 * built-in one they would cost a quarter of the per-index overhead and
 * reach no one.
 */
const builtInTracer = Effect.runSync(Effect.tracer)

/** Whether a tracer that exports spans is installed. */
export const tracingEnabled: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => tracer !== builtInTracer)

/** The span of an index taken from the checkpoint: no stage ran. */
export const traceCachedIndex = (index: number): Effect.Effect<void> =>
  Effect.withSpan(Effect.void, "curator.index", {
    attributes: { "curator.index": index, "curator.cached": true, "curator.status": "completed" },
    captureStackTrace: false
  })

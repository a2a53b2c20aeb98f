/**
 * For backends that compute indices in another thread or process (the
 * worker-thread and cluster backends): computing an index there and the
 * report that carries it back to the run, which records it exactly as if
 * it had been computed locally. Not part of the main API (`@curator/core`);
 * imported as `@curator/core/Remote`.
 */
import { Effect, Layer, LogLevel, type Scope } from "effect"
import type { Work } from "./Backend.js"
import * as FailurePolicy from "./FailurePolicy.js"
import { Host } from "./Host.js"
import { makeComputeIndex, makeLanesOf } from "./internal/computeIndex.js"
import { makeLogger, withLogger } from "./internal/logCapture.js"
import type { Probe } from "./internal/probe.js"
import { recordSpans } from "./internal/recordingTracer.js"
import { watchedTimeout } from "./internal/watchedTimeout.js"
import { toReport } from "./internal/wire.js"
import type { IndexReport } from "./internal/wire.js"
import type { Pipeline } from "./internal/pipeline.js"

export { diedReport, Failure, IndexReport, Success } from "./internal/wire.js"

/** How the run wants an index computed elsewhere. */
export interface ComputeRequest {
  readonly index: number
  readonly workerId: string
  /** The lowest level of log lines to capture into the report. */
  readonly logLevel: LogLevel.Literal
  /** Record the stages' spans (and the user's, inside them) into the report, for the run to replay. */
  readonly tracing: boolean
  /** Whether the run resumes (its option, not the module's): stateful filters claim what earlier shards count. */
  readonly resume?: boolean | undefined
  /**
   * What the run records of each output (its `verifyOutputs`, not the
   * module's): sizes, or sizes and content hashes, measured here; absent,
   * nothing is measured.
   */
  readonly measureOutputs?: "size" | "content" | undefined
  /** Where the index reports its attempts, stage and items, for a watcher (heartbeats, timeouts). */
  readonly probe?: Probe | undefined
}

/**
 * Prepares a pipeline to compute indices here for a run elsewhere: builds
 * the services it carries (`Pipeline.provide`) once, in `scope` — so they
 * live as long as the thread or runner — and returns the computation of one
 * index as a report. Log lines go only into the report (no console: the run
 * decides where they go); spans are recorded when the run traces.
 */
export const makeIndexServer = <E, Tracked extends boolean>(
  pipeline: Pipeline<E, never, Tracked>
): Effect.Effect<(request: ComputeRequest) => Effect.Effect<IndexReport>, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const host = yield* Host
    const context = pipeline.layer === undefined ? undefined : yield* Layer.buildWithScope(pipeline.layer, scope)
    // Both computations serve the same lanes, so they share the stateful filters' lane states.
    const lanes = makeLanesOf(pipeline)
    const plain = makeComputeIndex(pipeline, { tracing: false, memory: host.memory, lanes })
    const traced = makeComputeIndex(pipeline, { tracing: true, memory: host.memory, lanes })
    return (request) => {
      const level = LogLevel.fromLiteral(request.logLevel)
      const computed = (request.tracing ? traced : plain)(
        request.index,
        request.workerId,
        request.probe,
        request.resume,
        // Not the module's option: a run that records nothing has nothing measured here either.
        request.measureOutputs ?? "none"
      ).pipe(
        withLogger(makeLogger([], level, "report"), level, true)
      )
      const provided = context === undefined ? computed : Effect.provide(computed, context)
      return request.tracing
        ? Effect.map(recordSpans(provided), ([computed, spans]) => toReport({ ...computed, spans }))
        : Effect.map(provided, toReport)
    }
  })

/**
 * The pipeline's own per-index timeout, for a process that serves a run's
 * indices on a backend of its own (a runner on worker threads): that
 * backend then stops a thread stuck past it, as the run's process would.
 */
export const indexTimeoutOf = <E, Tracked extends boolean>(pipeline: Pipeline<E, never, Tracked>): Work<unknown, unknown>["indexTimeout"] =>
  watchedTimeout(pipeline as Pipeline<unknown, unknown, boolean>, FailurePolicy.resolve(pipeline.failurePolicy).indexTimeout)

export type { Units } from "./internal/units.js"

/** Where an index tells its watcher its attempts, stage and items (a thread's parent reads them from shared memory). */
export type { Probe, Reading } from "./internal/probe.js"

/** A probe in this process's memory, one per lane and reset per index, for a watcher here (a runner answering progress polls). */
export { inMemory as makeProbe } from "./internal/probe.js"

/** Whether the run traces (a tracer that exports spans is installed): then ask for the stages' spans. */
export { tracingEnabled } from "./internal/tracing.js"

/** Units of the given groups (a batch received by a runner), for its local backend. */
export { fromGroups } from "./internal/units.js"

/**
 * Computing one index: the closed, fiber-local effect every backend runs,
 * here or in another thread or process. It reads the source, applies the
 * filters and writes with the sink, each stage in its own `CurrentStage`
 * context (and span, when tracing), and measures wall time, stage times and
 * peak memory. What it produced — paths, artifacts, log lines, timings — is
 * returned as a `Computed`; recording it is the run's business.
 */
import { Cause, Channel, type Chunk, type Duration, Effect, Either, Exit, Option, Schema, Stream, type Tracer } from "effect"
import type { LogEntry, StageTiming } from "../CheckpointStore.js"
import * as FailurePolicy from "../FailurePolicy.js"
import type { MemoryMeter } from "../Host.js"
import type { Pipeline } from "../Pipeline.js"
import { InvalidSinkResult } from "../Sink.js"
import { type ArtifactWritten, CurrentIndex, CurrentStage, type Stage } from "./context.js"
import { describeFailure } from "./describeFailure.js"
import { none, type Probe } from "./probe.js"
import type { RecordedSpan } from "./recordingTracer.js"

/** What computing one index produced, before anything is recorded. */
export type Computed<E> =
  | {
    readonly _tag: "Success"
    readonly paths: ReadonlyArray<string>
    readonly wallTimeNs: number
    /** 0 when memory is not tracked, as the reference records it. */
    readonly peakMemoryBytes: number
    readonly stages: ReadonlyArray<StageTiming>
    readonly artifacts: ReadonlyArray<ArtifactWritten>
    readonly logs: ReadonlyArray<LogEntry>
    /** Spans recorded where the index ran, when it ran elsewhere (see recordingTracer.ts); empty here. */
    readonly spans: ReadonlyArray<RecordedSpan>
    /** How many attempts the index took (FailurePolicy); 1 when absent. */
    readonly attempts?: number | undefined
  }
  | {
    readonly _tag: "Failure"
    readonly message: string
    readonly cause: Cause.Cause<E>
    readonly wallTimeNs: number
    readonly peakMemoryBytes: number
    readonly logs: ReadonlyArray<LogEntry>
    /** Spans recorded where the index ran, when it ran elsewhere (see recordingTracer.ts); empty here. */
    readonly spans: ReadonlyArray<RecordedSpan>
    readonly attempts?: number | undefined
    /** The failure's class, decided where the index ran (FailurePolicy). */
    readonly failureClass?: FailurePolicy.FailureClass | undefined
  }

/** The stages of a pipeline, in order: the source, each filter, the sink. */
export const stagesOf = (pipeline: Pipeline<unknown, unknown, boolean>): ReadonlyArray<Stage> => [
  { kind: "source", name: pipeline.source.name, order: 0, recordedName: "source" },
  ...pipeline.filters.map((filter, i): Stage => ({ kind: "filter", name: filter.name, order: i + 1, recordedName: filter.name })),
  { kind: "sink", name: pipeline.sink.name, order: pipeline.filters.length + 1, recordedName: "sink" }
]

const toNs = (ms: number) => Math.max(0, Math.round(ms * 1e6))

/** The peak of memory in use over its level when the index started, from samples taken as the index runs. */
class PeakMemory {
  private readonly start: number
  private peak: number
  constructor(private readonly meter: MemoryMeter) {
    this.start = meter.current()
    this.peak = this.start
  }
  sample() {
    const used = this.meter.sample()
    if (used > this.peak) this.peak = used
  }
  growth() {
    this.sample()
    const growth = this.peak - this.start
    const collections = growth <= 0 ? this.meter.collections?.() : undefined
    if (collections === undefined) return Math.max(0, growth)
    // No growth seen, but collections ran: what the index holds is what it
    // reached over the live memory a collection left (an upper bound, as the
    // collections may predate the index).
    return Math.max(0, collections.highestBefore - this.start, this.peak - collections.lowestAfter)
  }
}

/** The bookkeeping of one index while it runs; it belongs to that index alone. */
interface Tracking {
  /** The time of each stage, in milliseconds, by stage order. */
  readonly stageMs: Float64Array
  readonly memory: PeakMemory | undefined
  /** The order of the stage running now (for a timeout's message), also told to the probe. */
  stage: number
  readonly probe: Probe
}

const enter = (tracking: Tracking, order: number) => {
  tracking.stage = order
  tracking.probe.stage(order)
}

const SinkResult = Schema.Array(Schema.NonEmptyString)
const decodeSinkResult = Schema.decodeUnknownEither(SinkResult)

/** What a sink returned, checked: a bad value fails this index alone, with a message saying what was wrong. */
const isPathList = (value: unknown): value is ReadonlyArray<string> =>
  Array.isArray(value) && value.every((path) => typeof path === "string" && path.length > 0)

const checkSinkResult = (sinkName: string, index: number) => (value: unknown) =>
  // The common case checked by hand first: the Schema's decoding costs more than the rest of a trivial index.
  isPathList(value) ? Effect.succeed(value) : Either.match(decodeSinkResult(value), {
    onRight: (paths): Effect.Effect<ReadonlyArray<string>, InvalidSinkResult> => Effect.succeed(paths),
    onLeft: () =>
      Effect.fail(
        new InvalidSinkResult({
          sink: sinkName,
          index,
          message: `the sink ${sinkName} returned ${preview(value)} for index ${index}; a sink must return an array of non-empty path strings`
        })
      )
  })

const preview = (value: unknown): string => {
  try {
    const text = JSON.stringify(value) ?? String(value)
    return text.length > 120 ? `${text.slice(0, 117)}...` : text
  } catch {
    return String(value)
  }
}

/**
 * How each stage runs: in its own `CurrentStage` context, so that its logs,
 * artifacts and the fibers it forks are attributed to it; and in a real
 * span of its own when a tracer exports spans, so that a span a user opens
 * inside a stage is that stage's child.
 */
interface StageScope {
  readonly effect: <A, E, R>(stage: Stage, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly stream: <A, E, R>(stage: Stage, stream: Stream.Stream<A, E, R>) => Stream.Stream<A, E, R>
}

/** Stage spans are children of the index's span, side by side (streamed stages run nested in the sink's pull). */
const stageSpanOptions = (stage: Stage, indexSpan: Tracer.AnySpan | undefined) => ({
  attributes: { "curator.stage.name": stage.name, "curator.stage.order": stage.order },
  captureStackTrace: false,
  ...(indexSpan === undefined ? {} : { parent: indexSpan })
})

const untracedScope: StageScope = {
  effect: (stage, effect) => Effect.provideService(effect, CurrentStage, stage),
  stream: (stage, stream) => Stream.provideService(stream, CurrentStage, stage)
}

const tracedScope = (indexSpan: Tracer.AnySpan | undefined): StageScope => ({
  effect: (stage, effect) =>
    Effect.withSpan(Effect.provideService(effect, CurrentStage, stage), `curator.stage ${stage.name}`, stageSpanOptions(stage, indexSpan)),
  stream: (stage, stream) =>
    Stream.withSpan(Stream.provideService(stream, CurrentStage, stage), `curator.stage ${stage.name}`, stageSpanOptions(stage, indexSpan))
})

/**
 * An identity channel placed after stage `k`: while it waits for a chunk,
 * stages 0..k run; that time accumulates in `upstreamMs[k]`, so a stage's
 * own time is the difference of neighbouring slots (chain subtraction, as
 * SPEC.md defines stage times). Memory is sampled as each chunk passes.
 */
const boundaryAfter = <A>(
  tracking: Tracking,
  upstreamMs: Float64Array,
  k: number,
  last: boolean
): Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<A>, unknown, unknown, unknown, unknown> => {
  const loop: Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<A>, unknown, unknown, unknown, unknown> = Channel.suspend(
    () => {
      const asked = performance.now()
      enter(tracking, k)
      const settle = () => {
        upstreamMs[k]! += performance.now() - asked
        tracking.memory?.sample()
      }
      return Channel.readWithCause({
        onInput: (chunk: Chunk.Chunk<A>) => {
          settle()
          enter(tracking, k + 1)
          if (last) tracking.probe.items(chunk.length)
          return Channel.flatMap(Channel.write(chunk), () => loop)
        },
        onFailure: (cause) => {
          settle()
          return Channel.failCause(cause)
        },
        onDone: (done) => {
          settle()
          return Channel.succeed(done)
        }
      })
    }
  )
  return loop
}

type AnyPipeline = Pipeline<unknown, unknown, boolean>

/**
 * The general path: stages composed as streams and pulled by the sink, with
 * a timing boundary after the source and after each filter.
 */
const throughStreams = (
  pipeline: AnyPipeline,
  stages: ReadonlyArray<Stage>,
  scope: StageScope,
  tracking: Tracking,
  index: number
): Effect.Effect<unknown, unknown, unknown> =>
  Effect.suspend(() => {
    const started = performance.now()
    const upstreamMs = new Float64Array(stages.length - 1)
    // Filters and sinks see upstream items as a plain `Stream<A>`; upstream
    // failures still travel through it at run time and fail the index.
    let items = Stream.pipeThroughChannelOrFail(
      scope.stream(stages[0]!, pipeline.source.read(index)),
      boundaryAfter(tracking, upstreamMs, 0, stages.length === 2)
    ) as Stream.Stream<unknown>
    pipeline.filters.forEach((filter, i) => {
      items = Stream.pipeThroughChannelOrFail(
        scope.stream(stages[i + 1]!, filter.apply(items)),
        boundaryAfter(tracking, upstreamMs, i + 1, i + 1 === stages.length - 2)
      ) as Stream.Stream<unknown>
    })
    return scope.effect(stages[stages.length - 1]!, pipeline.sink.write(items, index)).pipe(
      Effect.ensuring(Effect.sync(() => {
        const last = upstreamMs.length
        for (let k = 0; k < last; k++) tracking.stageMs[k] = upstreamMs[k]! - (k === 0 ? 0 : upstreamMs[k - 1]!)
        tracking.stageMs[last] = performance.now() - started - upstreamMs[last - 1]!
      }))
    )
  })

/**
 * The fast path, when the source gives all items at once, every filter works
 * item by item and the sink takes all items at once: no stream is built and
 * each stage is timed directly. Results are the same as through streams.
 * Plain-function filters cannot log or report artifacts, so they run inline
 * without a stage context (unless spans are wanted).
 */
const throughArrays = (
  pipeline: AnyPipeline,
  stages: ReadonlyArray<Stage>,
  scope: StageScope,
  tracing: boolean,
  tracking: Tracking,
  index: number
): Effect.Effect<unknown, unknown, unknown> => {
  const { filters, sink, source } = pipeline
  const { memory, stageMs } = tracking
  const settle = (k: number, started: number) => {
    stageMs[k]! += performance.now() - started
    memory?.sample()
  }
  const timed = <A>(k: number, stage: Effect.Effect<A, unknown, unknown>) =>
    Effect.suspend(() => {
      const started = performance.now()
      enter(tracking, k)
      return Effect.ensuring(scope.effect(stages[k]!, stage), Effect.sync(() => settle(k, started)))
    })
  const runSync = (step: (item: unknown) => ReadonlyArray<unknown>, items: ReadonlyArray<unknown>) => {
    const next: Array<unknown> = []
    for (const item of items) for (const out of step(item)) next.push(out)
    return next
  }
  const applyFilters = (
    first: number,
    items: ReadonlyArray<unknown>
  ): Effect.Effect<ReadonlyArray<unknown>, unknown, unknown> => {
    let flowing = items
    for (let i = first; i < filters.length; i++) {
      const step = filters[i]!.itemwise!
      if (step._tag === "Effect" || tracing) {
        const stage = step._tag === "Effect"
          ? Effect.forEach(flowing, step.f)
          : Effect.sync(() => runSync(step.f, flowing))
        return Effect.flatMap(timed(i + 1, stage), (next) => applyFilters(i + 1, next))
      }
      const started = performance.now()
      flowing = runSync(step.f, flowing)
      settle(i + 1, started)
    }
    return Effect.succeed(flowing)
  }
  return timed(0, source.items!(index)).pipe(
    Effect.flatMap((items) => applyFilters(0, items)),
    Effect.flatMap((items) => {
      tracking.probe.items(items.length)
      return timed(stages.length - 1, sink.writeItems!(items, index))
    })
  )
}

/** How a run computes its indices; built once per run (or per thread), used for every index. */
export interface ComputeOptions {
  /** Create stage spans (only worth it when a tracer exports them). */
  readonly tracing: boolean
  /** Where peak memory comes from; undefined records 0. */
  readonly memory: MemoryMeter | undefined
  /** Retries, classes and the per-attempt timeout; the pipeline's own policy when absent. */
  readonly policy?: FailurePolicy.Resolved | undefined
}

/**
 * Builds the computation of one index of `pipeline`: runs it as described
 * above, in a `CurrentIndex` context of its own (so its logs and artifacts
 * are its own, whichever fibers produce them). Failures of any stage —
 * typed errors and defects alike — become a `Failure`; interruption is not
 * a failure and propagates.
 */
export const makeComputeIndex = <E, R>(
  pipeline: Pipeline<E, R, boolean>,
  options: ComputeOptions
): (index: number, workerId: string, probe?: Probe) => Effect.Effect<Computed<E>, never, R> => {
  const any = pipeline as AnyPipeline
  const stages = stagesOf(any)
  const fastPath = any.source.items !== undefined && any.sink.writeItems !== undefined &&
    any.filters.every((f) => f.itemwise !== undefined)
  const meter = pipeline.options.trackMemory ? options.memory : undefined
  const check = (index: number) => checkSinkResult(any.sink.name, index)
  const scopeOf: Effect.Effect<StageScope> = options.tracing
    ? Effect.map(Effect.option(Effect.currentSpan), (span) => tracedScope(Option.getOrUndefined(span)))
    : Effect.succeed(untracedScope)
  const policy = options.policy ?? FailurePolicy.resolve(pipeline.failurePolicy)
  const timeout: Duration.Duration | undefined = policy.indexTimeout
  const compute = (index: number, workerId: string, probe: Probe = none) =>
    Effect.flatMap(scopeOf, (scope) => {
      const started = performance.now()
      probe.attempt()
      const current: CurrentIndex["Type"] = { index, workerId, artifacts: [], logs: [] }
      const tracking: Tracking = {
        stageMs: new Float64Array(stages.length),
        memory: meter === undefined ? undefined : new PeakMemory(meter),
        stage: stages.length - 1,
        probe
      }
      const paths = fastPath
        ? throughArrays(any, stages, scope, options.tracing, tracking, index)
        : throughStreams(any, stages, scope, tracking, index)
      const checked = Effect.flatMap(paths, check(index))
      return (timeout === undefined ? checked : Effect.timeoutFail(checked, {
        duration: timeout,
        onTimeout: () => FailurePolicy.timeoutError(index, timeout, stages[tracking.stage]!.name)
      })).pipe(
        Effect.exit,
        Effect.flatMap((exit): Effect.Effect<Computed<E>> => {
          const wallTimeNs = toNs(performance.now() - started)
          const peakMemoryBytes = tracking.memory?.growth() ?? 0
          if (Exit.isSuccess(exit)) {
            return Effect.succeed({
              _tag: "Success",
              paths: exit.value,
              wallTimeNs,
              peakMemoryBytes,
              stages: stages.map((stage) => ({
                order: stage.order,
                name: stage.recordedName,
                wallTimeNs: toNs(tracking.stageMs[stage.order]!)
              })),
              artifacts: current.artifacts,
              logs: current.logs,
              spans: []
            })
          }
          if (Cause.isInterruptedOnly(exit.cause)) return Effect.interrupt
          return Effect.succeed({
            _tag: "Failure",
            message: describeFailure(exit.cause),
            cause: exit.cause as Cause.Cause<E>,
            wallTimeNs,
            peakMemoryBytes,
            logs: current.logs,
            spans: []
          })
        }),
        Effect.provideService(CurrentIndex, current)
      ) as Effect.Effect<Computed<E>, never, R>
    })
  return FailurePolicy.withRetries(policy, compute)
}

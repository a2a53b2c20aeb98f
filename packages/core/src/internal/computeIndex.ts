/**
 * Computing one index: the closed, fiber-local effect every backend runs,
 * here or in another thread or process. It reads the source, applies the
 * filters and writes with the sink, each stage in its own `CurrentStage`
 * context (and span, when tracing), and measures wall time, stage times and
 * peak memory. What it produced — paths, artifacts, log lines, timings — is
 * returned as a `Computed`; recording it is the run's business.
 */
import { Cause, Channel, Chunk, Context, type Duration, Effect, Either, Exit, FiberRef, Option, Schema, Stream, type Tracer } from "effect"
import type { LogEntry, OutputCheck, StageTiming } from "../CheckpointStore.js"
import * as FailurePolicy from "../FailurePolicy.js"
import type { MemoryMeter } from "../Host.js"
import type { Pipeline } from "./pipeline.js"
import { InvalidSinkResult } from "../Sink.js"
import { type ArtifactWritten, CurrentIndex, CurrentStage, type Stage } from "./context.js"
import { describeFailure } from "./describeFailure.js"
import { none, type Probe } from "./probe.js"
import type { RecordedSpan } from "./recordingTracer.js"
import { commit, type Lanes, makeLanes, StatefulIndex, statefulStages } from "./stateful.js"
import type { Computed } from "./computed.js"
import { withRetries } from "./policy.js"
import { measureModeOf, measureOutputs, type MeasureMode } from "./outputChecks.js"


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

/**
 * A stream run with `stage` as its `CurrentStage`. The same context as
 * `Stream.provideService`, added at the channel: that one builds it through
 * two stream `flatMap`s, ~70 µs per stage of a one-item index here.
 */
const streamInStage = <A, E, R>(stage: Stage, stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.fromChannel(Channel.mapInputContext(Stream.toChannel(stream), Context.add(CurrentStage, stage)))

const untracedScope: StageScope = {
  effect: (stage, effect) => Effect.provideService(effect, CurrentStage, stage),
  stream: streamInStage
}

const tracedScope = (indexSpan: Tracer.AnySpan | undefined): StageScope => ({
  effect: (stage, effect) =>
    Effect.withSpan(Effect.provideService(effect, CurrentStage, stage), `curator.stage ${stage.name}`, stageSpanOptions(stage, indexSpan)),
  stream: (stage, stream) =>
    Stream.withSpan(streamInStage(stage, stream), `curator.stage ${stage.name}`, stageSpanOptions(stage, indexSpan))
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
          // Upstream is finished: what runs now (and may fail) is downstream.
          enter(tracking, k + 1)
          return Channel.succeed(done)
        }
      })
    }
  )
  return loop
}

/**
 * `stream` piped through a boundary. The boundary passes an upstream
 * failure on with its cause unchanged, so a plain `Channel.pipeTo` does:
 * `Stream.pipeThroughChannelOrFail` would add two more relaying channels
 * per stage (~30 µs per index here) to do the same.
 */
const throughBoundary = <A>(
  stream: Stream.Stream<A, unknown, unknown>,
  boundary: Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<A>, unknown, unknown, unknown, unknown>
): Stream.Stream<unknown> =>
  Stream.fromChannel(Channel.pipeTo(Stream.toChannel(stream), boundary)) as Stream.Stream<unknown>

type AnyPipeline = Pipeline<unknown, unknown, boolean>

/**
 * The general path: stages composed as streams and pulled by the sink, with
 * a timing boundary after the source and after each filter. Without
 * tracing, a filter that is a plain function item by item (`Filter.map`,
 * `keep`, `expand`) runs inline on each chunk instead, timed directly: it
 * cannot log or report artifacts, so it needs no stage context, and the
 * boundary and context a stream stage costs are most of a small index's
 * time. Its upstream time is then the previous slot's plus its own, which
 * keeps the chain subtraction exact.
 */
const throughStreams = (
  pipeline: AnyPipeline,
  stages: ReadonlyArray<Stage>,
  scope: StageScope,
  tracing: boolean,
  tracking: Tracking,
  index: number
): Effect.Effect<unknown, unknown, unknown> =>
  Effect.suspend(() => {
    const started = performance.now()
    const upstreamMs = new Float64Array(stages.length - 1)
    // For inline filters: their own time (NaN for the others, whose slot a boundary fills).
    const ownMs = new Float64Array(stages.length - 1).fill(Number.NaN)
    // Filters and sinks see upstream items as a plain `Stream<A>`; upstream
    // failures still travel through it at run time and fail the index.
    let items = throughBoundary(
      scope.stream(stages[0]!, pipeline.source.read(index)),
      boundaryAfter(tracking, upstreamMs, 0, stages.length === 2)
    )
    pipeline.filters.forEach((filter, i) => {
      const step = filter.itemwise
      if (step?._tag === "Sync" && !tracing) {
        ownMs[i + 1] = 0
        const feedsSink = i + 1 === stages.length - 2
        items = Stream.mapChunks(items, (chunk) => {
          const asked = performance.now()
          enter(tracking, i + 1)
          const out: Array<unknown> = []
          // A for-of over the Chunk: an indexed loop over its array allocated less, yet made
          // JSON Lines and CSV runs 4–8% slower in `bench formats` (paired runs).
          for (const item of chunk) for (const next of step.f(item)) out.push(next)
          ownMs[i + 1]! += performance.now() - asked
          // The chunk goes on to the next stage, which has no boundary of its own to say so.
          enter(tracking, i + 2)
          // What reaches the sink counts as the index's progress (heartbeats, the stall watchdog).
          if (feedsSink) tracking.probe.items(out.length)
          return Chunk.unsafeFromArray(out)
        })
        return
      }
      items = throughBoundary(
        scope.stream(stages[i + 1]!, filter.apply(items)),
        boundaryAfter(tracking, upstreamMs, i + 1, i + 1 === stages.length - 2)
      )
    })
    // A failed index records no stage times, so they are settled only when it succeeds.
    return Effect.map(scope.effect(stages[stages.length - 1]!, pipeline.sink.write(items, index)), (paths) => {
      const last = upstreamMs.length
      for (let k = 1; k < last; k++) if (!Number.isNaN(ownMs[k]!)) upstreamMs[k] = upstreamMs[k - 1]! + ownMs[k]!
      for (let k = 0; k < last; k++) tracking.stageMs[k] = upstreamMs[k]! - (k === 0 ? 0 : upstreamMs[k - 1]!)
      tracking.stageMs[last] = performance.now() - started - upstreamMs[last - 1]!
      return paths
    })
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
  // A failed index records no stage times, so only a stage that succeeds is settled.
  const timed = <A>(k: number, stage: () => Effect.Effect<A, unknown, unknown>) =>
    Effect.suspend(() => {
      const started = performance.now()
      enter(tracking, k)
      const effect = stage()
      // A value the stage already had (`Effect.succeed`) runs no code that could log, report an
      // artifact or fork a fiber: without spans to make, it needs no stage context.
      if (!tracing && Exit.isExit(effect) && Exit.isSuccess(effect)) {
        settle(k, started)
        return effect
      }
      return Effect.map(scope.effect(stages[k]!, effect), (value) => {
        settle(k, started)
        return value
      })
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
          ? () => Effect.forEach(flowing, step.f)
          : () => Effect.sync(() => runSync(step.f, flowing))
        return Effect.flatMap(timed(i + 1, stage), (next) => applyFilters(i + 1, next))
      }
      const started = performance.now()
      enter(tracking, i + 1)
      flowing = runSync(step.f, flowing)
      settle(i + 1, started)
    }
    return Effect.succeed(flowing)
  }
  return timed(0, () => source.items!(index)).pipe(
    Effect.flatMap((items) => applyFilters(0, items)),
    Effect.flatMap((items) => {
      tracking.probe.items(items.length)
      return timed(stages.length - 1, () => sink.writeItems!(items, index))
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
  /** The lanes' states of stateful filters, when several computations here serve the same lanes (see `makeLanesOf`). */
  readonly lanes?: Lanes | undefined
}

/** The lanes' states for a pipeline's stateful filters (undefined when it has none). */
export const makeLanesOf = (pipeline: Pipeline<unknown, unknown, boolean>): Lanes | undefined => {
  const stages = statefulStages(pipeline.filters)
  return stages.length === 0
    ? undefined
    : makeLanes({ configHash: pipeline.configHash, stages })
}

/**
 * The stage scope of one index on the items fast path without tracing: the
 * stages run one after another on this fiber, so instead of nesting a
 * provide per stage (each a fiber-ref write and its undo, with an
 * uninterruptible region around them) the fiber's context is switched to
 * the next stage's as it starts; `makeComputeIndex` restores the caller's
 * context when the index ends, however it ends. Fibers a stage forks
 * inherit its context as with a provide.
 */
const switchingScope = (outer: Context.Context<never>, withIndex: (outer: Context.Context<never>) => Context.Context<never>) => {
  // Made when a stage first needs it: a stage that needs none (see `throughArrays`) costs no context.
  let indexContext: Context.Context<never> | undefined
  const scope: StageScope = {
    effect: (stage, effect) => {
      indexContext ??= withIndex(outer)
      return Effect.zipRight(FiberRef.set(FiberRef.currentContext, Context.add(indexContext, CurrentStage, stage)), effect)
    },
    stream: untracedScope.stream
  }
  return {
    scope,
    /** Puts the caller's context back, if a stage changed it. */
    restore: Effect.suspend(() => indexContext === undefined ? Effect.void : FiberRef.set(FiberRef.currentContext, outer))
  }
}

/**
 * The stage scope of one index through streams without tracing: the sink's
 * effect runs in the index's context and its own stage's, and every stream
 * stage runs inside it (the sink pulls them), so it inherits the index and
 * only sets its stage: one provide fewer per index than an outer one.
 */
const indexScope = (indexContext: Context.Context<never>): StageScope => ({
  effect: (stage, effect) => Effect.provide(effect, Context.add(indexContext, CurrentStage, stage)),
  stream: untracedScope.stream
})

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
): (index: number, workerId: string, probe?: Probe, resume?: boolean, measure?: MeasureMode | "none") => Effect.Effect<Computed<E>, never, R> => {
  const any = pipeline as AnyPipeline
  const stages = stagesOf(any)
  const fastPath = any.source.items !== undefined && any.sink.writeItems !== undefined &&
    any.filters.every((f) => f.itemwise !== undefined)
  // Peak memory is only ever recorded: without metrics, reading it is ~7% of an untracked run for nothing.
  const meter = pipeline.options.trackMemory && pipeline.options.trackMetrics ? options.memory : undefined
  const check = (index: number) => checkSinkResult(any.sink.name, index)
  const scopeOf: Effect.Effect<StageScope> = options.tracing
    ? Effect.map(Effect.option(Effect.currentSpan), (span) => tracedScope(Option.getOrUndefined(span)))
    : Effect.succeed(untracedScope)
  const policy = options.policy ?? FailurePolicy.resolve(pipeline.failurePolicy)
  const timeout: Duration.Duration | undefined = policy.indexTimeout
  const lanes = options.lanes ?? makeLanesOf(any)
  const pipelineMeasure = measureModeOf(pipeline.options.verifyOutputs)

  /** Runs the stages (within the policy's timeout, then commits stateful filters) and turns how they ended into a `Computed`. */
  const computed = (
    index: number,
    current: CurrentIndex["Type"],
    scope: StageScope,
    probe: Probe,
    stateful: StatefulIndex["Type"] | undefined
  ): Effect.Effect<Computed<E>, never, unknown> =>
    Effect.suspend(() => {
      const started = performance.now()
      probe.attempt()
      const tracking: Tracking = {
        stageMs: new Float64Array(stages.length),
        memory: meter === undefined ? undefined : new PeakMemory(meter),
        stage: stages.length - 1,
        probe
      }
      const paths = fastPath
        ? throughArrays(any, stages, scope, options.tracing, tracking, index)
        : throughStreams(any, stages, scope, options.tracing, tracking, index)
      const failure = (cause: Cause.Cause<unknown>): Effect.Effect<Computed<E>> => {
        if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
        return Effect.succeed({
          _tag: "Failure",
          message: describeFailure(cause),
          cause: cause as Cause.Cause<E>,
          wallTimeNs: toNs(performance.now() - started),
          peakMemoryBytes: tracking.memory?.growth() ?? 0,
          logs: current.logs,
          spans: [],
          stage: tracking.stage
        })
      }
      const success = (paths: ReadonlyArray<string>, outputChecks: ReadonlyArray<OutputCheck> | undefined): Computed<E> => ({
        _tag: "Success",
        paths,
        wallTimeNs: toNs(performance.now() - started),
        peakMemoryBytes: tracking.memory?.growth() ?? 0,
        stages: stages.map((stage) => ({
          order: stage.order,
          name: stage.recordedName,
          wallTimeNs: toNs(tracking.stageMs[stage.order]!)
        })),
        artifacts: current.artifacts,
        logs: current.logs,
        spans: [],
        ...(outputChecks === undefined ? {} : { outputChecks })
      })
      // A list of paths is taken as it is; anything else goes through the Schema for its message.
      const checked = Effect.flatMap(paths, check(index))
      const timed = timeout === undefined ? checked : Effect.timeoutFail(checked, {
        duration: timeout,
        onTimeout: () => FailurePolicy.timeoutError(index, timeout, stages[tracking.stage]!.name)
      })
      // Stateful filters folded into pending states, kept (and flushed to shards) only once the index succeeded.
      const committed = stateful === undefined ? timed : Effect.tap(timed, () => commit(stateful, current))
      // Outputs the sink measured as it wrote are taken as they are; the others are read here, where the index ran.
      const measured = current.measured
      return Effect.matchCauseEffect(committed, {
        onFailure: failure,
        onSuccess: (paths) =>
          measured === undefined
            ? Effect.succeed(success(paths, undefined))
            : Effect.map(measureOutputs(paths, measured.mode, measured.byPath), (checks) => success(paths, checks))
      })
    })

  const compute = (
    index: number,
    workerId: string,
    probe: Probe = none,
    resume = pipeline.options.resume,
    // A run served elsewhere gives its own mode ("none": it records nothing), whatever the module says.
    measureAs: MeasureMode | "none" | undefined = pipelineMeasure
  ): Effect.Effect<Computed<E>, never, R> => {
    const measure = measureAs === "none" ? undefined : measureAs
    const current: CurrentIndex["Type"] = measure === undefined
      ? { index, workerId, artifacts: [], logs: [] }
      : { index, workerId, artifacts: [], logs: [], measured: { mode: measure, byPath: new Map() } }
    const stateful: StatefulIndex["Type"] | undefined = lanes === undefined
      ? undefined
      : { lanes, index, workerId, resume, pending: new Map() }
    const withIndex = (context: Context.Context<never>): Context.Context<never> => {
      const withCurrent = Context.add(context, CurrentIndex, current)
      return stateful === undefined ? withCurrent : Context.add(withCurrent, StatefulIndex, stateful) as Context.Context<never>
    }
    if (options.tracing) {
      return Effect.flatMap(scopeOf, (scope) =>
        Effect.provide(computed(index, current, scope, probe, stateful), withIndex(Context.empty()))) as Effect.Effect<
          Computed<E>,
          never,
          R
        >
    }
    if (!fastPath) return computed(index, current, indexScope(withIndex(Context.empty())), probe, stateful) as Effect.Effect<Computed<E>, never, R>
    // The items fast path: the index's context is set once and switched per stage (see `switchingScope`);
    // every stage sets its context as it starts, so only the caller's needs putting back.
    return Effect.withFiberRuntime<Computed<E>, never, R>((fiber) => {
      const { restore, scope } = switchingScope(fiber.getFiberRef(FiberRef.currentContext), withIndex)
      return Effect.onExit(computed(index, current, scope, probe, stateful), () => restore) as Effect.Effect<Computed<E>, never, R>
    })
  }
  return withRetries(policy, compute)
}

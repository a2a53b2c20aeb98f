import { Cause, Channel, type Chunk, Effect, Exit, Stream } from "effect"
import { getHeapStatistics } from "node:v8"
import type { StageTiming } from "../CheckpointStore.js"
import type { Pipeline } from "../Pipeline.js"
import type { ArtifactWritten, CurrentIndex, Stage } from "./context.js"
import { describeFailure } from "./describeFailure.js"

/** What computing one index produced, before anything is recorded. */
export type Computed<E> =
  | {
    readonly _tag: "Success"
    readonly paths: ReadonlyArray<string>
    readonly wallTimeNs: number
    readonly peakMemoryBytes: number | null
    readonly stages: ReadonlyArray<StageTiming>
    readonly artifacts: ReadonlyArray<ArtifactWritten>
  }
  | {
    readonly _tag: "Failure"
    readonly message: string
    readonly cause: Cause.Cause<E>
    readonly wallTimeNs: number
    readonly peakMemoryBytes: number | null
  }

/**
 * The growth of the V8 heap over its level at the start of an index, sampled
 * at every stage boundary and at the end. The heap is the thread's:
 * concurrent indices on one thread share it, so each sees the others'
 * allocations too (an upper bound); worker threads have their own.
 */
class HeapPeak {
  private readonly start = getHeapStatistics().used_heap_size
  private peak = this.start
  sample() {
    const used = getHeapStatistics().used_heap_size
    if (used > this.peak) this.peak = used
  }
  growth() {
    this.sample()
    return this.peak - this.start
  }
}

const toNs = (ms: number) => Math.max(0, Math.round(ms * 1e6))

/** The mutable bookkeeping of one index while it runs. */
interface Tracking {
  readonly current: CurrentIndex["Type"]
  readonly stages: ReadonlyArray<Stage>
  /** The time of each stage, in milliseconds, by stage order. */
  readonly stageMs: Float64Array
  readonly heap: HeapPeak | undefined
}

/**
 * An identity channel placed after stage `k`. While it waits for a chunk,
 * stages 0..k run; that time accumulates in `upstreamMs[k]`, so a stage's
 * own time is the difference of neighbouring slots (chain subtraction). It
 * also tells the index context which stage holds control: `k` while
 * waiting, `k + 1` after.
 */
const boundaryAfter = <A>(
  tracking: Tracking,
  upstreamMs: Float64Array,
  k: number
): Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<A>, unknown, unknown, unknown, unknown> => {
  const upstream = tracking.stages[k]!
  const downstream = tracking.stages[k + 1]!
  const loop: Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<A>, unknown, unknown, unknown, unknown> = Channel.suspend(
    () => {
      const asked = performance.now()
      tracking.current.stage = upstream
      const settle = () => {
        upstreamMs[k]! += performance.now() - asked
        tracking.current.stage = downstream
        tracking.heap?.sample()
      }
      return Channel.readWithCause({
        onInput: (chunk: Chunk.Chunk<A>) => {
          settle()
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

/**
 * The general path: stages composed as streams, pulled by the sink, with a
 * timing boundary after the source and after each filter. Stage times are
 * filled in by chain subtraction once the sink has finished.
 */
const throughStreams = (
  pipeline: Pipeline<unknown, unknown>,
  tracking: Tracking,
  index: number
): Effect.Effect<ReadonlyArray<string>, unknown, unknown> =>
  Effect.suspend(() => {
    const started = performance.now()
    const upstreamMs = new Float64Array(tracking.stages.length - 1)
    // Filters and sinks see upstream items as a plain `Stream<A>`; upstream
    // failures still travel through it at run time and fail the index.
    let items = Stream.pipeThroughChannelOrFail(
      pipeline.source.read(index),
      boundaryAfter(tracking, upstreamMs, 0)
    ) as Stream.Stream<unknown>
    pipeline.filters.forEach((filter, i) => {
      items = Stream.pipeThroughChannelOrFail(
        filter.apply(items),
        boundaryAfter(tracking, upstreamMs, i + 1)
      ) as Stream.Stream<unknown>
    })
    // The sink holds control until it pulls: its own logs before then are its.
    tracking.current.stage = tracking.stages[tracking.stages.length - 1]!
    return pipeline.sink.write(items, index).pipe(
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
 */
const throughArrays = (
  pipeline: Pipeline<unknown, unknown>,
  tracking: Tracking,
  index: number
): Effect.Effect<ReadonlyArray<string>, unknown, unknown> | undefined => {
  const { filters, sink, source } = pipeline
  const readItems = source.items
  const writeItems = sink.writeItems
  if (readItems === undefined || writeItems === undefined || !filters.every((f) => f.itemwise !== undefined)) {
    return undefined
  }
  const { current, heap, stageMs, stages } = tracking
  const settle = (k: number, started: number) => {
    stageMs[k]! += performance.now() - started
    heap?.sample()
  }
  const timed = <A>(k: number, stage: Effect.Effect<A, unknown, unknown>) =>
    Effect.suspend(() => {
      const started = performance.now()
      current.stage = stages[k]!
      return Effect.ensuring(stage, Effect.sync(() => settle(k, started)))
    })
  const applyFilters = (
    first: number,
    items: ReadonlyArray<unknown>
  ): Effect.Effect<ReadonlyArray<unknown>, unknown, unknown> => {
    let flowing = items
    for (let i = first; i < filters.length; i++) {
      const step = filters[i]!.itemwise!
      if (step._tag === "Effect") {
        return Effect.flatMap(timed(i + 1, Effect.forEach(flowing, step.f)), (next) => applyFilters(i + 1, next))
      }
      const started = performance.now()
      current.stage = stages[i + 1]!
      const next: Array<unknown> = []
      for (const item of flowing) for (const out of step.f(item)) next.push(out)
      settle(i + 1, started)
      flowing = next
    }
    return Effect.succeed(flowing)
  }
  return timed(0, readItems(index)).pipe(
    Effect.flatMap((items) => applyFilters(0, items)),
    Effect.flatMap((items) => timed(stages.length - 1, writeItems(items, index)))
  )
}

/** The stages of a pipeline, in order: the source, each filter, the sink. */
export const stagesOf = (pipeline: Pipeline<unknown, unknown>): ReadonlyArray<Stage> => [
  { kind: "source", name: pipeline.source.name, order: 0 },
  ...pipeline.filters.map((filter, i): Stage => ({ kind: "filter", name: filter.name, order: i + 1 })),
  { kind: "sink", name: pipeline.sink.name, order: pipeline.filters.length + 1 }
]

/**
 * Runs one index through source, filters and sink, measuring wall time, the
 * time of each stage, and peak heap growth. `current` is the index's context
 * (the caller provides it as `CurrentIndex`, so logs and artifacts are
 * attributed); its stage moves along as the stages run. Failures of any
 * stage (typed errors and defects alike) become a `Failure`; interruption
 * is not a failure and propagates.
 */
export const computeIndex = <E, R>(
  pipeline: Pipeline<E, R>,
  stages: ReadonlyArray<Stage>,
  current: CurrentIndex["Type"]
): Effect.Effect<Computed<E>, never, R> =>
  Effect.suspend(() => {
    const started = performance.now()
    const index = current.index
    current.stage = stages[0]!
    const tracking: Tracking = {
      current,
      stages,
      stageMs: new Float64Array(stages.length),
      heap: pipeline.options.trackMemory ? new HeapPeak() : undefined
    }
    const paths = throughArrays(pipeline, tracking, index) ?? throughStreams(pipeline, tracking, index)
    return paths.pipe(
      Effect.exit,
      Effect.flatMap((exit): Effect.Effect<Computed<E>> => {
        const wallMs = performance.now() - started
        const peakMemoryBytes = tracking.heap === undefined ? null : tracking.heap.growth()
        if (Exit.isSuccess(exit)) {
          return Effect.succeed({
            _tag: "Success",
            paths: exit.value,
            wallTimeNs: toNs(wallMs),
            peakMemoryBytes,
            stages: stages.map((stage) => ({
              order: stage.order,
              name: stage.name,
              wallTimeNs: toNs(tracking.stageMs[stage.order]!)
            })),
            artifacts: tracking.current.artifacts
          })
        }
        if (Cause.isInterruptedOnly(exit.cause)) return Effect.interrupt
        return Effect.succeed({
          _tag: "Failure",
          message: describeFailure(exit.cause),
          cause: exit.cause as Cause.Cause<E>,
          wallTimeNs: toNs(wallMs),
          peakMemoryBytes
        })
      })
    ) as Effect.Effect<Computed<E>, never, R>
  })

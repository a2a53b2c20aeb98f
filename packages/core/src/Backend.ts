/**
 * Backends: interchangeable concurrency layers that decide where each index
 * runs. The run loop hands a backend the indices to compute and what to do
 * for each; the backend provides lanes (fibers, threads, machines) to do it.
 */
import { Context, Effect, Layer } from "effect"

/** One lane of a backend: a worker that processes one index at a time. */
export interface Lane {
  /** The worker's id, a UUID4 in hex, recorded in `workers` and on its indices and logs. */
  readonly workerId: string
}

/** The work of one run, as handed to a backend. */
export interface Work<E, R> {
  /** The indices to compute, in order; completed ones were already taken from the checkpoint. */
  readonly indices: ReadonlyArray<number>
  /** The largest number of indices that may run at once. */
  readonly concurrency: number
  /** Opens a lane: registers a worker for this run. */
  readonly openLane: Effect.Effect<Lane, E, R>
  /** Processes one index on a lane, recording its outcome. */
  readonly process: (index: number, lane: Lane) => Effect.Effect<void, E, R>
}

/** The service through which a run executes its indices. */
export class Backend extends Context.Tag("@curator/core/Backend")<Backend, {
  /** The backend's name, recorded on the run's span. */
  readonly name: string
  /** Runs every index of `work`; fails as soon as `process` fails. */
  readonly execute: <E, R>(work: Work<E, R>) => Effect.Effect<void, E, R>
}>() {}

/**
 * Runs `work` on `lanes` fibers. Each lane registers once, then takes the
 * next index from a shared cursor until none is left, so a slow index never
 * holds up the others and at most `lanes` indices are in flight.
 */
const onFiberLanes = <E, R>(work: Work<E, R>, lanes: number): Effect.Effect<void, E, R> =>
  Effect.suspend(() => {
    let cursor = 0
    const lane = work.openLane.pipe(
      Effect.flatMap((lane) =>
        Effect.whileLoop({
          while: () => cursor < work.indices.length,
          body: () => work.process(work.indices[cursor++]!, lane),
          step: () => {}
        })
      )
    )
    const count = Math.min(lanes, work.indices.length)
    return Effect.all(Array.from({ length: count }, () => lane), { concurrency: "unbounded", discard: true })
  })

/** One index after another on one fiber; `concurrency` is ignored. */
export const layerSequential: Layer.Layer<Backend> = Layer.succeed(Backend, {
  name: "sequential",
  execute: (work) => onFiberLanes(work, 1)
})

/**
 * Up to `concurrency` indices at once on fibers of one thread: good for I/O
 * bound stages, no faster for CPU-bound ones (use the worker-thread backend).
 */
export const layerFibers: Layer.Layer<Backend> = Layer.succeed(Backend, {
  name: "fibers",
  execute: (work) => onFiberLanes(work, work.concurrency)
})

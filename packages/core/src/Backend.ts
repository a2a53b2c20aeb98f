/**
 * Backends: interchangeable concurrency layers that decide where each index
 * runs. The run loop hands a backend the indices to compute and what to do
 * with each; the backend provides lanes (fibers, threads, machines) to do it.
 */
import { Context, type Duration, Effect, Layer, type LogLevel, Schema } from "effect"
import type { Reading } from "./internal/probe.js"
import type { Units } from "./internal/units.js"
import type { IndexReport } from "./internal/wire.js"

/** One lane of a backend: a worker that processes one index at a time. */
export interface Lane {
  /** The worker's id, a UUID4 in hex, recorded in `workers` and on its indices and logs. */
  readonly workerId: string
}

/** A new worker or invocation id: a random UUID4 as 32 hex digits, as the reference's `uuid4().hex`. */
export const newId = (): string => crypto.randomUUID().replaceAll("-", "")

/** A worker in another process or on another machine, as it registers for a run. */
export interface RemoteWorker {
  /** The worker's own id (a UUID4 in hex), kept on every index it computes. */
  readonly workerId: string
  readonly pid: number
  readonly hostname: string
  /** When the worker started, ISO-8601 as `Timestamp.now` writes it. */
  readonly startedAt: string
}

/** The work of one run, as handed to a backend. */
export interface Work<E, R> {
  /**
   * The configuration hash of the pipeline being run. Out-of-process
   * backends compute with the same pipeline loaded from its module, and
   * refuse to if that one has another hash.
   */
  readonly configHash: string
  /**
   * The indices to compute, in units: each unit goes to one lane, which
   * processes its indices in order (a unit has one index unless the source
   * or sink partitions them). Completed indices were already taken from the
   * checkpoint.
   */
  readonly units: Units
  /** The largest number of indices that may run at once. */
  readonly concurrency: number
  /**
   * True once the run was asked to stop gracefully: a lane takes no new
   * unit, and finishes (and records) the indices it has already started.
   */
  readonly stopRequested: () => boolean
  /** Completes when a graceful stop is asked for (never, if none is): for backends that must pass it on at once. */
  readonly stopped: Effect.Effect<void>
  /** The lowest level of logs to capture, for backends that capture them where they compute. */
  readonly logLevel: LogLevel.Literal
  /**
   * The per-index timeout, for backends whose indices may block their
   * thread so that it cannot time itself out: past `millis` of one attempt
   * (plus a grace), the backend stops the thread and records `message`.
   */
  readonly indexTimeout?: {
    readonly millis: number
    readonly message: (index: number, stageOrder: number) => string
  } | undefined
  /**
   * The run's error budget (a count of failures), for backends whose
   * workers run ahead of the parent's records: they stop claiming indices
   * once that many failed, as on a graceful stop.
   */
  readonly failureBudget?: number | undefined
  /**
   * For backends whose workers can be lost in the middle of an index (a
   * thread that died, or was terminated past `indexTimeout`): whether the
   * index is tried again in the run, on the worker that replaces the lost
   * one. Given the lost attempt's report and the index's attempts so far, it
   * logs the retry, waits the policy's delay and answers true; false: record
   * the report. Absent: a lost index is recorded as it is.
   */
  readonly retryLost?: ((index: number, attempts: number, report: IndexReport) => Effect.Effect<boolean>) | undefined
  /**
   * How often the run reads the progress of indices in flight (heartbeats,
   * the stall watchdog); undefined when it does not. For backends that must
   * fetch that progress from elsewhere (another machine), how often to.
   */
  readonly progressInterval?: Duration.Duration | undefined
  /** Whether the run resumes, for backends that compute elsewhere (see `Remote.ComputeRequest`). */
  readonly resume?: boolean | undefined
  /** What the run records of each output, for backends that compute elsewhere (see `Remote.ComputeRequest`). */
  readonly measureOutputs?: "size" | "content" | undefined
  /** Opens a lane: registers a worker of this process for this run. */
  readonly openLane: Effect.Effect<Lane, E, R>
  /**
   * Opens a lane for a worker of another process or machine: registers it
   * for this run with its own id, pid and hostname. Call it once per worker.
   */
  readonly openRemoteLane: (worker: RemoteWorker) => Effect.Effect<Lane, E, R>
  /** Computes one index in this process on a lane, and records its outcome. */
  readonly process: (index: number, lane: Lane) => Effect.Effect<void, E, R>
  /**
   * Records the outcome of an index that `report` computes elsewhere
   * (another thread or machine); `report` is awaited after the index is
   * marked started, so a lane's heartbeat shows it while it runs.
   */
  readonly processElsewhere: (
    index: number,
    lane: Lane,
    report: Effect.Effect<IndexReport>,
    /** How far the index got, as the other side shares it (items, stage), for heartbeats and the stall watchdog. */
    progress?: () => Reading | undefined,
    /**
     * How to give the index up where it runs (a backend that can: worker
     * threads terminate the thread), when the stall watchdog does so
     * (`onStall: "interrupt"`): `report` then ends with a failure carrying
     * `message`. Absent: a stalled index is only warned about.
     */
    stop?: (message: string) => void
  ) => Effect.Effect<void, E, R>
}

/**
 * A backend could not run the work at all (its workers failed to start, or
 * they load a different pipeline); raised before any index is processed.
 */
export class BackendError extends Schema.TaggedError<BackendError>()("BackendError", {
  backend: Schema.String,
  message: Schema.String
}) {}

/** The service through which a run executes its indices. */
export class Backend extends Context.Tag("@curator/core/Backend")<Backend, {
  /** The backend's name, recorded on the run's span and shown by progress displays. */
  readonly name: string
  /** Runs every index of `work`; fails as soon as processing an index fails (with `failFast`). */
  readonly execute: <E, R>(work: Work<E, R>) => Effect.Effect<void, E | BackendError, R>
}>() {}

/**
 * Marks a backend that computes indices in this process, where a
 * pipeline's services can come from the caller's context. The worker-thread
 * and cluster backends do not provide it, so running a pipeline that still
 * needs services (`R` not `never`) on them does not compile: give the
 * pipeline its layer with `Pipeline.provide` first.
 */
export class LocalBackend extends Context.Tag("@curator/core/LocalBackend")<LocalBackend, {
  readonly name: string
}>() {}

/**
 * Runs `work` on up to `lanes` lanes. Each lane opens once, then takes the
 * next unit from a shared cursor until none is left, so a slow unit never
 * holds up the others and at most `lanes` indices are in flight.
 * `processUnitIndex` does one index on a lane (in process, or elsewhere).
 */
export const onLanes = <E, R, L extends Lane>(
  work: Work<E, R>,
  lanes: number,
  openLane: Effect.Effect<L, E, R>,
  processUnitIndex: (index: number, lane: L) => Effect.Effect<void, E, R>
): Effect.Effect<void, E, R> =>
  Effect.suspend(() => {
    let cursor = 0
    const { units } = work
    const lane = Effect.flatMap(openLane, (lane) =>
      Effect.whileLoop({
        while: () => cursor < units.count && !work.stopRequested(),
        body: () => {
          const indices = units.indicesOf(cursor++)
          // Most units are one index: no loop to build for it.
          return indices.length === 1
            ? processUnitIndex(indices[0]!, lane)
            : Effect.forEach(indices, (index) => processUnitIndex(index, lane), { discard: true })
        },
        step: () => {}
      }))
    const count = Math.min(lanes, units.count)
    return Effect.all(Array.from({ length: count }, () => lane), { concurrency: "unbounded", discard: true })
  })

const local = (name: string, lanes: (work: Work<any, any>) => number): Layer.Layer<Backend | LocalBackend> =>
  Layer.merge(
    Layer.succeed(Backend, { name, execute: (work) => onLanes(work, lanes(work), work.openLane, work.process) }),
    Layer.succeed(LocalBackend, { name })
  )

/** One index after another on one fiber; `concurrency` is ignored. */
export const layerSequential: Layer.Layer<Backend | LocalBackend> = local("sequential", () => 1)

/**
 * Up to `concurrency` indices at once on fibers of one thread: good for I/O
 * bound stages, no faster for CPU-bound ones (use the worker-thread backend).
 */
export const layerFibers: Layer.Layer<Backend | LocalBackend> = local("fibers", (work) => work.concurrency)

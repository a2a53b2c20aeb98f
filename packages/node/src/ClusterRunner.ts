/**
 * A runner of the cluster backend: a process that loads the pipeline from
 * its module once, joins the cluster (its state in PostgreSQL) and computes
 * the batches of indices it receives on its own local backend — fibers or
 * worker threads — one batch at a time. It sends each index's report back to
 * the submitting process, which records it: runners never write checkpoints.
 *
 * @example
 * // on each machine; or: curator runner pipeline.ts --postgres URL --host node-2
 * Layer.launch(ClusterRunner.layer({ module: "pipeline.ts", postgres: url, host: "node-2" })).pipe(
 *   Effect.provide(Backend.layerFibers),
 *   NodeRuntime.runMain
 * )
 */
import { Backend, Host, Timestamp } from "@curator/core"
import * as Remote from "@curator/core/Remote"
import { Cause, Deferred, Effect, FiberId, Layer, Redacted, type Scope } from "effect"
import { hostname } from "node:os"
import * as Connection from "./internal/clusterConnection.js"
import { type Batch, type BatchProgress, type ComputedIndex, IndexBatch, type RemoteWorker, RunnerRefused } from "./internal/clusterProtocol.js"
import * as NodeHost from "./NodeHost.js"
import * as PipelineModule from "./PipelineModule.js"

/** The pipeline a runner serves, where the cluster lives, and where this runner listens. */
export interface Options extends PipelineModule.Reference {
  /** The PostgreSQL database holding the cluster's messages and runners (the same for every process). */
  readonly postgres: string | Redacted.Redacted<string>
  /** The host name or address other processes reach this runner at (default: the machine's host name). */
  readonly host?: string | undefined
  /** The TCP port this runner listens on (default 34431). */
  readonly port?: number | undefined
  /** How many indices of a batch run at once on this runner (default 1). */
  readonly concurrency?: number | undefined
}

/** The port a runner listens on unless told otherwise. */
export const defaultPort = 34431

/** What a runner keeps of one run call across its batches. */
interface Call {
  /** The k-th lane of every batch is the same worker. */
  readonly workers: Array<typeof RemoteWorker.Type>
  /** Indices of the call this runner computed that failed, against the run's error budget. */
  failures: number
  /** The submitter stopped the run gracefully (`Stop`); `stopped` completes then, for backends that wait on it. */
  stopping: boolean
  readonly stopped: Deferred.Deferred<void>
}

/**
 * An index this runner computes now: its worker, how to read how far it
 * got, and what the last poll read and since when (`Date.now()`) it has
 * been so, for the submitter's stall watchdog.
 */
interface InFlight {
  readonly index: number
  readonly worker: typeof RemoteWorker.Type
  readonly read: () => Remote.Reading | undefined
  last: Remote.Reading | undefined
  since: number
}

/**
 * Computes batches on the local backend, one at a time, and reports each
 * index. The workers of one run call keep their ids from batch to batch, so
 * that the run registers each of them once. The local backend watches the
 * pipeline's per-index timeout (worker threads stop a thread stuck past
 * it), and the run's error budget is counted over the call's batches. A
 * stopped call starts no new index, here or in any of its later batches.
 * The indices in flight of the batch being computed are kept with their
 * probes (or, on worker threads, the backend's reader of shared memory), so
 * that `progress` answers the submitter's polls.
 */
const makeCompute = (
  pipeline: PipelineModule.Loaded,
  backend: Backend.Backend["Type"],
  concurrency: number
): Effect.Effect<{
  readonly compute: (payload: Batch) => Effect.Effect<ReadonlyArray<typeof ComputedIndex.Type>, RunnerRefused>
  readonly stop: (invocationId: string) => Effect.Effect<void>
  readonly progress: (batchId: string) => Effect.Effect<typeof BatchProgress.Type>
}, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const oneBatch = yield* Effect.makeSemaphore(1)
    const host = yield* Host.Host
    // The pipeline's services live as long as the runner.
    const computeIndex = yield* Remote.makeIndexServer(pipeline)
    const indexTimeout = Remote.indexTimeoutOf(pipeline)
    const calls = new Map<string, Call>()
    const callOf = (invocationId: string): Call => {
      const call = calls.get(invocationId) ?? { workers: [], failures: 0, stopping: false, stopped: Deferred.unsafeMake<void>(FiberId.none) }
      calls.set(invocationId, call)
      return call
    }

    // Not behind the batches' permit: it reaches the batch in flight.
    const stop = (invocationId: string) =>
      Effect.suspend(() => {
        const call = callOf(invocationId)
        call.stopping = true
        return Effect.asVoid(Deferred.succeed(call.stopped, undefined))
      })

    // The batch being computed (one at a time), lane by lane; a lane's probe is reused for each of its indices.
    const running = new Map<string, Map<string, InFlight>>()
    const probes = new Map<string, ReturnType<typeof Remote.makeProbe>>()
    const probeOf = (workerId: string) => {
      let probe = probes.get(workerId)
      if (probe === undefined) probes.set(workerId, probe = Remote.makeProbe())
      probe.reset()
      return probe
    }

    // Not behind the batches' permit either: it answers while the batch runs.
    const progress = (batchId: string) =>
      Effect.sync((): typeof BatchProgress.Type => {
        const lanes = running.get(batchId)
        if (lanes === undefined) return { running: false, indices: [] }
        const indices: Array<typeof BatchProgress.Type["indices"][number]> = []
        const now = Date.now()
        for (const entry of lanes.values()) {
          const reading = entry.read()
          if (reading === undefined) continue
          if (entry.last !== undefined && (reading.items !== entry.last.items || reading.stage !== entry.last.stage)) {
            entry.since = now
          }
          entry.last = reading
          indices.push({ index: entry.index, worker: entry.worker, items: reading.items, stage: reading.stage, quietMs: now - entry.since })
        }
        return { running: true, indices }
      })

    const compute = (payload: Batch): Effect.Effect<ReadonlyArray<typeof ComputedIndex.Type>, RunnerRefused> =>
      oneBatch.withPermits(1)(Effect.gen(function*() {
        if (payload.configHash !== pipeline.configHash) {
          return yield* new RunnerRefused({
            message: `the runner on ${host.hostname} (pid ${host.pid}) serves a pipeline with configuration hash ${
              pipeline.configHash.slice(0, 16)
            }, but the run submits ${payload.configHash.slice(0, 16)}; start every runner with the module of the run`
          })
        }
        const call = callOf(payload.invocationId)
        const { workers } = call
        const budget = payload.failureBudget
        const stopRequested = () => call.stopping || (budget !== undefined && call.failures >= budget)
        // Stopped, or the budget was reached here: the rest of the call's indices are not run (the submitter reports them NotRun).
        if (stopRequested()) return []
        const workerOf = new Map<string, typeof RemoteWorker.Type>()
        let opened = 0
        // The k-th lane of every batch is the same worker; a lane opened
        // again (a worker thread replaced) is a new one.
        const openLane = Effect.gen(function*() {
          const k = opened++
          workers[k] ??= { workerId: Backend.newId(), pid: host.pid, hostname: host.hostname, startedAt: yield* Timestamp.now }
          workerOf.set(workers[k].workerId, workers[k])
          return { workerId: workers[k].workerId }
        })
        const computed: Array<typeof ComputedIndex.Type> = []
        const keep = (index: number, lane: Backend.Lane) => (report: Remote.IndexReport) =>
          Effect.sync(() => {
            if (report._tag === "Failure") call.failures++
            computed.push({ index, worker: workerOf.get(lane.workerId)!, report })
          })
        const inFlight = new Map<string, InFlight>()
        running.set(payload.batchId, inFlight)
        /** The index runs on `lane` until `computation` ends: the submitter's polls see it. */
        const watched = <A, E>(index: number, lane: Backend.Lane, read: InFlight["read"], computation: Effect.Effect<A, E>) =>
          Effect.suspend(() => {
            inFlight.set(lane.workerId, { index, worker: workerOf.get(lane.workerId)!, read, last: undefined, since: Date.now() })
            return Effect.ensuring(computation, Effect.sync(() => inFlight.delete(lane.workerId)))
          })
        yield* backend.execute<never, never>({
          configHash: pipeline.configHash,
          units: Remote.fromGroups(payload.units),
          concurrency,
          logLevel: payload.logLevel,
          resume: payload.resume,
          measureOutputs: payload.measureOutputs,
          indexTimeout,
          // Threads count the batch's failures themselves: what is left of the budget.
          failureBudget: budget === undefined ? undefined : budget - call.failures,
          stopRequested,
          stopped: Deferred.await(call.stopped),
          openLane,
          // A runner's own backend computes here or in its threads, never on other machines.
          openRemoteLane: (worker) => Effect.succeed({ workerId: worker.workerId }),
          process: (index, lane) =>
            Effect.suspend(() => {
              const probe = probeOf(lane.workerId)
              return watched(
                index,
                lane,
                probe.read,
                computeIndex({
                  index,
                  workerId: lane.workerId,
                  logLevel: payload.logLevel,
                  tracing: payload.tracing,
                  resume: payload.resume,
                  measureOutputs: payload.measureOutputs,
                  probe
                })
              )
            }).pipe(Effect.flatMap(keep(index, lane))),
          // On worker threads: the thread's probe, read from shared memory.
          processElsewhere: (index, lane, report, read) =>
            Effect.flatMap(watched(index, lane, read ?? (() => undefined), report), keep(index, lane))
        }).pipe(
          Effect.catchTag("BackendError", (error) => Effect.fail(new RunnerRefused({ message: error.message }))),
          Effect.ensuring(Effect.sync(() => running.delete(payload.batchId)))
        )
        return computed
      }))

    return { compute, stop, progress }
  })

/**
 * Joins the cluster as a runner and serves batches until the layer is
 * released. A module that cannot be loaded fails here, before joining.
 */
export const layer = (
  options: Options
): Layer.Layer<never, PipelineModule.PipelineModuleError | Backend.BackendError, Backend.Backend> => {
  const url = Redacted.isRedacted(options.postgres) ? options.postgres : Redacted.make(options.postgres)
  const address = { host: options.host ?? hostname(), port: options.port ?? defaultPort }
  return Layer.unwrapScoped(Effect.gen(function*() {
    const pipeline = yield* PipelineModule.load(options)
    const batches = yield* makeCompute(pipeline, yield* Backend.Backend, options.concurrency ?? 1).pipe(
      Effect.catchAllCause((cause) =>
        Effect.fail(new Backend.BackendError({ backend: "cluster", message: `building the pipeline's services failed: ${Cause.pretty(cause)}` }))
      )
    )
    // Any number of messages at once: a batch's Stop must not wait for its Compute.
    return IndexBatch.toLayer({
      Compute: ({ payload }) => batches.compute(payload),
      Stop: ({ payload }) => batches.stop(payload.invocationId),
      Progress: ({ payload }) => batches.progress(payload.batchId)
    }, { concurrency: "unbounded" }).pipe(
      Layer.provide(Connection.runner(url, address))
    )
  })).pipe(Layer.provide(NodeHost.platform)) // host facts and files: stateful filters write their shards from here
}

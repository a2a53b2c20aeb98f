/**
 * The worker-thread backend: real CPU parallelism. A pool of worker threads
 * is started with the layer; each thread loads the pipeline from its module
 * once (functions cannot cross threads) and then computes the indices it is
 * sent. The parent decides what runs (completed indices never leave it) and
 * is the only writer of the checkpoint: a thread sends back a report of each
 * index — paths, timings, heap growth, artifacts and the logs captured in
 * the thread — which the parent records exactly as for the fibers backend.
 *
 * @example
 * Pipeline.run(pipeline, { concurrency: 2 }).pipe(
 *   Effect.provide(WorkerBackend.layer({ module: "./pipelines/meshes.ts" })),
 *   Effect.provide(SqliteCheckpointStore.layer())
 * )
 */
import { Backend, IndexReport } from "@curator/core"
import * as Worker from "@effect/platform/Worker"
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import { Effect, Either, Exit, Layer, Option, ParseResult, Queue, Scope, Stream } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import { dirname, join } from "node:path"
import { pathToFileURL } from "node:url"
import * as WT from "node:worker_threads"
import { ComputeIndices, Prepare, type WorkerRequest } from "./internal/workerProtocol.js"
import * as PipelineModule from "./PipelineModule.js"

/** Where the worker threads find the pipeline, how many there are, and how they are limited. */
export interface Options extends PipelineModule.Reference {
  /** Threads in the pool (default: one per CPU). A run uses at most its `concurrency` of them. */
  readonly threads?: number | undefined
  /** Per-thread V8 limits (e.g. `maxOldGenerationSizeMb`); a thread that exceeds them dies and is replaced. */
  readonly resourceLimits?: WT.ResourceLimits | undefined
}

const entry = new URL(import.meta.url.endsWith(".ts") ? "./internal/workerMain.ts" : "./internal/workerMain.js", import.meta.url)

/**
 * The code a thread starts with: running from TypeScript sources, it first
 * registers `tsx` (its ESM API, located through tsx's own exports map) and
 * resolves packages from source; compiled, it imports the entry directly.
 */
const bootstrap = (): { readonly code: string; readonly execArgv: ReadonlyArray<string> } => {
  if (!entry.pathname.endsWith(".ts")) return { code: `import(${JSON.stringify(entry.href)})`, execArgv: [] }
  const require = createRequire(import.meta.url)
  const tsxRoot = dirname(require.resolve("tsx/package.json"))
  const exportsMap = JSON.parse(fs.readFileSync(join(tsxRoot, "package.json"), "utf8")).exports
  const tsxApi = pathToFileURL(join(tsxRoot, exportsMap["./esm/api"].import.default)).href
  return {
    code: `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}) })`,
    execArgv: ["--conditions=@curator/source"]
  }
}

/** Why a worker thread stopped answering, for the failed index's record. */
const describeDeath = (index: number, error: unknown): string => {
  // The thread's death arrives as a WorkerError that the serialized worker
  // tried to decode as the request's failure (never), i.e. inside a ParseError.
  const workerError = ParseResult.isParseError(error) ? error.issue.actual : error
  const cause = (workerError as { readonly cause?: unknown } | undefined)?.cause
  const detail = cause instanceof Error ? cause.message : String(cause ?? workerError)
  return `WorkerDied: the worker thread died while processing index ${index} (${detail}); it was replaced`
}

/**
 * How many indices to send a thread at once: enough that one request covers
 * about 5 ms of work (a round trip to a thread costs more than a tiny index),
 * one at a time for slow indices, at most 64 so work stays evenly spread.
 */
class Pace {
  private meanMs = Number.NaN
  observe(wallTimeNs: number) {
    const ms = wallTimeNs / 1e6
    this.meanMs = Number.isNaN(this.meanMs) ? ms : 0.8 * this.meanMs + 0.2 * ms
  }
  batchSize() {
    if (Number.isNaN(this.meanMs)) return 1
    return Math.max(1, Math.min(64, Math.floor(5 / Math.max(this.meanMs, 0.001))))
  }
}

/** A started thread with its pipeline loaded. */
interface Thread {
  readonly worker: Worker.SerializedWorker<WorkerRequest>
  readonly configHash: string
  readonly scope: Scope.CloseableScope
}

const backendError = (message: string) => new Backend.BackendError({ backend: "workers", message })

/**
 * Starts one thread and has it load the pipeline module; the thread lives
 * until its scope closes (gracefully on success, terminated at once on
 * failure or interruption).
 */
const startThread = (options: Options): Effect.Effect<Thread, Backend.BackendError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const { code, execArgv } = bootstrap()
      const scope = yield* Scope.make()
      let raw: WT.Worker | undefined
      const terminate = Effect.promise(() => raw?.terminate() ?? Promise.resolve(undefined))
      const spawn = () =>
        (raw = new WT.Worker(code, {
          eval: true,
          execArgv: [...execArgv],
          ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits })
        }))
      return yield* restore(Effect.gen(function*() {
        const worker = yield* Worker.makeSerialized<WorkerRequest>({}).pipe(
          Effect.provide(NodeWorker.layer(spawn)),
          Scope.extend(scope),
          Effect.mapError((error) => backendError(`a worker thread failed to start: ${error.message}`))
        )
        // Runs before the graceful close registered above: on interruption or
        // failure, a busy thread is stopped at once instead of asked to finish.
        yield* Scope.addFinalizerExit(scope, (exit) => Exit.isFailure(exit) ? terminate : Effect.void)
        const loaded = yield* worker.executeEffect(
          new Prepare({ module: PipelineModule.modulePath(options), exportName: options.exportName })
        ).pipe(Effect.mapError((error) => backendError(error.message)))
        return { worker, configHash: loaded.configHash, scope }
      })).pipe(
        // A thread that failed to load, or whose start was interrupted (e.g.
        // a sibling failed), is stopped at once rather than left running.
        Effect.onError((cause) => Effect.zipRight(terminate, Scope.close(scope, Exit.failCause(cause))))
      )
    })
  )

/**
 * Builds the pool: starts its threads (in parallel) and loads the pipeline
 * in each, so a missing module, a missing export or an export that is not a
 * pipeline fails here, before any run. Threads are stopped when the scope
 * closes.
 */
export const make = (options: Options): Effect.Effect<Backend.Backend["Type"], Backend.BackendError, Scope.Scope> =>
  Effect.gen(function*() {
    const size = options.threads ?? availableParallelism()
    const idle = yield* Queue.unbounded<Thread>()
    /** Threads stopped in the middle of a failed or interrupted run; started again when next needed. */
    let missing = 0
    // Threads are taken out and put back by runs; close whichever are idle at
    // the end (also those already started if another one fails to start).
    yield* Effect.addFinalizer((exit) =>
      Effect.flatMap(Queue.takeAll(idle), (left) => Effect.forEach(left, (t) => Scope.close(t.scope, exit), { discard: true }))
    )
    yield* Effect.all(
      Array.from({ length: size }, () => Effect.flatMap(startThread(options), (thread) => Queue.offer(idle, thread))),
      { concurrency: "unbounded", discard: true }
    )

    /** Starts a thread in place of one that was stopped. */
    const replacement = Effect.suspend(() => {
      missing--
      return Effect.onError(startThread(options), () => Effect.sync(() => missing++))
    })

    /** An idle thread, or a new one in place of a stopped thread, or the next thread put back. */
    const takeThread = Effect.flatMap(
      Queue.poll(idle),
      Option.match({ onSome: Effect.succeed, onNone: () => (missing > 0 ? replacement : Queue.take(idle)) })
    )

    const execute = <E, R>(work: Backend.Work<E, R>): Effect.Effect<void, E | Backend.BackendError, R> =>
      Effect.gen(function*() {
        let cursor = 0
        /** The next indices for a lane: whole units, about `size` indices at most; none once the run is stopping. */
        const takeBatch = (size: number): Array<number> => {
          const batch: Array<number> = []
          if (work.stopRequested()) return batch
          while (cursor < work.units.length && (batch.length === 0 || batch.length + work.units[cursor]!.length <= size)) {
            batch.push(...work.units[cursor++]!)
          }
          return batch
        }

        /** One lane: a thread from the pool, registered as a worker of this run. */
        const runLane = Effect.gen(function*() {
          let thread: Thread | undefined = yield* takeThread
          /** Whether the thread may still be computing indices of this lane. */
          let busy = false
          // A thread that finished its work goes back to the pool; one stopped
          // mid-batch (a failed or interrupted run) is terminated, and replaced
          // when a run next needs it.
          yield* Effect.addFinalizer((exit) => {
            if (thread === undefined) return Effect.void
            if (Exit.isSuccess(exit) || !busy) return Queue.offer(idle, thread)
            missing++
            return Scope.close(thread.scope, exit)
          })
          if (thread.configHash !== work.pipeline.configHash) {
            return yield* backendError(
              `the worker threads load a pipeline with configuration hash ${thread.configHash.slice(0, 16)} from ${
                PipelineModule.modulePath(options)
              }, but the run's pipeline has ${
                work.pipeline.configHash.slice(0, 16)
              }; run the pipeline that module exports (and build it the same way in every process)`
            )
          }
          let lane = yield* work.openLane
          const pace = new Pace()
          let batch = takeBatch(1)
          while (batch.length > 0) {
            busy = true
            const left = yield* runBatch(thread!, lane, batch, pace)
            busy = false
            if (left === undefined) {
              batch = takeBatch(pace.batchSize())
              continue
            }
            // The thread died: the index in flight is recorded as failed; the
            // replacement (a new worker of this run) takes the rest of the batch,
            // or the next batch if the death ended it.
            const dead = thread!
            thread = undefined
            missing++
            yield* Scope.close(dead.scope, Exit.void)
            thread = yield* replacement
            lane = yield* work.openLane
            batch = left.length > 0 && !work.stopRequested() ? left : takeBatch(pace.batchSize())
          }
        }).pipe(Effect.scoped)

        /**
         * Sends a batch to a thread and records each report as it arrives.
         * Returns the indices not attempted if the thread died, else undefined.
         */
        const runBatch = (thread: Thread, lane: Backend.Lane, batch: ReadonlyArray<number>, pace: Pace) =>
          Effect.gen(function*() {
            // Reports in order, or the thread's death, which ends the batch.
            const arrivals = yield* Queue.unbounded<Either.Either<IndexReport.IndexReport, unknown>>()
            yield* thread.worker.execute(new ComputeIndices({ indices: batch, workerId: lane.workerId, logLevel: work.logLevel })).pipe(
              Stream.runForEach((report) => Queue.offer(arrivals, Either.right(report))),
              Effect.catchAll((error) => Queue.offer(arrivals, Either.left(error))),
              Effect.forkScoped
            )
            for (let k = 0; k < batch.length; k++) {
              const index = batch[k]!
              const started = performance.now()
              let died = false
              const report = Effect.map(Queue.take(arrivals), (arrival) => {
                if (Either.isRight(arrival)) return arrival.right
                died = true
                return new IndexReport.Failure({
                  message: describeDeath(index, arrival.left),
                  wallTimeNs: Math.round((performance.now() - started) * 1e6),
                  peakMemoryBytes: null,
                  logs: []
                })
              })
              yield* work.processElsewhere(index, lane, Effect.tap(report, (r) => Effect.sync(() => pace.observe(r.wallTimeNs))))
              if (died) return batch.slice(k + 1)
            }
            return undefined
          }).pipe(Effect.scoped)

        const lanes = Math.min(work.concurrency, size, work.units.length)
        yield* Effect.all(Array.from({ length: lanes }, () => runLane), { concurrency: "unbounded", discard: true })
      })

    return { name: "workers", execute }
  })

/** A pool of worker threads loading `options.module`, started with the layer. */
export const layer = (options: Options): Layer.Layer<Backend.Backend, Backend.BackendError> =>
  Layer.scoped(Backend.Backend, make(options))

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
import { Effect, Exit, Layer, Queue, Scope } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import { dirname, join } from "node:path"
import { pathToFileURL } from "node:url"
import * as WT from "node:worker_threads"
import { ComputeIndex, Prepare, type WorkerRequest } from "./internal/workerProtocol.js"
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
  const cause = (error as { readonly cause?: unknown }).cause
  const detail = cause instanceof Error ? cause.message : String(cause ?? error)
  return `WorkerDied: the worker thread died while processing index ${index} (${detail}); it was replaced`
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
  Effect.gen(function*() {
    const { code, execArgv } = bootstrap()
    const scope = yield* Scope.make()
    let raw: WT.Worker | undefined
    const spawn = () =>
      (raw = new WT.Worker(code, {
        eval: true,
        execArgv: [...execArgv],
        ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits })
      }))
    const worker = yield* Worker.makeSerialized<WorkerRequest>({}).pipe(
      Effect.provide(NodeWorker.layer(spawn)),
      Scope.extend(scope),
      Effect.mapError((error) => backendError(`a worker thread failed to start: ${error.message}`))
    )
    // Runs before the graceful close registered above: on interruption or
    // failure, a busy thread is stopped at once instead of asked to finish.
    yield* Scope.addFinalizerExit(scope, (exit) =>
      Exit.isFailure(exit) && raw !== undefined ? Effect.promise(() => raw!.terminate()) : Effect.void)
    const loaded = yield* worker.executeEffect(
      new Prepare({ module: PipelineModule.modulePath(options), exportName: options.exportName })
    ).pipe(
      Effect.mapError((error) => backendError(error.message)),
      Effect.tapError(() => Scope.close(scope, Exit.void))
    )
    return { worker, configHash: loaded.configHash, scope }
  })

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
    const threads = yield* Effect.all(Array.from({ length: size }, () => startThread(options)), { concurrency: "unbounded" })
    yield* Queue.offerAll(idle, threads)
    // Threads are taken out and put back by runs; close whichever are idle at the end.
    yield* Effect.addFinalizer((exit) =>
      Effect.flatMap(Queue.takeAll(idle), (left) => Effect.forEach(left, (t) => Scope.close(t.scope, exit), { discard: true }))
    )

    const execute = <E, R>(work: Backend.Work<E, R>): Effect.Effect<void, E | Backend.BackendError, R> =>
      Effect.gen(function*() {
        let cursor = 0
        /** One lane: a thread from the pool, registered as a worker of this run. */
        const runLane = Effect.gen(function*() {
          let thread: Thread | undefined = yield* Queue.take(idle)
          yield* Effect.addFinalizer((exit) =>
            thread === undefined ? Effect.void : Exit.isSuccess(exit) ? Queue.offer(idle, thread) : Scope.close(thread.scope, exit)
          )
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
          while (cursor < work.units.length) {
            for (const index of work.units[cursor++]!) {
              const { worker } = thread!
              let died = false
              const started = performance.now()
              const report = worker.executeEffect(
                new ComputeIndex({ index, workerId: lane.workerId, logLevel: work.logLevel })
              ).pipe(
                Effect.catchAll((error) => {
                  died = true
                  return Effect.succeed(
                    new IndexReport.Failure({
                      message: describeDeath(index, error),
                      wallTimeNs: Math.round((performance.now() - started) * 1e6),
                      peakMemoryBytes: null,
                      logs: []
                    })
                  )
                })
              )
              yield* work.processElsewhere(index, lane, report)
              if (died) {
                // The dead thread's replacement is a new worker of this run.
                const dead = thread!
                thread = undefined
                yield* Scope.close(dead.scope, Exit.void)
                thread = yield* startThread(options)
                lane = yield* work.openLane
              }
            }
          }
        }).pipe(Effect.scoped)

        const lanes = Math.min(work.concurrency, size, work.units.length)
        yield* Effect.all(Array.from({ length: lanes }, () => runLane), { concurrency: "unbounded", discard: true })
      })

    return { name: "workers", execute }
  })

/** A pool of worker threads loading `options.module`, started with the layer. */
export const layer = (options: Options): Layer.Layer<Backend.Backend, Backend.BackendError> =>
  Layer.scoped(Backend.Backend, make(options))

/**
 * The worker-thread backend: real CPU parallelism. A pool of worker threads
 * is started with the layer; each thread loads the pipeline from its module
 * once (functions cannot cross threads). In a run, each thread serves a
 * lane: it claims the next unit itself from memory shared with the parent
 * (internal/sharedUnits.ts), so it never waits for the parent between
 * indices. The parent decides what runs (completed indices are never
 * shared) and is the only writer of the checkpoint: a thread tells it when
 * an index starts and sends back a report when it ends — paths, timings,
 * heap growth, artifacts and the logs captured in the thread — which the
 * parent records exactly as for the fibers backend.
 *
 * @example
 * Pipeline.run(pipeline, { concurrency: 2 }).pipe(
 *   Effect.provide(WorkerBackend.layer({ module: "./pipelines/meshes.ts" })),
 *   Effect.provide(SqliteCheckpointStore.layer())
 * )
 */
import { Backend } from "@curator/core"
import * as Remote from "@curator/core/Remote"
import * as Worker from "@effect/platform/Worker"
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import { Deferred, Duration, Effect, Either, Exit, Layer, Option, ParseResult, Queue, Scope, Stream } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as WT from "node:worker_threads"
import * as ModuleImport from "./internal/moduleImport.js"
import * as SharedUnits from "./internal/sharedUnits.js"
import * as Transpiled from "./internal/transpiledModules.js"
import { LaneStep, Prepare, ServeLane, type WorkerRequest } from "./internal/workerProtocol.js"
import * as PipelineModule from "./PipelineModule.js"

/** Where the worker threads find the pipeline, how many there are, and how they are limited. */
export interface Options extends PipelineModule.Reference {
  /** Threads in the pool (default: one per CPU). A run uses at most its `concurrency` of them. */
  readonly threads?: number | undefined
  /** Per-thread V8 limits (e.g. `maxOldGenerationSizeMb`); a thread that exceeds them dies and is replaced. */
  readonly resourceLimits?: WT.ResourceLimits | undefined
}

const entry = new URL(import.meta.url.endsWith(".ts") ? "./internal/workerMain.ts" : "./internal/workerMain.js", import.meta.url)

/** How a thread starts: the code it evaluates, its flags, and what it reads from `workerData`. */
interface Bootstrap {
  readonly code: string
  readonly execArgv: ReadonlyArray<string>
  readonly workerData: Record<string, ModuleImport.WorkerHook>
}

/**
 * The code a thread starts with, prepared once per pool: it registers the
 * module hook (internal/moduleImport.ts), which serves the TypeScript the
 * pool transpiled once — Curator's own sources when running from them, and
 * a TypeScript pipeline module — then imports the entry. Running from
 * sources, packages resolve to their sources; when nothing could be
 * transpiled there, tsx is registered first (its ESM API, located through
 * tsx's own exports map), as before.
 */
const bootstrap = (options: Options): Effect.Effect<Bootstrap> =>
  Effect.promise(async () => {
    const fromSources = entry.pathname.endsWith(".ts")
    const transpiled = await Transpiled.transpile(
      [fileURLToPath(entry), PipelineModule.modulePath(options)],
      fromSources ? ["@curator/source"] : [],
      dirname(fileURLToPath(import.meta.url))
    )
    const entryTranspiled = fromSources && transpiled?.sources[entry.href] !== undefined
    const hook = ModuleImport.workerHook(transpiled, entryTranspiled)
    const workerData = { [ModuleImport.workerDataKey]: hook }
    const importEntry = `import(${JSON.stringify(entry.href)})`
    if (!fromSources) return { code: importEntry, execArgv: [], workerData }
    const execArgv = ["--conditions=@curator/source"]
    if (entryTranspiled) {
      const key = JSON.stringify(ModuleImport.workerDataKey)
      const registerHook = `import("node:module").then((m) => import("node:worker_threads").then((wt) => {
        const hook = wt.workerData[${key}]
        m.register(hook.url, { data: hook.data })
      }))`
      return { code: `${registerHook}.then(() => ${importEntry})`, execArgv, workerData }
    }
    const require = createRequire(import.meta.url)
    const tsxRoot = dirname(require.resolve("tsx/package.json"))
    const exportsMap = JSON.parse(fs.readFileSync(join(tsxRoot, "package.json"), "utf8")).exports
    const tsxApi = pathToFileURL(join(tsxRoot, exportsMap["./esm/api"].import.default)).href
    return {
      code: `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return ${importEntry} })`,
      execArgv,
      workerData
    }
  })

/** Why a worker thread stopped answering, for the failed index's record. */
const describeDeath = (index: number, error: unknown): string => {
  // The thread's death arrives as a WorkerError that the serialized worker
  // tried to decode as the request's failure (never), i.e. inside a ParseError.
  const workerError = ParseResult.isParseError(error) ? error.issue.actual : error
  const cause = (workerError as { readonly cause?: unknown } | undefined)?.cause
  const detail = cause instanceof Error ? cause.message : String(cause ?? workerError)
  return `WorkerDied: the worker thread died while processing index ${index} (${detail}); it was replaced`
}

/** The report with the attempts of every thread the index ran on. */
const withAttempts = (report: Remote.IndexReport, attempts: number): Remote.IndexReport => {
  if (report._tag === "Success") {
    const { _tag, ...fields } = report
    return new Remote.Success({ ...fields, attempts })
  }
  const { _tag, ...fields } = report
  return new Remote.Failure({ ...fields, attempts })
}

/** The unit holding `index` (found only when a thread dies). */
const unitContaining = (units: Backend.Work<unknown, unknown>["units"], index: number): ReadonlyArray<number> => {
  for (let k = 0; k < units.count; k++) {
    const unit = units.indicesOf(k)
    if (unit.includes(index)) return unit
  }
  return [index]
}

/** A started thread with its pipeline loaded. */
interface Thread {
  readonly worker: Worker.SerializedWorker<WorkerRequest>
  readonly configHash: string
  readonly scope: Scope.CloseableScope
  /** Stops the thread at once, whatever it is doing (its requests then fail as on its death). */
  readonly terminate: Effect.Effect<void>
}

const backendError = (message: string) => new Backend.BackendError({ backend: "workers", message })

/**
 * Starts one thread and has it load the pipeline module; the thread lives
 * until its scope closes (gracefully on success, terminated at once on
 * failure or interruption).
 */
const startThread = (options: Options, { code, execArgv, workerData }: Bootstrap): Effect.Effect<Thread, Backend.BackendError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      let raw: WT.Worker | undefined
      const terminate = Effect.promise(() => raw?.terminate() ?? Promise.resolve(undefined))
      const spawn = () =>
        (raw = new WT.Worker(code, {
          eval: true,
          execArgv: [...execArgv],
          workerData,
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
        return { worker, configHash: loaded.configHash, scope, terminate }
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
    const start = yield* bootstrap(options)
    yield* Effect.all(
      Array.from({ length: size }, () => Effect.flatMap(startThread(options, start), (thread) => Queue.offer(idle, thread))),
      { concurrency: "unbounded", discard: true }
    )

    /** Starts a thread in place of one that was stopped. */
    const replacement = Effect.suspend(() => {
      missing--
      return Effect.onError(startThread(options, start), () => Effect.sync(() => missing++))
    })

    /** An idle thread, or a new one in place of a stopped thread, or the next thread put back. */
    const takeThread = Effect.flatMap(
      Queue.poll(idle),
      Option.match({ onSome: Effect.succeed, onNone: () => (missing > 0 ? replacement : Queue.take(idle)) })
    )

    const execute = <E, R>(work: Backend.Work<E, R>): Effect.Effect<void, E | Backend.BackendError, R> =>
      Effect.gen(function*() {
        const lanes = Math.min(work.concurrency, size, work.units.count)
        const units = SharedUnits.make(work.units, lanes, work.failureBudget)
        const tracing = yield* Remote.tracingEnabled
        yield* Effect.forkScoped(Effect.andThen(work.stopped, () => SharedUnits.requestStop(units)))

        /** One lane: a thread from the pool, registered as a worker of this run. */
        const runLane = (laneNumber: number) =>
          Effect.gen(function*() {
            let thread: Thread | undefined = yield* takeThread
            /** Whether the thread may still be computing indices of this lane. */
            let busy = false
            // A thread that finished its work goes back to the pool; one stopped
            // mid-index (a failed or interrupted run) is terminated, and replaced
            // when a run next needs it.
            yield* Effect.addFinalizer((exit) => {
              if (thread === undefined) return Effect.void
              if (Exit.isSuccess(exit) || !busy) return Queue.offer(idle, thread)
              missing++
              return Scope.close(thread.scope, exit)
            })
            if (thread.configHash !== work.configHash) {
              return yield* backendError(
                `the worker threads load a pipeline with configuration hash ${thread.configHash.slice(0, 16)} from ${
                  PipelineModule.modulePath(options)
                }, but the run's pipeline has ${
                  work.configHash.slice(0, 16)
                }; run the pipeline that module exports (and build it the same way in every process)`
              )
            }
            let lane = yield* work.openLane
            let first: ReadonlyArray<number> = []
            /** The thread that died on an index the policy retries, replaced for the same lane. */
            const replaceThread = Effect.gen(function*() {
              const dead = thread!
              thread = undefined
              missing++
              yield* Scope.close(dead.scope, Exit.void)
              thread = yield* Effect.orDie(replacement)
              return thread
            })
            while (true) {
              busy = true
              const left = yield* serveLane(thread!, replaceThread, lane, laneNumber, first)
              busy = false
              if (left === undefined) return
              // The thread died: the index in flight was recorded as failed; a
              // replacement (a new worker of this run) takes the rest of its
              // unit first, then claims units as before.
              const dead = thread!
              thread = undefined
              missing++
              yield* Scope.close(dead.scope, Exit.void)
              if (SharedUnits.stopRequested(units) || (left.length === 0 && SharedUnits.exhausted(units))) return
              thread = yield* replacement
              lane = yield* work.openLane
              first = left
            }
          }).pipe(Effect.scoped)

        /**
         * Has a thread serve a lane until no unit is left, recording each
         * index as its step arrives. Returns what the thread left if it died
         * (the rest of its unit, in order), else undefined.
         */
        const serveLane = (
          firstThread: Thread,
          replaceThread: Effect.Effect<Thread>,
          lane: Backend.Lane,
          laneNumber: number,
          firstIndices: ReadonlyArray<number>
        ) =>
          Effect.gen(function*() {
            let thread = firstThread
            let first = firstIndices
            // A thread taking over the lane mid-index serves it until the lane ends, not only until that index's report.
            const laneScope = yield* Effect.scope
            // Steps in order, then a last one with nothing started (also when
            // the thread found no work at all), or the thread's death.
            const serve = Effect.gen(function*() {
              const queue = yield* Queue.unbounded<Either.Either<typeof LaneStep.Type, unknown>>()
              SharedUnits.forgetClaim(units, laneNumber)
              yield* thread.worker.execute(
                new ServeLane({ units, lane: laneNumber, first, workerId: lane.workerId, logLevel: work.logLevel, tracing, resume: work.resume ?? false, measureOutputs: work.measureOutputs })
              ).pipe(
                Stream.runForEach((step) => Queue.offer(queue, Either.right(step))),
                Effect.zipRight(Queue.offer(queue, Either.right({ report: null, started: null }))),
                Effect.catchAll((error) => Queue.offer(queue, Either.left(error))),
                Effect.forkIn(laneScope)
              )
              return queue
            })
            let steps = yield* serve
            /**
             * What a dead thread left, found only then: the rest of what it was
             * going through (`first`, or the unit of the last index it started),
             * and a unit it claimed but never started.
             */
            const leftBehind = (lastStarted: number | undefined) => {
              const claimed = SharedUnits.claimedBy(units, laneNumber)
              const claimedUnit = claimed >= 0 ? SharedUnits.unitAt(units, claimed) : []
              const current = lastStarted === undefined || first.includes(lastStarted)
                ? first
                : claimedUnit.includes(lastStarted)
                ? claimedUnit
                : unitContaining(work.units, lastStarted)
              const rest = lastStarted === undefined ? current : current.slice(current.indexOf(lastStarted) + 1)
              const unstarted = claimedUnit.length > 0 && current !== claimedUnit
                ? claimedUnit
                : []
              return [...rest, ...unstarted]
            }
            /** Why the lane's thread was terminated (past the timeout, or stalled): the lost attempt's report says so. */
            let terminatedBecause: string | undefined
            const terminate = (because: string) =>
              Effect.suspend(() => {
                terminatedBecause = because
                return thread.terminate
              })
            /**
             * The per-index timeout, where the thread cannot time itself out:
             * a stage that blocks its event loop (a synchronous CPU loop) never
             * lets the thread's own timeout fire. Past the timeout and a grace
             * from the start of the index's current attempt (read from shared
             * memory), the thread is terminated: the index is recorded as
             * timed out and a new thread takes the lane, as after a death.
             */
            const timeout = work.indexTimeout
            const watch = (index: number): Effect.Effect<never> => {
              if (timeout === undefined) return Effect.never
              const grace = Math.max(500, Math.min(timeout.millis / 4, 30_000))
              // Each attempt is watched (a retried index runs again on a new thread); one terminated is not again.
              let terminated: number | undefined
              const check: Effect.Effect<void> = Effect.suspend(() => {
                const probe = SharedUnits.readProbe(units, laneNumber, index)
                if (probe === undefined || probe.startedAt === terminated || Date.now() - probe.startedAt <= timeout.millis + grace) {
                  return Effect.void
                }
                terminated = probe.startedAt
                return terminate(`${timeout.message(index, probe.stage)}; the worker thread did not stop and was replaced`)
              })
              const poll = Duration.millis(Math.min(250, Math.max(20, timeout.millis / 4)))
              return Effect.forever(Effect.zipRight(Effect.sleep(poll), check))
            }
            let lastStarted: number | undefined
            let step = yield* Queue.take(steps)
            while (Either.isRight(step) && step.right.started !== null) {
              const index = step.right.started
              lastStarted = index
              const started = performance.now()
              let next: Either.Either<typeof LaneStep.Type, unknown> | undefined
              /**
               * The index's report. A lost thread (dead, or terminated past the
               * timeout) loses an attempt; while the policy retries it, a new
               * thread runs the index again first, then goes on with what the
               * lost one left. The report counts every attempt.
               */
              const arrived = Effect.gen(function*() {
                let lost = 0
                while (true) {
                  const arrival = yield* Queue.take(steps)
                  next = arrival
                  if (Either.isRight(arrival)) {
                    const computed = arrival.right.report
                    if (computed === null) return yield* Effect.dieMessage(`a worker thread started index ${index} and sent no report of it`)
                    return lost === 0 ? computed : withAttempts(computed, lost + (computed.attempts ?? 1))
                  }
                  lost++
                  const report = Remote.diedReport(
                    terminatedBecause ?? describeDeath(index, arrival.left),
                    Math.round((performance.now() - started) * 1e6),
                    SharedUnits.readProbe(units, laneNumber, index)?.stage
                  )
                  terminatedBecause = undefined
                  const again = work.retryLost === undefined ? false : yield* work.retryLost(index, lost, report)
                  if (!again) return lost === 1 ? report : withAttempts(report, lost)
                  const rest = leftBehind(index)
                  thread = yield* replaceThread
                  first = [index, ...rest]
                  steps = yield* serve
                  const restarted = yield* Queue.take(steps)
                  // The new thread starts this index first; if it died before, that is the next lost attempt.
                  if (Either.isRight(restarted) && restarted.right.started !== index) {
                    return yield* Effect.dieMessage(`a worker thread was to start index ${index} again and started ${restarted.right.started} instead`)
                  }
                  if (Either.isLeft(restarted)) yield* Queue.offer(steps, restarted)
                }
              })
              // The stall watchdog giving the index up (onStall: "interrupt") stops the thread as the timeout does.
              const stall = yield* Deferred.make<string>()
              const stopStalled = Effect.flatMap(Deferred.await(stall), (message) =>
                Effect.zipRight(terminate(`${message}; the worker thread was terminated and replaced`), Effect.never))
              const report = Effect.raceFirst(arrived, Effect.race(watch(index), stopStalled))
              yield* work.processElsewhere(
                index,
                lane,
                report,
                () => SharedUnits.readProbe(units, laneNumber, index),
                (message) => Deferred.unsafeDone(stall, Exit.succeed(message))
              )
              step = next!
            }
            return Either.isLeft(step) ? leftBehind(lastStarted) : undefined
          }).pipe(Effect.scoped)

        yield* Effect.all(Array.from({ length: lanes }, (_, k) => runLane(k)), { concurrency: "unbounded", discard: true })
      }).pipe(Effect.scoped)

    return { name: "workers", execute }
  })

/** A pool of worker threads loading `options.module`, started with the layer. */
export const layer = (options: Options): Layer.Layer<Backend.Backend, Backend.BackendError> =>
  Layer.scoped(Backend.Backend, make(options))

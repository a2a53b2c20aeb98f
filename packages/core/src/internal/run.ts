/**
 * The run loop: resolves what to compute, opens the checkpoint, hands the
 * indices to the backend, and records each index's outcome as it comes
 * back — computed here or elsewhere, the same way. It keeps no state per
 * index beyond what its caller asks for: `run` gathers every outcome,
 * `stream` passes each one on.
 */
import { Cause, type Context, Data, Deferred, Duration, Effect, Exit, FiberId, Layer, LogLevel, Mailbox, Option, type Scope, Stream } from "effect"
import { Backend, type BackendError, type Lane, LocalBackend, newId, type RemoteWorker, type Work } from "../Backend.js"
import { type Checkpoint, type CheckpointError, CheckpointStore, type LogEntry, streamPages } from "../CheckpointStore.js"
import * as FailurePolicy from "../FailurePolicy.js"
import * as IndexSet from "../IndexSet.js"
import { Host, type HostInfo } from "../Host.js"
import type { Pipeline } from "./pipeline.js"
import { canonicalJson } from "../Provenance.js"
import { InvalidRunOptions, resolveConcurrency, resolveIndices, type RunOptions } from "../RunOptions.js"
import {
  completed,
  failed,
  IndexFailed,
  notRun,
  type Outcome,
  type RemoteFailure,
  type RunResult
} from "../RunResult.js"
import { checkLength, type InvalidSource } from "../Source.js"
import * as Timestamp from "../Timestamp.js"
import type { Computed } from "./computed.js"
import { makeComputeIndex, stagesOf } from "./computeIndex.js"
import { CurrentIndex, CurrentStage } from "./context.js"
import { describeFailure } from "./describeFailure.js"
import { asFramework, makeLogger, withLogger } from "./logCapture.js"
import { replaySpans } from "./recordingTracer.js"
import * as Heartbeat from "./heartbeat.js"
import type { Probe } from "./probe.js"
import { traceCachedIndex, tracingEnabled } from "./tracing.js"
import { gatherAtEnd } from "./gatherAtEnd.js"
import { forRun, retryLost } from "./policy.js"
import { unitsOf } from "./units.js"
import { completeOutputChecks, measureModeOf, verifyModeOf } from "./outputChecks.js"
import { describeStale, makeChecker } from "./staleness.js"
import { watchedTimeout } from "./watchedTimeout.js"
import { fromReport } from "./wire.js"

/** What a run can fail with, besides the outcomes of its indices. */
export type RunError<E> = E | InvalidRunOptions | InvalidSource | CheckpointError | IndexFailed | BackendError

type AnyPipeline = Pipeline<any, any, any>

/** `Pipeline.checkpoint` on a pipeline that records nothing (`trackMetrics: false`). */
export class NoCheckpoint extends Data.TaggedError("NoCheckpoint")<{ readonly message: string }> {}

const openCheckpoint = (pipeline: AnyPipeline, totalIndices: number, resume: boolean, host: HostInfo) =>
  Effect.flatMap(CheckpointStore, (store) =>
    store.open({
      configHash: pipeline.configHash,
      configJson: canonicalJson(pipeline.config),
      totalIndices,
      resume,
      dbFile: pipeline.options.dbFile,
      dbDir: pipeline.options.dbDir,
      runDir: host.workingDirectory
    }))

/** The source's length, checked before anything is opened or recorded. */
const lengthOf = (pipeline: AnyPipeline): Effect.Effect<number, InvalidSource> =>
  Effect.flatMap(pipeline.source.length as Effect.Effect<number>, (length) => checkLength(pipeline.source, length))

/** Opens the stable checkpoint of a pipeline (the one a resumed run uses). */
export const openStableCheckpoint = <E, R>(
  pipeline: Pipeline<E, R, boolean>
): Effect.Effect<Checkpoint, E | CheckpointError | InvalidSource | NoCheckpoint, R | CheckpointStore | Scope.Scope> =>
  Effect.gen(function*() {
    if (!pipeline.options.trackMetrics) {
      return yield* new NoCheckpoint({
        message: "this pipeline has trackMetrics: false, so it records nothing and has no checkpoint; turn trackMetrics on to record one"
      })
    }
    const length = yield* lengthOf(pipeline)
    return yield* openCheckpoint(pipeline, length, true, yield* Host)
  })

/** The requested indices, by position: all of the source's in order, or the caller's list. */
interface Selection {
  readonly size: number
  readonly at: (position: number) => number
  readonly has: (index: number) => boolean
  readonly positionOf: (index: number) => number
}

/**
 * Runs `f` on the host's next turn of its event loop, after the timers and
 * I/O waiting there, and returns its cancellation. `setImmediate` (Node,
 * Bun) costs microseconds; `setTimeout(0)`, the fallback, waits at least a
 * millisecond, which was 2% of a fast run's time.
 */
const nextTurn = (f: () => void): Effect.Effect<void> => {
  if (typeof globalThis.setImmediate === "function") {
    const immediate = globalThis.setImmediate(f)
    return Effect.sync(() => globalThis.clearImmediate(immediate))
  }
  const timer = setTimeout(f, 0)
  return Effect.sync(() => clearTimeout(timer))
}

const selectionOf = (indices: ReadonlyArray<number> | undefined, length: number): Selection => {
  if (indices === undefined) return { size: length, at: (p) => p, has: (i) => i < length, positionOf: (i) => i }
  const positions = new Map<number, number>()
  indices.forEach((index, position) => positions.set(index, position))
  return { size: indices.length, at: (p) => indices[p]!, has: (i) => positions.has(i), positionOf: (i) => positions.get(i)! }
}

/** What the run tells its caller besides outcomes. */
interface RunFacts {
  readonly location: string | undefined
  readonly configHash: string
  readonly redone: ReadonlyArray<number>
  readonly quarantined: ReadonlyArray<number>
  readonly budgetExceeded: string | undefined
}

/**
 * Runs the pipeline, passing each outcome to `onOutcome` with its position
 * in the selection as soon as it is known; indices left unstarted by a
 * graceful stop are passed as `NotRun` at the end.
 */
const execute = <E, R, Tracked extends boolean>(
  pipeline: Pipeline<E, R, Tracked>,
  options: RunOptions,
  onOutcome: (position: number, outcome: Outcome<E>) => Effect.Effect<void>
): Effect.Effect<RunFacts, RunError<E>, unknown> =>
  Effect.gen(function*() {
    const host = yield* Host
    const minimumLevel = LogLevel.fromLiteral(options.logLevel ?? "Info")
    const concurrency = yield* resolveConcurrency(options.concurrency, host.cpus)
    const length = yield* lengthOf(pipeline)
    const selection = selectionOf(
      options.indices === undefined ? undefined : yield* resolveIndices(options.indices, length),
      length
    )
    if (options.gather === true && !pipeline.options.trackMetrics) {
      return yield* new InvalidRunOptions({
        option: "gather",
        message: "gather merges the shards recorded in the run's database, and this pipeline has trackMetrics: false; turn trackMetrics on"
      })
    }
    const backend = yield* Backend
    const policy = yield* forRun(
      pipeline.failurePolicy,
      options.failurePolicy,
      Option.isSome(yield* Effect.serviceOption(LocalBackend))
    )
    const checkpoint: Checkpoint | undefined = pipeline.options.trackMetrics
      ? yield* openCheckpoint(pipeline, length, pipeline.options.resume, host)
      : undefined
    yield* Effect.annotateCurrentSpan({
      "curator.backend": backend.name,
      "curator.concurrency": concurrency,
      "curator.indices": selection.size,
      "curator.db_path": checkpoint?.location ?? ""
    })
    const tracing = yield* tracingEnabled
    const stages = stagesOf(pipeline as Pipeline<unknown, unknown, boolean>)
    const stageNames = stages.map((stage) => stage.name)

    // Log lines logged outside any index (the run's own), appended as they accumulate and at the end.
    const runLogs: Array<LogEntry> = []
    const appendLogs = (entries: ReadonlyArray<LogEntry>) =>
      checkpoint === undefined || entries.length === 0 ? Effect.void : checkpoint.appendLogs(entries)
    const appendRunLogs = Effect.suspend(() => runLogs.length === 0 ? Effect.void : appendLogs(runLogs.splice(0)))
    yield* Effect.addFinalizer(() => Effect.ignore(appendRunLogs))
    // Lines reach the writer as they are logged, even while a long index runs.
    if (checkpoint !== undefined) yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(250), Effect.ignore(appendRunLogs))))

    const body = Effect.gen(function*() {
      // Which positions have had their outcome: whatever was not, a graceful stop left unstarted.
      const reported = new Uint8Array(selection.size)
      const tally = { completed: 0, failed: 0, quarantined: [] as Array<number> }
      const report = (position: number, outcome: Outcome<E>) => {
        reported[position] = 1
        if (outcome._tag === "Completed") tally.completed++
        else if (outcome._tag === "Failed") tally.failed++
        return onOutcome(position, outcome)
      }

      // The services the pipeline carries, built once for this run when an index is first computed here.
      const scope = yield* Effect.scope
      const pipelineContext: Effect.Effect<Context.Context<never> | undefined> = yield* Effect.cached(
        pipeline.layer === undefined
          ? Effect.succeed(undefined)
          : Effect.orDie(Layer.buildWithScope(pipeline.layer as Layer.Layer<unknown, unknown, never>, scope))
      )
      // The source's fingerprint of an index's input, read with the pipeline's services.
      const sourceFingerprint = pipeline.source.fingerprint
      const fingerprintOf = sourceFingerprint === undefined ? undefined : (index: number) =>
        Effect.flatMap(pipelineContext, (context) => {
          const read = sourceFingerprint(index) as Effect.Effect<string, unknown, R>
          return context === undefined ? read : Effect.provide(read, context)
        }) as Effect.Effect<string, unknown>
      const verifyMode = verifyModeOf(pipeline.options.verifyOutputs)
      const measureMode = measureModeOf(pipeline.options.verifyOutputs)

      // The completed set, compact, in one scan; the records of those selected read a page at a time and
      // checked (input fingerprints, outputs per verifyOutputs): a stale index is computed again.
      const done = checkpoint !== undefined && pipeline.options.resume ? yield* checkpoint.completedIndexSet : IndexSet.empty()
      const redone = IndexSet.empty()
      if (checkpoint !== undefined && done.size > 0) {
        const checker = yield* makeChecker(fingerprintOf, verifyMode)
        yield* streamPages((after) => checkpoint.recordedPage({ after, limit: 2000 })).pipe(
          Stream.filter(({ index }) => selection.has(index)),
          Stream.mapEffect((recorded) =>
            Effect.map(checker.check(recorded), (stale) =>
              ({ index: recorded.index, paths: recorded.paths, stale })), { concurrency: checker.reads ? 32 : 1 }),
          Stream.runForEach(({ index, paths, stale }) => {
            if (stale !== undefined) {
              redone.add(index)
              return asFramework(Effect.logWarning(
                stale._tag === "OutputMissing"
                  ? `index ${index} is recorded completed but its output ${stale.path} is missing; computing it again`
                  : `index ${index} is stale: ${describeStale(stale)}; computing it again`
              ))
            }
            return Effect.zipRight(
              tracing ? traceCachedIndex(index) : Effect.void,
              report(selection.positionOf(index), completed(index, paths, true))
            )
          })
        )
      }
      // Quarantined indices (failed permanently in several runs) are skipped and reported, not retried forever.
      const quarantined = checkpoint !== undefined && policy.quarantineAfter > 0 ? yield* checkpoint.quarantinedIndexSet : IndexSet.empty()
      const pending = new Int32Array(selection.size)
      let pendingCount = 0
      for (let position = 0; position < selection.size; position++) {
        const index = selection.at(position)
        if (quarantined.has(index) && !done.has(index)) {
          tally.quarantined.push(index)
          reported[position] = 1
          const cause = Cause.fail(FailurePolicy.quarantinedError(index))
          yield* onOutcome(position, failed(index, describeFailure(cause), cause as Cause.Cause<never>))
        } else if (!done.has(index) || redone.has(index)) pending[pendingCount++] = index
      }
      const toCompute = pending.subarray(0, pendingCount)
      const cachedCount = selection.size - pendingCount - tally.quarantined.length
      if (tally.quarantined.length > 0) {
        yield* asFramework(Effect.logWarning(
          `quarantined: ${tally.quarantined.length} (indices that failed permanently in ${policy.quarantineAfter} runs are skipped; ` +
            `curator reset --index N or --retry-quarantined runs them again)`
        ))
      }

      yield* asFramework(Effect.logInfo(`run started: ${pendingCount} to compute, ${cachedCount} from the checkpoint`)).pipe(
        Effect.annotateLogs({ config_hash: pipeline.configHash, backend: backend.name, concurrency })
      )

      // After a graceful stop is asked for, lanes take no new index; those in flight finish and are recorded.
      let stopping = false
      const stopped = yield* Deferred.make<void>()
      const requestStop = (why: string) =>
        Effect.suspend(() => {
          if (stopping) return Effect.void
          stopping = true
          return Effect.zipRight(
            Deferred.succeed(stopped, undefined),
            asFramework(Effect.logWarning(`${why}: no new index is started; those in flight finish`))
          )
        })
      if (options.stop !== undefined) {
        yield* Effect.forkScoped(Effect.zipRight(options.stop, requestStop("stop requested")))
      }
      // The error budget: once this many indices failed, the run stops as on a graceful stop.
      const budget = FailurePolicy.budgetOf(policy, selection.size)
      let budgetExceeded: string | undefined

      const progress = options.onProgress
      progress?.({
        _tag: "RunStarted",
        total: selection.size,
        cached: cachedCount,
        quarantined: tally.quarantined.length,
        backend: backend.name,
        concurrency,
        location: checkpoint?.location
      })

      const invocationId = newId()
      const openRemoteLane = (worker: RemoteWorker): Effect.Effect<Lane, CheckpointError> => {
        const lane: Lane = { workerId: worker.workerId }
        if (checkpoint === undefined) return Effect.succeed(lane)
        return Effect.as(checkpoint.registerWorker({ ...worker, invocationId }), lane)
      }
      const openLane: Effect.Effect<Lane, CheckpointError> = Effect.flatMap(
        Timestamp.now,
        (startedAt) => openRemoteLane({ workerId: newId(), pid: host.pid, hostname: host.hostname, startedAt })
      )

      const computeHere = makeComputeIndex(pipeline, { tracing, memory: host.memory, policy })
      // (Without a layer, nothing to wait for: reading the cached context costs more than a trivial index.)
      const computeLocally = pipeline.layer === undefined ? computeHere : (index: number, workerId: string, probe: Probe): Effect.Effect<Computed<E>, never, R> =>
        Effect.flatMap(pipelineContext, (context) => {
          const computation = computeHere(index, workerId, probe)
          return context === undefined ? computation : Effect.provide(computation, context)
        })

      /**
       * The index inside a `curator.index` span: a failed index ends its span
       * with the failure's cause (an error status) but is returned as an
       * outcome, not raised.
       */
      const traced = <A>(index: number, lane: Lane, computation: Effect.Effect<Computed<A>, never, R>) =>
        tracing
          ? Effect.suspend(() => {
            let computed: Computed<A> | undefined
            return computation.pipe(
              Effect.tap((outcome) => {
                computed = outcome
                return Effect.zipRight(
                  Effect.annotateCurrentSpan("curator.status", outcome._tag === "Success" ? "completed" : "error"),
                  outcome._tag === "Failure" ? Effect.failCause(outcome.cause) : Effect.void
                )
              }),
              Effect.withSpan("curator.index", {
                attributes: { "curator.index": index, "curator.cached": false, "curator.worker_id": lane.workerId },
                captureStackTrace: false
              }),
              Effect.catchAllCause((cause): Effect.Effect<Computed<A>> =>
                // No outcome: the index was interrupted before it finished.
                computed === undefined ? Effect.failCause(cause as Cause.Cause<never>) : Effect.succeed(computed)
              )
            )
          })
          : computation

      // Heartbeats with each busy worker's items so far, and the stall watchdog (internal/heartbeat.ts).
      const stallAfter = policy.stallAfter ?? FailurePolicy.defaultStallAfter(
        checkpoint === undefined ? undefined : (yield* checkpoint.slowest(1))[0]?.wallTimeNs ?? undefined
      )
      const watchdog = yield* Heartbeat.start({
        checkpoint,
        onProgress: progress,
        stallAfter,
        onStall: policy.onStall,
        // Often enough to see a stall soon after stallAfter, at most once a second.
        interval: Duration.millis(Math.min(1000, Math.max(50, Duration.toMillis(stallAfter) / 3))),
        stageName: (order) => stageNames[order] ?? "unknown"
      })
      /** What an index given up by the stall watchdog fails with. */
      const stallCause = (index: number, stage: number) =>
        Cause.fail(FailurePolicy.stallError(index, stallAfter, stageNames[stage] ?? "unknown"))
      /** The index in this process, watched: with `onStall: "interrupt"`, a stall gives it up as a timeout would. */
      const watched = (index: number, lane: Lane, computation: (probe: Probe) => Effect.Effect<Computed<E>, never, R>) =>
        Effect.suspend(() => {
          if (policy.onStall !== "interrupt") return computation(watchdog.local(lane.workerId, index))
          const stall = Deferred.unsafeMake<number>(FiberId.none)
          const probe = watchdog.local(lane.workerId, index, (stage) => Deferred.unsafeDone(stall, Exit.succeed(stage)))
          return Effect.raceFirst(
            computation(probe),
            Effect.map(Deferred.await(stall), (stage): Computed<E> => {
              const cause = stallCause(index, stage)
              return {
                _tag: "Failure",
                message: describeFailure(cause),
                cause: cause as Cause.Cause<never>,
                wallTimeNs: 0,
                peakMemoryBytes: 0,
                logs: [],
                spans: [],
                failureClass: "transient",
                stage
              }
            })
          )
        })

      /** Records one index's outcome, computed here or elsewhere, and reports its progress and outcome. */
      const recordIndex = (index: number, lane: Lane, computed: Computed<E | RemoteFailure>) =>
        Effect.gen(function*() {
          watchdog.finished(lane.workerId)
          // Lines logged where the index ran elsewhere join the run's own, in order.
          for (const line of computed.logs) runLogs.push(line)
          progress?.({
            _tag: "IndexFinished",
            index,
            workerId: lane.workerId,
            status: computed._tag === "Success" ? "completed" : "failed",
            wallTimeNs: computed.wallTimeNs
          })
          const position = selection.positionOf(index)
          if (computed._tag === "Success") {
            if (checkpoint !== undefined) {
              yield* checkpoint.recordSuccess({
                index,
                workerId: lane.workerId,
                completedAt: yield* Timestamp.now,
                paths: computed.paths,
                wallTimeNs: computed.wallTimeNs,
                peakMemoryBytes: computed.peakMemoryBytes,
                gpuMemoryBytes: null,
                stages: computed.stages,
                artifacts: computed.artifacts,
                attempts: computed.attempts,
                fingerprint: fingerprints.get(index),
                // Measured where the index ran (by its sink as it wrote, or read there); completed here if not.
                outputChecks: measureMode === undefined ? undefined : yield* completeOutputChecks(computed.paths, measureMode, computed.outputChecks)
              })
              fingerprints.delete(index)
              yield* appendRunLogs
            }
            return yield* report(position, completed(index, computed.paths, false))
          }
          const attempts = computed.attempts ?? 1
          const stage = computed.stage === undefined ? undefined : stages[computed.stage]
          // The line is the failing stage's (its logger name, as its own lines have), else Curator's.
          const failureLine = Effect.logError(
            `index ${index} failed${attempts > 1 ? ` after ${attempts} attempts` : ""}: ${computed.message}`
          ).pipe(Effect.provideService(CurrentIndex, { index, workerId: lane.workerId, artifacts: [], logs: [] }))
          yield* stage === undefined ? asFramework(failureLine) : Effect.provideService(failureLine, CurrentStage, stage)
          fingerprints.delete(index)
          if (checkpoint !== undefined) {
            yield* checkpoint.recordFailure({
              index,
              workerId: lane.workerId,
              completedAt: yield* Timestamp.now,
              error: computed.message,
              wallTimeNs: computed.wallTimeNs,
              peakMemoryBytes: computed.peakMemoryBytes,
              attempts,
              failureClass: computed.failureClass ?? policy.classify(computed.cause),
              quarantineAfter: policy.quarantineAfter,
              stage: stage?.recordedName
            })
            yield* appendRunLogs
          }
          yield* report(position, failed(index, computed.message, computed.cause))
          if (budget !== undefined && tally.failed >= budget && budgetExceeded === undefined) {
            budgetExceeded = `the error budget of ${FailurePolicy.describeBudget(policy, selection.size)} (maxFailures) was reached`
            yield* requestStop(budgetExceeded)
          }
          if (options.failFast === true) {
            return yield* new IndexFailed({ index, message: computed.message, cause: computed.cause })
          }
        })

      // A run of fast indices never waits on I/O, so Node's event loop would not
      // get a turn (signals, timers such as the writer's flush): every 50 ms of
      // such work, it yields to it for a moment.
      // (A host task, not `Effect.sleep`: a test clock must not hold the run.)
      let lastYield = performance.now()
      const macrotask = Effect.async<void>((resume) => nextTurn(() => resume(Effect.void)))
      const letEventsIn = Effect.suspend(() => {
        const now = performance.now()
        if (now - lastYield < 50) return Effect.void
        lastYield = now
        return macrotask
      })

      // Each index's input fingerprint, taken as it starts (before its input is read), recorded with its success.
      const fingerprints = new Map<number, string>()
      const takeFingerprint = (index: number) =>
        fingerprintOf === undefined || checkpoint === undefined ? Effect.void : fingerprintOf(index).pipe(
          Effect.tap((fingerprint) => Effect.sync(() => fingerprints.set(index, fingerprint))),
          Effect.catchAll((error) =>
            asFramework(Effect.logWarning(`index ${index}: its input fingerprint cannot be read (${String(error)}); recording none`))
          ),
          Effect.asVoid
        )
      const started = (index: number, lane: Lane) =>
        Effect.suspend(() => {
          progress?.({ _tag: "IndexStarted", index, workerId: lane.workerId })
          if (checkpoint === undefined) return Effect.void
          const heartbeat = Effect.flatMap(Timestamp.now, (at) => checkpoint.indexStarted(lane.workerId, index, at))
          return fingerprintOf === undefined ? heartbeat : Effect.zipRight(takeFingerprint(index), heartbeat)
        })

      const work: Work<CheckpointError | IndexFailed, R> = {
        configHash: pipeline.configHash,
        units: unitsOf(pipeline, toCompute),
        concurrency,
        stopRequested: () => stopping,
        stopped: Deferred.await(stopped),
        logLevel: options.logLevel ?? "Info",
        indexTimeout: watchedTimeout(pipeline as Pipeline<unknown, unknown, boolean>, policy.indexTimeout),
        failureBudget: budget,
        retryLost: retryLost(policy),
        resume: pipeline.options.resume,
        measureOutputs: measureMode,
        progressInterval: watchdog.interval,
        openLane,
        openRemoteLane,
        // The rest of a unit (several indices of one partition) is not started after a stop.
        process: (index, lane) =>
          stopping ? Effect.void : Effect.zipRight(
            Effect.zipRight(letEventsIn, started(index, lane)),
            Effect.flatMap(
              traced(index, lane, watched(index, lane, (probe) => computeLocally(index, lane.workerId, probe))),
              (computed) => recordIndex(index, lane, computed)
            )
          ),
        processElsewhere: (index, lane, report, readProgress, stop) =>
          Effect.zipRight(
            Effect.zipRight(
              started(index, lane),
              Effect.sync(() =>
                watchdog.remote(
                  lane.workerId,
                  index,
                  readProgress,
                  policy.onStall === "interrupt" && stop !== undefined
                    ? (stage) => stop(describeFailure(stallCause(index, stage)))
                    : undefined
                )
              )
            ),
            Effect.flatMap(
              traced(
                index,
                lane,
                Effect.flatMap(report, (report) => Effect.as(tracing ? replaySpans(report.spans) : Effect.void, fromReport<E>(report, pipeline.errorSchemas)))
              ),
              (computed) => recordIndex(index, lane, computed)
            )
          )
      }
      yield* backend.execute(work)

      let notRunCount = 0
      for (let position = 0; position < selection.size; position++) {
        if (reported[position] === 0) {
          notRunCount++
          yield* onOutcome(position, notRun(selection.at(position)))
        }
      }
      yield* asFramework(Effect.logInfo(
        `run ${notRunCount > 0 ? "stopped" : "finished"}: ${tally.completed} completed (${cachedCount} from the checkpoint), ${tally.failed} failed` +
          (tally.quarantined.length > 0 ? `, quarantined: ${tally.quarantined.length}` : "") +
          (notRunCount > 0 ? `, ${notRunCount} not run` : "") +
          (budgetExceeded !== undefined ? ` (${budgetExceeded})` : "")
      ))
      yield* appendRunLogs
      if (options.gather === true && checkpoint !== undefined && notRunCount === 0) {
        yield* gatherAtEnd(pipeline, checkpoint, options)
      }
      if (checkpoint !== undefined) yield* checkpoint.flush
      return {
        location: checkpoint?.location,
        configHash: pipeline.configHash,
        redone: Array.from(redone),
        quarantined: tally.quarantined,
        budgetExceeded
      }
    })

    return yield* (checkpoint === undefined ? body : withLogger(makeLogger(runLogs, minimumLevel), minimumLevel)(body))
  }).pipe(
    Effect.scoped,
    Effect.withSpan("curator.run", { attributes: { "curator.config_hash": pipeline.configHash } })
  ) as Effect.Effect<RunFacts, RunError<E>, unknown>

/** `Pipeline.run`: every outcome, in the requested order. */
export const run = <E, R, Tracked extends boolean>(pipeline: Pipeline<E, R, Tracked>, options: RunOptions = {}) =>
  Effect.suspend(() => {
    const outcomes: Array<Outcome<E>> = []
    return Effect.map(
      execute(pipeline, options, (position, outcome) => Effect.sync(() => void (outcomes[position] = outcome))),
      (facts): RunResult<E> => ({ outcomes, ...facts })
    )
  }) as Effect.Effect<RunResult<E>, RunError<E>, never>

/** `Pipeline.stream`: each outcome as it is known, through a bounded mailbox (the run waits for a slow consumer). */
export const stream = <E, R, Tracked extends boolean>(pipeline: Pipeline<E, R, Tracked>, options: RunOptions = {}) =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<Outcome<E>, RunError<E>>({ capacity: 4096 })
    yield* execute(pipeline, options, (_, outcome) => Effect.asVoid(mailbox.offer(outcome))).pipe(
      Effect.exit,
      Effect.flatMap((exit) => mailbox.done(Exit.asVoid(exit))),
      Effect.forkScoped
    )
    return Mailbox.toStream(mailbox)
  })) as Stream.Stream<Outcome<E>, RunError<E>, never>

export type { InvalidRunOptions }

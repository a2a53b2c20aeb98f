import { Deferred, Effect, LogLevel } from "effect"
import { hostname } from "node:os"
import { Backend, type BackendError, type Lane, newId, type RemoteWorker } from "../Backend.js"
import { type Checkpoint, type CheckpointError, CheckpointStore, type LogEntry } from "../CheckpointStore.js"
import * as LogCapture from "../LogCapture.js"
import type { Pipeline } from "../Pipeline.js"
import { canonicalJson } from "../Provenance.js"
import { type InvalidRunOptions, resolveConcurrency, resolveIndices, type RunOptions } from "../RunOptions.js"
import { completed, failed, IndexFailed, notRun, type Outcome, type RunResult } from "../RunResult.js"
import * as Timestamp from "../Timestamp.js"
import * as IndexReport from "../IndexReport.js"
import { type Computed, computeIndex, stagesOf } from "./computeIndex.js"
import { unitsOf } from "./units.js"
import { CurrentIndex, type Stage } from "./context.js"
import { traceCachedIndex, traceIndex, tracingEnabled } from "./tracing.js"
import { missingOutputs } from "./verifyOutputs.js"

export const openCheckpoint = <E, R>(pipeline: Pipeline<E, R>, totalIndices: number) =>
  Effect.flatMap(CheckpointStore, (store) =>
    store.open({
      configHash: pipeline.configHash,
      configJson: canonicalJson(pipeline.config),
      totalIndices,
      resume: pipeline.options.resume,
      dbFile: pipeline.options.dbFile,
      dbDir: pipeline.options.dbDir,
      runDir: process.cwd()
    }))

export const run = <E, R>(
  pipeline: Pipeline<E, R>,
  options: RunOptions = {}
): Effect.Effect<
  RunResult<E>,
  E | InvalidRunOptions | CheckpointError | IndexFailed | BackendError,
  R | Backend | CheckpointStore
> =>
  Effect.suspend(() => {
    // Log lines gathered by the capture logger, appended to the checkpoint
    // after each index, at the end, and when the run stops for any reason.
    const logs: Array<LogEntry> = []
    const minimumLevel = LogLevel.fromLiteral(options.logLevel ?? "Info")
    const body = runWithLogs(pipeline, options, logs)
    return (pipeline.options.trackMetrics
      ? LogCapture.withLogger(LogCapture.makeLogger(logs, minimumLevel), minimumLevel)(body)
      : body).pipe(
        Effect.withSpan("curator.run", { attributes: { "curator.config_hash": pipeline.configHash } })
      )
  })

const runWithLogs = <E, R>(pipeline: Pipeline<E, R>, options: RunOptions, logs: Array<LogEntry>) =>
  Effect.gen(function*() {
    const concurrency = yield* resolveConcurrency(options.concurrency)
    const length = yield* pipeline.source.length
    const indices = yield* resolveIndices(options.indices, length)
    const backend = yield* Backend
    const checkpoint: Checkpoint | undefined = pipeline.options.trackMetrics
      ? yield* openCheckpoint(pipeline, length)
      : undefined
    yield* Effect.annotateCurrentSpan({
      "curator.backend": backend.name,
      "curator.concurrency": concurrency,
      "curator.indices": indices.length,
      "curator.db_path": checkpoint?.location ?? ""
    })

    const tracing = yield* tracingEnabled
    const done = checkpoint !== undefined && pipeline.options.resume
      ? yield* checkpoint.completedOutputs
      : new Map<number, ReadonlyArray<string>>()
    const lost = pipeline.options.verifyOutputs ? yield* missingOutputs(done) : new Map<number, string>()
    const outcomes: Array<Outcome<E>> = new Array(indices.length)
    const positionOf = new Map<number, number>()
    const pending: Array<number> = []
    const redone: Array<number> = []
    for (let position = 0; position < indices.length; position++) {
      const index = indices[position]!
      const paths = done.get(index)
      const missing = lost.get(index)
      if (missing !== undefined) {
        yield* LogCapture.asFramework(
          Effect.logWarning(`index ${index} is recorded completed but its output ${missing} is missing; computing it again`)
        )
        redone.push(index)
        positionOf.set(index, position)
        pending.push(index)
      } else if (paths !== undefined) {
        outcomes[position] = completed(index, paths, true)
        if (tracing) yield* traceCachedIndex(index)
      } else {
        positionOf.set(index, position)
        pending.push(index)
      }
    }

    const appendLogs = Effect.suspend(() =>
      checkpoint === undefined || logs.length === 0 ? Effect.void : checkpoint.appendLogs(logs.splice(0))
    )
    yield* Effect.addFinalizer(() => Effect.ignore(appendLogs))

    yield* LogCapture.asFramework(Effect.logInfo(`run started: ${pending.length} to compute, ${indices.length - pending.length} from the checkpoint`)).pipe(
      Effect.annotateLogs({ config_hash: pipeline.configHash, backend: backend.name, concurrency })
    )

    // After a graceful stop is asked for, lanes take no new index; those in flight finish and are recorded.
    let stopping = false
    const stopped = yield* Deferred.make<void>()
    if (options.stop !== undefined) {
      yield* Effect.forkScoped(Effect.zipRight(
        options.stop,
        Effect.suspend(() => {
          stopping = true
          return Effect.zipRight(
            Deferred.succeed(stopped, undefined),
            LogCapture.asFramework(Effect.logWarning("stop requested: no new index is started; those in flight finish"))
          )
        })
      ))
    }

    const progress = options.onProgress
    progress?.({
      _tag: "RunStarted",
      total: indices.length,
      cached: indices.length - pending.length,
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
      (startedAt) => openRemoteLane({ workerId: newId(), pid: process.pid, hostname: hostname(), startedAt })
    )

    const stages: ReadonlyArray<Stage> = stagesOf(pipeline)

    const traced = (current: CurrentIndex["Type"], computation: Effect.Effect<Computed<E>, never, R>) =>
      tracing ? traceIndex(computation, current) : computation

    /** Records one index, computed by `compute` here or elsewhere, and reports its progress. */
    const processIndex = (
      index: number,
      lane: Lane,
      compute: (current: CurrentIndex["Type"]) => Effect.Effect<Computed<E>, never, R>
    ) =>
      Effect.suspend(() => {
        const current: CurrentIndex["Type"] = { index, workerId: lane.workerId, stage: stages[0]!, artifacts: [] }
        return Effect.provideService(recordIndex(current, lane, traced(current, compute(current))), CurrentIndex, current)
      })

    const recordIndex = (current: CurrentIndex["Type"], lane: Lane, computation: Effect.Effect<Computed<E>, never, R>) =>
      Effect.gen(function*() {
        const index = current.index
        if (checkpoint !== undefined) yield* checkpoint.indexStarted(lane.workerId, index, yield* Timestamp.now)
        progress?.({ _tag: "IndexStarted", index, workerId: lane.workerId })
        const computed = yield* computation
        progress?.({
          _tag: "IndexFinished",
          index,
          workerId: lane.workerId,
          status: computed._tag === "Success" ? "completed" : "failed",
          wallTimeNs: computed.wallTimeNs
        })
        const position = positionOf.get(index)!
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
              artifacts: computed.artifacts
            })
            yield* appendLogs
          }
          outcomes[position] = completed(index, computed.paths, false)
          return
        }
        yield* LogCapture.asFramework(Effect.logError(`index ${index} failed: ${computed.message}`))
        if (checkpoint !== undefined) {
          yield* checkpoint.recordFailure({
            index,
            workerId: lane.workerId,
            completedAt: yield* Timestamp.now,
            error: computed.message,
            wallTimeNs: computed.wallTimeNs,
            peakMemoryBytes: computed.peakMemoryBytes
          })
          yield* appendLogs
        }
        outcomes[position] = failed(index, computed.message, computed.cause)
        if (options.failFast === true) {
          return yield* new IndexFailed({ index, message: computed.message, cause: computed.cause })
        }
      })

    yield* backend.execute({
      pipeline,
      units: yield* Effect.sync(() => unitsOf(pipeline, pending)),
      concurrency,
      stopRequested: () => stopping,
      stopped: Deferred.await(stopped),
      logLevel: options.logLevel ?? "Info",
      openLane,
      openRemoteLane,
      // The rest of a unit (several indices of one partition) is not started after a stop.
      process: (index, lane) =>
        stopping ? Effect.void : processIndex(index, lane, (current) => computeIndex(pipeline, stages, current)),
      processElsewhere: (index, lane, report) =>
        processIndex(index, lane, () =>
          Effect.map(report, (report) => {
            // Lines logged where the index ran join the run's own, in order.
            logs.push(...report.logs)
            return IndexReport.toComputed<E>(report)
          }))
    })

    for (let position = 0; position < indices.length; position++) {
      outcomes[position] ??= notRun(indices[position]!)
    }
    const count = (tag: Outcome<E>["_tag"]) => outcomes.filter((outcome) => outcome._tag === tag).length
    const notRunCount = count("NotRun")
    yield* LogCapture.asFramework(Effect.logInfo(
      `run ${notRunCount > 0 ? "stopped" : "finished"}: ${count("Completed")} completed (${indices.length - pending.length} from the checkpoint), ${count("Failed")} failed` +
        (notRunCount > 0 ? `, ${notRunCount} not run` : "")
    ))
    yield* appendLogs
    if (checkpoint !== undefined) yield* checkpoint.flush
    return {
      outcomes,
      location: checkpoint?.location,
      configHash: pipeline.configHash,
      redone
    } satisfies RunResult<E>
  }).pipe(Effect.scoped)

/**
 * The entry of a worker thread of the worker-thread backend: it loads the
 * pipeline module and builds the services the pipeline carries once
 * (`Prepare`; they live until the pool closes the thread), then serves
 * lanes of runs (`ServeLane`). Its log lines go only into the reports: the
 * run decides where they go.
 */
import * as Remote from "@curator/core/Remote"
import * as WorkerRunner from "@effect/platform/WorkerRunner"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import { Deferred, Effect, Layer, Logger, Option, Scope, Stream } from "effect"
import * as NodeHost from "../NodeHost.js"
import * as PipelineModule from "../PipelineModule.js"
import * as SharedUnits from "./sharedUnits.js"
import { WorkerRequest } from "./workerProtocol.js"

type Server = (request: Remote.ComputeRequest) => Effect.Effect<Remote.IndexReport>

const WorkerLive = Layer.unwrapScoped(Effect.gen(function*() {
  // The thread's lifetime: the pipeline's services are built into it and released when the pool closes the thread.
  const lifetime = yield* Effect.scope
  const prepared = yield* Deferred.make<Server>()

  return WorkerRunner.layerSerialized(WorkerRequest, {
    Prepare: ({ exportName, module }) =>
      Effect.gen(function*() {
        const pipeline = yield* PipelineModule.load({ module, exportName })
        const server = yield* Remote.makeIndexServer(pipeline).pipe(
          Scope.extend(lifetime),
          Effect.catchAllCause((cause) =>
            Effect.fail(new PipelineModule.PipelineModuleError({
              reason: "ImportFailed",
              module,
              message: `building the services of the pipeline in ${module} failed: ${String(cause)}`
            }))
          )
        )
        yield* Deferred.succeed(prepared, server)
        return { configHash: pipeline.configHash }
      }),
    ServeLane: ({ first, lane, logLevel, measureOutputs, resume, tracing, units, workerId }) =>
      Stream.unwrap(Effect.map(Deferred.poll(prepared), (ready) => {
        if (Option.isNone(ready)) return Stream.dieMessage("ServeLane before Prepare")
        const upcoming = SharedUnits.indicesFor(units, lane, first)
        let inFlight: number | undefined
        // One step per pull: the runner sends each step before pulling the next,
        // so the parent hears that an index started before it is computed.
        return Stream.repeatEffectOption(Effect.flatMap(ready.value, (server) => {
          const computed = inFlight === undefined
            ? Effect.succeed(null)
            : server({ index: inFlight, workerId, logLevel, tracing, resume, measureOutputs, probe: SharedUnits.probeOf(units, lane, inFlight) })
          return Effect.flatMap(computed, (report) => {
            if (report?._tag === "Failure") SharedUnits.countFailure(units)
            const next = upcoming.next()
            inFlight = next.done === true ? undefined : next.value
            return report === null && inFlight === undefined
              ? Effect.fail(Option.none())
              : Effect.succeed({ report, started: inFlight ?? null })
          })
        }))
      }))
  })
})).pipe(Layer.provide(NodeWorkerRunner.layer))

WorkerRunner.launch(WorkerLive).pipe(
  // The platform (host facts and files): stateful filters write their shards from here.
  Effect.provide(NodeHost.platform),
  // No console output from a thread: its lines travel in the reports.
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)),
  NodeRuntime.runMain({ disablePrettyLogger: true, disableErrorReporting: true })
)

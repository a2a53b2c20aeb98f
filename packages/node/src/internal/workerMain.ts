/**
 * The entry of a worker thread of the worker-thread backend: it loads the
 * pipeline module once (`Prepare`), then serves lanes of runs (`ServeLane`).
 */
import { IndexReport, type Pipeline } from "@curator/core"
import * as WorkerRunner from "@effect/platform/WorkerRunner"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import { Effect, Layer, Option, Stream } from "effect"
import * as PipelineModule from "../PipelineModule.js"
import * as SharedUnits from "./sharedUnits.js"
import { WorkerRequest } from "./workerProtocol.js"

let prepared: Pipeline.Pipeline<unknown, unknown> | undefined

const WorkerLive = WorkerRunner.layerSerialized(WorkerRequest, {
  Prepare: ({ exportName, module }) =>
    PipelineModule.load({ module, exportName }).pipe(
      Effect.map((pipeline) => {
        prepared = pipeline
        return { configHash: pipeline.configHash }
      })
    ),
  ServeLane: ({ first, lane, logLevel, units, workerId }) => {
    if (prepared === undefined) return Stream.dieMessage("ServeLane before Prepare")
    const pipeline = prepared
    const upcoming = SharedUnits.indicesFor(units, lane, first)
    let inFlight: number | undefined
    // One step per pull: the runner sends each step before pulling the next,
    // so the parent hears that an index started before it is computed.
    return Stream.repeatEffectOption(Effect.suspend(() => {
      const computed = inFlight === undefined
        ? Effect.succeed(null)
        : IndexReport.compute(pipeline, inFlight, workerId, logLevel) as Effect.Effect<IndexReport.IndexReport>
      return Effect.flatMap(computed, (report) => {
        const next = upcoming.next()
        inFlight = next.done === true ? undefined : next.value
        return report === null && inFlight === undefined
          ? Effect.fail(Option.none())
          : Effect.succeed({ report, started: inFlight ?? null })
      })
    }))
  }
}).pipe(Layer.provide(NodeWorkerRunner.layer))

NodeRuntime.runMain(WorkerRunner.launch(WorkerLive))

/**
 * The entry of a worker thread of the worker-thread backend: it loads the
 * pipeline module once (`Prepare`), then computes the indices it is sent.
 */
import { IndexReport, type Pipeline } from "@curator/core"
import * as WorkerRunner from "@effect/platform/WorkerRunner"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import { Effect, Layer, Stream } from "effect"
import * as PipelineModule from "../PipelineModule.js"
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
  ComputeIndices: ({ indices, logLevel, workerId }) =>
    prepared === undefined
      ? Stream.dieMessage("ComputeIndices before Prepare")
      : Stream.mapEffect(
        Stream.fromIterable(indices),
        (index) => IndexReport.compute(prepared!, index, workerId, logLevel) as Effect.Effect<IndexReport.IndexReport>
      )
}).pipe(Layer.provide(NodeWorkerRunner.layer))

NodeRuntime.runMain(WorkerRunner.launch(WorkerLive))

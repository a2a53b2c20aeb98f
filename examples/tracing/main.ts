/**
 * Curator's spans printed to the console: the quickstart pipeline run under
 * OpenTelemetry's Node SDK with a console exporter. Swap the exporter (or
 * use `OtlpTracing.layer` from `@curator/node`) to send them to a collector.
 *
 *   npx tsx --conditions @curator/source examples/tracing/main.ts
 */
import { Pipeline } from "@curator/core"
import { NodeCurator } from "@curator/node"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { NodeRuntime } from "@effect/platform-node"
import { ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import { pipeline } from "../quickstart/pipeline.js"

const TracingLive = NodeSdk.layer(() => ({
  resource: { serviceName: "curator-example" },
  spanProcessor: new SimpleSpanProcessor(new ConsoleSpanExporter())
}))

const program = Pipeline.run(Pipeline.withOptions(pipeline, { resume: false }), { indices: [0, 1, 2] }).pipe(
  Effect.provide(NodeCurator.layer()),
  Effect.provide(TracingLive)
)

NodeRuntime.runMain(program)

/** The run option `gather: true`: the gather a run does once every index it was asked for has run. */
import { Effect } from "effect"
import type { Checkpoint } from "../CheckpointStore.js"
import { gatherInto } from "../Gather.js"
import type { Pipeline } from "./pipeline.js"
import type { RunOptions } from "../RunOptions.js"
import { asFramework } from "./logCapture.js"

export const gatherAtEnd = (pipeline: Pipeline<any, any, any>, checkpoint: Checkpoint, options: RunOptions) =>
  Effect.flatMap(gatherInto(pipeline, checkpoint, { keepShards: options.keepShards }), (gathered) =>
    Effect.forEach(gathered, (g) =>
      asFramework(Effect.logInfo(`gathered ${g.shards} shard(s) of ${g.filterName} into ${g.path} (${g.indices} indices)`)), {
      discard: true
    }))

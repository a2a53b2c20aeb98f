/**
 * Curator's defaults on Node in one layer: checkpoints in SQLite files
 * (placed as SPEC.md says) and the fibers backend.
 *
 * @example
 * Pipeline.run(pipeline, { concurrency: 4 }).pipe(Effect.provide(NodeCurator.layer()))
 */
import { Backend, type CheckpointStore } from "@curator/core"
import type { SqlCheckpoint } from "@curator/sql"
import { Layer } from "effect"
import * as SqliteCheckpointStore from "./SqliteCheckpointStore.js"

/** SQLite checkpoints and the fibers backend. */
export const layer = (
  options: SqlCheckpoint.Options = {}
): Layer.Layer<CheckpointStore.CheckpointStore | Backend.Backend> =>
  Layer.merge(SqliteCheckpointStore.layer(options), Backend.layerFibers)

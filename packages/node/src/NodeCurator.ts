/**
 * Curator's defaults on Node in one layer: checkpoints in SQLite files
 * (placed as SPEC.md says), the fibers backend, and the platform services
 * core reads host facts and files through.
 *
 * @example
 * Pipeline.run(pipeline, { concurrency: 4 }).pipe(Effect.provide(NodeCurator.layer()))
 */
import { Backend, type CheckpointStore, type Host } from "@curator/core"
import type { FileSystem } from "@effect/platform"
import type { SqlCheckpoint } from "@curator/sql"
import { Layer } from "effect"
import * as NodeHost from "./NodeHost.js"
import * as SqliteCheckpointStore from "./SqliteCheckpointStore.js"

/** SQLite checkpoints, the fibers backend, and this process's host facts and file system. */
export const layer = (
  options: SqlCheckpoint.Options = {}
): Layer.Layer<
  CheckpointStore.CheckpointStore | Backend.Backend | Backend.LocalBackend | Host.Host | FileSystem.FileSystem
> => Layer.mergeAll(SqliteCheckpointStore.layer(options), Backend.layerFibers, platform)

/**
 * What core reads from the platform: the host facts (pid, host name, CPUs,
 * memory) and the file system (output checks). Provide it beside any other
 * store or backend.
 */
export const platform: Layer.Layer<Host.Host | FileSystem.FileSystem> = NodeHost.platform

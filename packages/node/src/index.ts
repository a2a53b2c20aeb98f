/**
 * `@curator/node`: Curator on Node with what every user needs — SQLite
 * checkpoints on disk, file sinks, worker threads and pipeline modules.
 * What needs an optional package has an entry point of its own, so that
 * importing this one never loads (or requires installing) it:
 * `@curator/node/postgres`, `/cluster`, `/otlp` and `/dashboard`.
 */
export * as ConfigDiff from "./ConfigDiff.js"
export * as DatabaseLocation from "./DatabaseLocation.js"
export * as FileSink from "./FileSink.js"
export * as NodeCurator from "./NodeCurator.js"
export * as NodeHost from "./NodeHost.js"
export * as PipelineModule from "./PipelineModule.js"
export * as ProgressDisplay from "./cli/ProgressDisplay.js"
export * as SqliteCheckpointStore from "./SqliteCheckpointStore.js"
export * as WorkerBackend from "./WorkerBackend.js"

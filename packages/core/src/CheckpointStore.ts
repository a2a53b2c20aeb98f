/**
 * The checkpoint-store contract: where a run records each index's outcome,
 * timing, memory, worker, outputs and logs, and finds on restart what is
 * already done. `layerMemory` is a complete in-memory store for tests; the
 * SQL store (`@curator/sql`) and SQLite files (`@curator/node`) persist.
 */
import { Layer } from "effect"
import * as MemoryStore from "./internal/memoryStore.js"
import { CheckpointStore } from "./internal/storeContract.js"

export * from "./internal/storeContract.js"

/**
 * A complete, correct store kept in memory: resume, failures, workers, logs
 * and every query behave as with a database, for the life of the layer.
 */
export const layerMemory: Layer.Layer<CheckpointStore> = Layer.sync(CheckpointStore, MemoryStore.make)

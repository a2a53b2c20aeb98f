/**
 * The checkpoint-store contract, run against every store Curator ships: the
 * in-memory store and SQLite files on disk (each test in its own temporary
 * directory).
 */
import { CheckpointStore } from "@curator/core"
import { SqliteCheckpointStore } from "@curator/node"
import { checkpointStoreContract } from "./CheckpointStoreContract.js"

checkpointStoreContract("memory", () => CheckpointStore.layerMemory)

checkpointStoreContract("SQLite file", () => SqliteCheckpointStore.layer())

/**
 * The checkpoint-store contract, run against every store Curator ships: the
 * in-memory store, SQLite files on disk (each test in its own temporary
 * directory) and PostgreSQL (each test in a fresh database of its own).
 */
import { CheckpointStore } from "@curator/core"
import { SqliteCheckpointStore } from "@curator/node"
import { PgCheckpointStore } from "@curator/node/postgres"
import { describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { freshDatabase, postgresUrl, skipReason } from "../packages/node/test/postgres.js"
import { checkpointStoreContract } from "./CheckpointStoreContract.js"

checkpointStoreContract("memory", () => CheckpointStore.layerMemory)

checkpointStoreContract("SQLite file", () => SqliteCheckpointStore.layer())

if (postgresUrl !== undefined) {
  const serverUrl = postgresUrl
  checkpointStoreContract(
    "PostgreSQL",
    () => Layer.unwrapScoped(Effect.map(Effect.orDie(freshDatabase(serverUrl)), (url) => PgCheckpointStore.layer({ url }))),
    // One schema per database SPEC.md names; a server has no dbDir.
    (location, _dbDir, name) => new RegExp(`^postgresql://[^#]+#${name}$`).test(location)
  )
} else {
  describe("CheckpointStore contract: PostgreSQL", () => {
    it.skip(`the whole contract (${skipReason})`, () => {})
  })
}

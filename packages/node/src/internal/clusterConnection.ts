/**
 * How a process joins the cluster: @effect/cluster over TCP sockets
 * (msgpack), with its messages and runner registry stored in PostgreSQL.
 * Runners serve shards; a submitting process is a client only.
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgClient } from "@effect/sql-pg"
import { Backend } from "@curator/core"
import { Effect, Layer, Option, Redacted } from "effect"
import { describeServer } from "../PgCheckpointStore.js"
import { shardingConfig } from "./clusterProtocol.js"

const migrationLock = "SELECT pg_advisory_lock(hashtext('curator cluster migrations'))"
const migrationUnlock = "SELECT pg_advisory_unlock(hashtext('curator cluster migrations'))"

/**
 * The cluster's message and runner storage in PostgreSQL. Their migrations
 * run when the layer is built, and two processes starting at once on a new
 * database would both create the tables; a session advisory lock makes them
 * take turns.
 */
const storage = (config: Partial<ShardingConfig.ShardingConfig["Type"]>) =>
  Layer.scopedContext(Effect.gen(function*() {
    const scope = yield* Effect.scope
    const sql = yield* SqlClient.SqlClient
    const storages = Layer.merge(SqlMessageStorage.layer, SqlRunnerStorage.layer).pipe(
      Layer.provide(ShardingConfig.layerFromEnv(config))
    )
    return yield* Effect.scoped(Effect.gen(function*() {
      const connection = yield* sql.reserve
      yield* Effect.acquireRelease(
        connection.executeRaw(migrationLock, []),
        () => Effect.ignore(connection.executeRaw(migrationUnlock, []))
      )
      return yield* Layer.buildWithScope(storages, scope)
    }))
  }))

const postgresClient = (url: Redacted.Redacted<string>) => PgClient.layer({ url, applicationName: "curator-cluster" })

/** Where a runner listens, as the other processes reach it. */
export interface Address {
  readonly host: string
  readonly port: number
}

/** Why joining failed, as a `BackendError` that says what to do. */
const joinFailure = (url: Redacted.Redacted<string>, address?: Address) => (error: { readonly _tag: string; readonly message: string; readonly cause?: unknown }) => {
  const detail = error.cause instanceof Error ? error.cause.message : error.message
  const message = error._tag === "SqlError"
    ? `cannot use the cluster's PostgreSQL database at ${describeServer(url)} (${detail}); check --postgres and that the server is running`
    : error._tag === "SocketServerError" && address !== undefined
    ? `cannot listen on ${address.host}:${address.port} (${detail}); choose another --port, or a --host of this machine`
    : `cannot join the cluster: ${detail}`
  return new Backend.BackendError({ backend: "cluster", message })
}

/** A runner: serves shards at `address`; the cluster's state is in the PostgreSQL database at `url`. */
export const runner = (url: Redacted.Redacted<string>, address: Address) => {
  const config = { ...shardingConfig, runnerAddress: Option.some(RunnerAddress.make(address.host, address.port)) }
  return NodeClusterSocket.layer({ storage: "byo", shardingConfig: config }).pipe(
    Layer.provide(storage(config)),
    Layer.provide(postgresClient(url)),
    Layer.mapError(joinFailure(url, address))
  )
}

/** A client of the cluster: sends messages to entities, serves no shard. */
export const client = (url: Redacted.Redacted<string>) =>
  NodeClusterSocket.layer({ clientOnly: true, storage: "byo", shardingConfig }).pipe(
    Layer.provide(storage(shardingConfig)),
    Layer.provide(postgresClient(url)),
    Layer.mapError(joinFailure(url))
  )

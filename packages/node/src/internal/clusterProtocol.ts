/**
 * What the submitting process and the runners of a cluster say to each
 * other: batches of indices go to runners as persisted messages of the
 * `CuratorIndexBatch` entity (one entity per batch, spread over the shards),
 * and the reports of their indices come back as the reply. While a batch
 * runs, the submitter polls its runner for the indices in flight (`Progress`),
 * for their heartbeats and the stall watchdog.
 */
import { IndexReport } from "@curator/core/Remote"
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import type * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as Rpc from "@effect/rpc/Rpc"
import { Schema } from "effect"
import { LogLevelName } from "./workerProtocol.js"

/** The worker of a runner that computed an index: registered by the submitter as a lane of the run. */
export const RemoteWorker = Schema.Struct({
  workerId: Schema.String,
  pid: Schema.Number,
  hostname: Schema.String,
  startedAt: Schema.String
})

/** One index of a batch, computed: by which worker, and its report. */
export const ComputedIndex = Schema.Struct({
  index: Schema.Number,
  worker: RemoteWorker,
  report: IndexReport
})

/**
 * An index of a batch in flight on a runner: its worker, the items it
 * produced so far (this attempt), the stage running, and how long the
 * runner has seen both unchanged (milliseconds, by the runner's clock).
 */
export const IndexInFlight = Schema.Struct({
  index: Schema.Number,
  worker: RemoteWorker,
  items: Schema.Number,
  stage: Schema.Number,
  quietMs: Schema.Number
})

/** What a runner says of a batch: whether it computes it now, and its indices in flight. */
export const BatchProgress = Schema.Struct({
  running: Schema.Boolean,
  indices: Schema.Array(IndexInFlight)
})

/** A runner cannot compute a batch at all (another pipeline, a broken local backend); the message says why. */
export class RunnerRefused extends Schema.TaggedError<RunnerRefused>()("RunnerRefused", {
  message: Schema.String
}) {}

const batchFields = {
  /** Unique per batch of a run call; the message's primary key. */
  batchId: Schema.String,
  /** The run's pipeline; a runner serving another one refuses the batch. */
  configHash: Schema.String,
  /** The run call, so that a runner keeps one set of workers per call. */
  invocationId: Schema.String,
  units: Schema.Array(Schema.Array(Schema.Number)),
  logLevel: LogLevelName,
  /** The run traces: runners record the stages' spans into each report. */
  tracing: Schema.Boolean,
  /** The run resumes: stateful filters claim what earlier shards count. */
  resume: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /**
   * The run's error budget (failures): a runner stops computing the run's
   * indices once that many of those it computed failed, as threads do (they
   * run ahead of the submitter's records).
   */
  failureBudget: Schema.optional(Schema.Number),
  /** What the run records of each output, measured on the runner (`verifyOutputs: "size" | "content"`). */
  measureOutputs: Schema.optional(Schema.Literal("size", "content"))
}

/** What a batch message carries. */
export type Batch = Schema.Struct.Type<typeof batchFields>

/**
 * A batch of whole units (a unit's indices run in order on one worker).
 * `Compute` is persisted: stored in PostgreSQL before delivery, so that a
 * batch whose runner dies is delivered again to the runner that takes over
 * its shard. `Stop` (not stored) tells the runner holding the batch that the
 * run stops gracefully: it starts no other index of that run call, finishes
 * those in flight and replies with them. `Progress` (not stored either)
 * asks the runner holding the batch what it computes now; a runner that
 * has not started it (or already answered) says it is not running.
 */
export const IndexBatch = Entity.make("CuratorIndexBatch", [
  Rpc.make("Compute", {
    payload: batchFields,
    success: Schema.Array(ComputedIndex),
    error: RunnerRefused,
    primaryKey: ({ batchId }) => batchId
  }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Stop", { payload: { invocationId: Schema.String } }),
  Rpc.make("Progress", { payload: { batchId: Schema.String }, success: BatchProgress })
])

/**
 * Sharding settings shared by runners and submitters (they must agree on
 * the shard count, or messages wait for shards nobody owns). A dead runner
 * is noticed within seconds: health pings every 2 s, heartbeats every 2 s
 * that expire after 10 s (a runner frozen that long counts as dead; its
 * batches are computed again elsewhere and recorded once), and every
 * process reads the shard assignments each second.
 */
export const shardingConfig: Partial<ShardingConfig.ShardingConfig["Type"]> = {
  shardsPerGroup: 60,
  refreshAssignmentsInterval: "1 second",
  runnerHealthCheckInterval: "2 seconds",
  shardLockRefreshInterval: "2 seconds",
  shardLockExpiration: "10 seconds",
  entityMessagePollInterval: "1 second",
  entityReplyPollInterval: "100 millis",
  entityMaxIdleTime: "10 seconds"
}

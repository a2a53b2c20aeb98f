/**
 * The cluster backend: one run computed by runner processes on any number
 * of machines (see `ClusterRunner`), coordinated by @effect/cluster with its
 * state in PostgreSQL. The submitting process decides what runs (completed
 * indices never leave it), sends the rest as batches — persisted messages, so
 * a batch whose runner dies is delivered again to another runner — and is
 * the only writer of the checkpoint: each index is recorded once, when its
 * report comes back, with the worker (id, pid, host) that computed it.
 *
 * @example
 * Pipeline.run(pipeline).pipe(
 *   Effect.provide(ClusterBackend.layer({ postgres: url })),
 *   Effect.provide(PgCheckpointStore.layer({ url }))
 * )
 */
import { Backend } from "@curator/core"
import * as Remote from "@curator/core/Remote"
import type { Sharding } from "@effect/cluster/Sharding"
import { Effect, Layer, Redacted, type Scope } from "effect"
import * as Connection from "./internal/clusterConnection.js"
import { IndexBatch } from "./internal/clusterProtocol.js"

/** Where the cluster lives, and how indices are grouped into messages. */
export interface Options {
  /** The PostgreSQL database holding the cluster's messages and runners (the runners' `--postgres`). */
  readonly postgres: string | Redacted.Redacted<string>
  /**
   * Indices per message (whole units). By default about 1/32 of the run,
   * from 1 to 64: enough messages to spread over the runners (by the hash
   * of their ids), few enough that a message's cost (tens of ms through
   * PostgreSQL) stays small per index. A batch whose runner dies is
   * computed again whole.
   */
  readonly batchSize?: number | undefined
}

const defaultBatchSize = (indices: number) => Math.min(64, Math.max(1, Math.ceil(indices / 32)))

/** Groups whole units into batches of about `size` indices. */
const batchesOf = (units: Remote.Units, size: number): Array<Array<ReadonlyArray<number>>> => {
  const batches: Array<Array<ReadonlyArray<number>>> = []
  let current: Array<ReadonlyArray<number>> = []
  let count = 0
  for (let k = 0; k < units.count; k++) {
    const unit = units.indicesOf(k)
    if (count > 0 && count + unit.length > size) {
      batches.push(current)
      current = []
      count = 0
    }
    current.push(unit)
    count += unit.length
  }
  if (count > 0) batches.push(current)
  return batches
}

/** Batches sent and not yet answered, at most: far more than the runners compute at once. */
const batchesInFlight = 256

const backendError = (message: string) => new Backend.BackendError({ backend: "cluster", message })

/** The backend, as a client of the cluster in context. */
export const make = (options: Pick<Options, "batchSize"> = {}): Effect.Effect<Backend.Backend["Type"], never, Sharding | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* IndexBatch.client

    const execute = <E, R>(work: Backend.Work<E, R>): Effect.Effect<void, E | Backend.BackendError, R> =>
      Effect.gen(function*() {
        const invocationId = Backend.newId()
        const batches = batchesOf(work.units, options.batchSize ?? defaultBatchSize(work.units.size))
        const tracing = yield* Remote.tracingEnabled
        // Each runner worker is registered once, the first time one of its reports arrives.
        const lanes = new Map<string, Backend.Lane>()
        const registering = yield* Effect.makeSemaphore(1)
        const laneOf = (worker: Backend.RemoteWorker) =>
          registering.withPermits(1)(Effect.suspend(() => {
            const known = lanes.get(worker.workerId)
            return known !== undefined
              ? Effect.succeed(known)
              : Effect.tap(work.openRemoteLane(worker), (lane) => Effect.sync(() => lanes.set(worker.workerId, lane)))
          }))

        // Batches sent and not answered yet: on a graceful stop each is told, so
        // that its runner starts no other index of the run (those in flight
        // finish and come back); a batch not sent yet is never sent.
        const outstanding = new Set<string>()
        yield* Effect.forkScoped(Effect.zipRight(
          work.stopped,
          Effect.suspend(() =>
            Effect.forEach(outstanding, (batchId) =>
              // A runner that cannot be told finishes the batch: it is recorded all the same.
              Effect.ignore(Effect.timeout(client(batchId).Stop({ invocationId }), "10 seconds")), { concurrency: 16, discard: true })
          )
        ))

        const sendBatch = (units: ReadonlyArray<ReadonlyArray<number>>, n: number) => {
          if (work.stopRequested()) return Effect.void
          const batchId = `${invocationId}-${n}`
          outstanding.add(batchId)
          return client(batchId).Compute({
            batchId,
            configHash: work.configHash,
            invocationId,
            units,
            logLevel: work.logLevel,
            tracing,
            resume: work.resume ?? false,
            failureBudget: work.failureBudget,
            measureOutputs: work.measureOutputs
          }).pipe(
            Effect.catchAll((error) =>
              Effect.fail(backendError(error._tag === "RunnerRefused" ? error.message : `sending a batch failed: ${error.message}`))
            ),
            Effect.tap(() => Effect.sync(() => outstanding.delete(batchId))),
            Effect.flatMap((computed) =>
              Effect.forEach(computed, ({ index, report, worker }) =>
                Effect.flatMap(laneOf(worker), (lane) => work.processElsewhere(index, lane, Effect.succeed(report))), { discard: true })
            )
          )
        }
        // Batches wait stored in PostgreSQL until their runner takes them; a
        // bounded number is out at once, so a huge run does not poll for
        // thousands of replies together.
        yield* Effect.forEach(batches, sendBatch, { concurrency: batchesInFlight, discard: true })
      }).pipe(Effect.scoped)

    return { name: "cluster", execute }
  })

/** The cluster backend: joins the cluster at `options.postgres` as a client when the layer is built. */
export const layer = (options: Options): Layer.Layer<Backend.Backend, Backend.BackendError> =>
  Layer.scoped(Backend.Backend, make(options)).pipe(
    Layer.provide(Connection.client(Redacted.isRedacted(options.postgres) ? options.postgres : Redacted.make(options.postgres)))
  )

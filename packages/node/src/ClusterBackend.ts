/**
 * The cluster backend: one run computed by runner processes on any number
 * of machines (see `ClusterRunner`), coordinated by @effect/cluster with its
 * state in PostgreSQL. The submitting process decides what runs (completed
 * indices never leave it), sends the rest as batches — persisted messages, so
 * a batch whose runner dies is delivered again to another runner — and is
 * the only writer of the checkpoint: each index is recorded once, when its
 * report comes back, with the worker (id, pid, host) that computed it.
 * While a batch is out, its runner is polled for the indices it computes
 * (`Progress`), which the run then shows in flight: heartbeats with their
 * items so far, and the stall watchdog.
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
import { Deferred, Duration, Effect, Fiber, Layer, Redacted, Scope } from "effect"
import * as Connection from "./internal/clusterConnection.js"
import { type ComputedIndex, IndexBatch } from "./internal/clusterProtocol.js"

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

/**
 * An index the submitter saw start on a runner before its batch answered:
 * it is shown in flight (`processElsewhere` on its worker's lane) until the
 * report arrives with the batch's reply.
 */
interface SeenStarted<E> {
  readonly workerId: string
  readonly report: Deferred.Deferred<Remote.IndexReport>
  /** The last progress polled; undefined once given up (the run's watchdog then leaves it alone). */
  progress: Remote.Reading | undefined
  fiber: Fiber.RuntimeFiber<void, E> | undefined
}

/** A batch not started yet is polled less and less often, down to once per this many intervals. */
const slowestPoll = 8

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
        // Each runner worker is registered once, the first time it is seen (computing an index, or in a reply).
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

        const runScope = yield* Effect.scope
        /**
         * Polls the runner of a batch for its indices in flight, every
         * `interval` while it computes (backing off while it has not started),
         * and shows each new one in flight on its worker's lane. Ended when
         * the batch answers.
         */
        const watchBatch = (batchId: string, interval: Duration.Duration, seen: Map<number, SeenStarted<E>>) =>
          Effect.gen(function*() {
            let backoff = 1
            while (true) {
              yield* Effect.sleep(Duration.times(interval, backoff))
              const polled = yield* Effect.either(Effect.timeout(client(batchId).Progress({ batchId }), "10 seconds"))
              if (polled._tag === "Left" || !polled.right.running) {
                backoff = Math.min(slowestPoll, backoff * 2)
                continue
              }
              backoff = 1
              for (const { index, worker, ...progress } of polled.right.indices) {
                const known = seen.get(index)
                // (Seen on another worker: the batch was delivered again after its runner died; the reply decides.)
                if (known !== undefined) {
                  if (known.workerId === worker.workerId) known.progress = progress
                  continue
                }
                const lane = yield* laneOf(worker)
                const entry: SeenStarted<E> = { workerId: worker.workerId, report: yield* Deferred.make<Remote.IndexReport>(), progress, fiber: undefined }
                seen.set(index, entry)
                // Not interrupted between the fork and keeping its fiber: the reply must find it to complete or give it up.
                // (The fiber itself can be interrupted: it would start uninterruptible, as its parent is here.)
                const shown = Effect.interruptible(work.processElsewhere(index, lane, Deferred.await(entry.report), () => entry.progress))
                yield* Effect.uninterruptible(Effect.flatMap(
                  Effect.forkIn(shown, runScope),
                  (fiber) => Effect.sync(() => void (entry.fiber = fiber))
                ))
              }
            }
          })

        /** Gives up an index shown in flight that this reply does not record (on this worker): not recorded, no longer watched. */
        const giveUp = (entry: SeenStarted<E>) =>
          Effect.suspend(() => {
            entry.progress = undefined
            return entry.fiber === undefined ? Effect.void : Fiber.interrupt(entry.fiber)
          })

        /** The batch's reply: each index recorded once, on the lane it was shown on when that is its worker's. */
        const recordReply = (computed: ReadonlyArray<typeof ComputedIndex.Type>, seen: Map<number, SeenStarted<E>>) =>
          Effect.gen(function*() {
            for (const { index, report, worker } of computed) {
              const entry = seen.get(index)
              seen.delete(index)
              if (entry !== undefined && entry.workerId === worker.workerId && entry.fiber !== undefined) {
                yield* Deferred.succeed(entry.report, report)
                yield* Fiber.join(entry.fiber)
                continue
              }
              if (entry !== undefined) yield* giveUp(entry)
              yield* work.processElsewhere(index, yield* laneOf(worker), Effect.succeed(report))
            }
            // Started by a runner that died, and not again by the one that took the batch over (a stop): not run.
            for (const entry of seen.values()) yield* giveUp(entry)
          })

        const sendBatch = (units: ReadonlyArray<ReadonlyArray<number>>, n: number) => {
          if (work.stopRequested()) return Effect.void
          const batchId = `${invocationId}-${n}`
          outstanding.add(batchId)
          const seen = new Map<number, SeenStarted<E>>()
          const watching = work.progressInterval === undefined
            ? Effect.void
            : Effect.asVoid(Effect.forkScoped(watchBatch(batchId, work.progressInterval, seen)))
          return Effect.zipRight(watching, client(batchId).Compute({
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
            Effect.tap(() => Effect.sync(() => outstanding.delete(batchId)))
          )).pipe(
            // The polls end with the reply (the batch's scope), before its indices are recorded.
            Effect.scoped,
            Effect.flatMap((computed) => recordReply(computed, seen)),
            // A failed batch fails the run; what it showed in flight is not recorded.
            Effect.onError(() => Effect.forEach(seen.values(), giveUp, { discard: true }))
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

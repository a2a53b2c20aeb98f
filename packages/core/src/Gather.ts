/**
 * Gathering: merging the shards of every stateful filter (`Filter.stateful`)
 * of a pipeline into its base path, for the runs recorded in one checkpoint.
 * For each stateful filter, the inputs are the shards recorded in
 * `filter_artifacts` (a missing one is an error naming the shared-file-system
 * assumption), plus, for a stable database (`resume: true`), the shards of
 * this configuration found beside the base path — those of runs killed
 * before they recorded anything — and a file an earlier gather wrote. The
 * merged state is written atomically to the base path, the filter's rows
 * are replaced by one row for it (idx 0) in one transaction, and the shards
 * are deleted unless `keepShards`. The gathered file lists the shards it
 * absorbed, so gathering again (or after a crash midway) counts none twice.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Effect, Schema } from "effect"
import type { Checkpoint, CheckpointError } from "./CheckpointStore.js"
import type { Stateful } from "./Filter.js"
import * as IndexSet from "./IndexSet.js"
import {
  basenameOf,
  decodeState,
  type Envelope,
  fromRanges,
  gatheredPathOf,
  listEnvelopes,
  readEnvelope,
  removeTemporaries,
  ShardError,
  type StatefulStage,
  statefulStages,
  toRanges,
  writeAtomic
} from "./internal/stateful.js"
import type { Pipeline } from "./internal/pipeline.js"

export { ShardError }

/** Options of a gather. */
export interface GatherOptions {
  /** Keep the shard files after merging them (they are never counted twice). Defaults to false. */
  readonly keepShards?: boolean | undefined
}

/** What gathering one stateful filter did. */
export interface Gathered {
  readonly filterName: string
  /** The filter's 0-based position, as `filter_artifacts` records it. */
  readonly filterOrder: number
  /** The merged file (the filter's base path; a `{worker}` template without its placeholder). */
  readonly path: string
  /** How many shards were merged into it this time. */
  readonly shards: number
  /** How many indices the merged state counts. */
  readonly indices: number
  /** The merged state. */
  readonly state: unknown
}

const gatherStage = (
  pipeline: Pipeline<unknown, unknown, boolean>,
  checkpoint: Checkpoint,
  stage: StatefulStage,
  options: GatherOptions
): Effect.Effect<Gathered, ShardError | CheckpointError> =>
  Effect.gen(function*() {
    const { filterName, filterOrder, spec } = stage
    const stable = pipeline.options.resume
    const target = gatheredPathOf(spec.path)
    const inputs = new Map<string, Envelope>()
    const rows = (yield* checkpoint.artifacts(filterName)).filter((row) => row.filterOrder === filterOrder)
    for (const path of new Set(rows.map((row) => row.path))) inputs.set(path, yield* readEnvelope(path))
    if (stable) {
      for (const found of yield* listEnvelopes(spec.path)) {
        if (found.envelope.configHash === pipeline.configHash && found.envelope.database === "stable") {
          inputs.set(found.path, found.envelope)
        }
      }
    }
    const earlier = inputs.get(target)
    const absorbed = new Set(earlier?.absorbed ?? [])
    let state: unknown = earlier === undefined ? spec.initial : yield* decodeState(spec, target, earlier)
    const indices = earlier === undefined ? IndexSet.empty() : fromRanges(earlier.indices)
    const merged: Array<string> = []
    for (const [path, envelope] of [...inputs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (path === target || envelope.format !== "curator-shard/1") continue
      if (absorbed.has(basenameOf(path))) {
        merged.push(path) // merged by an earlier gather that did not get to delete it
        continue
      }
      const counted = fromRanges(envelope.indices)
      for (const index of counted) {
        if (indices.has(index)) {
          return yield* new ShardError({
            reason: "Overlap",
            path,
            message: `index ${index} is counted both in ${path} and in another shard of ${filterName}; were shards copied from another database? move the foreign shard away and gather again`
          })
        }
      }
      state = spec.merge(state, yield* decodeState(spec, path, envelope))
      for (const index of counted) indices.add(index)
      absorbed.add(basenameOf(path))
      merged.push(path)
    }
    const encoded = yield* Schema.encode(spec.state)(state).pipe(
      Effect.mapError((error) =>
        new ShardError({ reason: "WriteFailed", path: target, message: `the merged state of ${filterName} does not encode: ${error.message}` })
      )
    )
    const envelope: Envelope = {
      format: "curator-gathered/1",
      configHash: pipeline.configHash,
      database: stable ? "stable" : "fresh",
      filter: filterName,
      filterOrder,
      indices: toRanges(indices),
      absorbed: [...absorbed].sort(),
      state: encoded
    }
    // The merged file first, then the rows, then the shards: a crash between any two leaves a state the next gather completes.
    yield* writeAtomic(target, JSON.stringify(envelope))
    yield* checkpoint.replaceArtifacts(filterOrder, [{ path: target, index: 0, filterName, filterOrder }])
    if (options.keepShards !== true) {
      const fs = yield* fileSystemOf(target)
      yield* Effect.forEach(merged, (path) => Effect.ignore(fs.remove(path)), { discard: true })
    }
    yield* removeTemporaries(spec.path)
    return { filterName, filterOrder, path: target, shards: merged.length, indices: indices.size, state }
  })

const fileSystemOf = (path: string) =>
  Effect.flatMap(Effect.serviceOption(FileSystem.FileSystem), (option) =>
    option._tag === "Some"
      ? Effect.succeed(option.value)
      : Effect.fail(new ShardError({ reason: "NoFileSystem", path, message: "gathering needs a FileSystem: provide NodeCurator.layer" })))

/**
 * Gathers every stateful filter of `pipeline` recorded in `checkpoint` (see
 * the module's comment); a pipeline without stateful filters gathers nothing.
 */
export const gatherInto = <E, R, Tracked extends boolean>(
  pipeline: Pipeline<E, R, Tracked>,
  checkpoint: Checkpoint,
  options: GatherOptions = {}
): Effect.Effect<ReadonlyArray<Gathered>, ShardError | CheckpointError> =>
  Effect.forEach(
    statefulStages(pipeline.filters),
    (stage) => gatherStage(pipeline as Pipeline<unknown, unknown, boolean>, checkpoint, stage, options)
  ).pipe(Effect.withSpan("curator.gather", { attributes: { "curator.config_hash": pipeline.configHash } }))

/**
 * Reads the merged state a gather wrote for a stateful filter (from its base
 * path, or `path`), decoded with the filter's schema.
 */
export const readGathered = <A, S>(filter: Stateful<A, S>, path?: string): Effect.Effect<S, ShardError> =>
  Effect.suspend(() => {
    const file = path ?? gatheredPathOf(filter.stateful.path)
    return Effect.flatMap(readEnvelope(file), (envelope) => decodeState(filter.stateful, file, envelope))
  })

/**
 * The machinery of stateful filters (`Filter.stateful`): the state each
 * worker lane keeps, the shard each lane flushes after every successful
 * index, and the shard files' format, which `Gather` reads back.
 *
 * Exactly once, across crashes and resumes — how it is guaranteed:
 * 1. A lane folds an index into a pending copy of its state; only when the
 *    whole index succeeded (sink included) is the pending state written,
 *    atomically (temporary file, then rename), to the lane's shard, which
 *    lists every index its state counts. A failed index leaves nothing.
 * 2. The shard is written before the index's record is handed to the
 *    checkpoint, so an index recorded completed is always in some shard.
 * 3. In a resumed run (`resume: true`), each lane first reads every shard
 *    and gathered file of the stable database (same configuration, same
 *    template) and treats their indices as claimed: an index it computes
 *    again (never recorded because the process was killed between its flush
 *    and its record) passes its items through but is not folded a second
 *    time. The run's `resume` travels with each index to threads and
 *    runners, which load the pipeline module with its own options.
 * 4. So no two shards count the same index, and gathering merges them all;
 *    a gathered file lists the shards it absorbed, so a gather interrupted
 *    before it deleted them never counts them twice.
 * Shards live where the lane runs: every process of a run, and the one that
 * gathers, must see the same file system (a shared one for remote runners).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Context, Effect, Option, Schema } from "effect"
import * as IndexSet from "../IndexSet.js"
import type { ArtifactWritten, CurrentIndex } from "./context.js"

/** What a stateful filter declares beyond its name and params. */
export interface StatefulSpec<S, A> {
  /** The base path: `out/stats.json` (shards `out/stats_worker_<id>.json`) or a `{worker}` template. */
  readonly path: string
  /** How the state is written to shards (its encoded form must be JSON). */
  readonly state: Schema.Schema<S, any>
  readonly initial: S
  readonly step: (state: S, item: A) => S
  readonly merge: (left: S, right: S) => S
}

/** A spec with its types forgotten, as the run sees it. */
export type AnyStatefulSpec = StatefulSpec<any, any>

/** Writing or reading a shard or a gathered file failed; the message says which file and what to do. */
export class ShardError extends Schema.TaggedError<ShardError>()("ShardError", {
  reason: Schema.Literal("NoFileSystem", "Unreachable", "Damaged", "WriteFailed", "Overlap"),
  path: Schema.String,
  message: Schema.String
}) {}

const shardFormat = "curator-shard/1"
const gatheredFormat = "curator-gathered/1"

/** The JSON document of a shard (one lane's state) or of a gathered file (the merged state). */
export const Envelope = Schema.Struct({
  format: Schema.Literal(shardFormat, gatheredFormat),
  configHash: Schema.String,
  /** `stable` for the database of resumed runs, `fresh` for a run's own database. */
  database: Schema.Literal("stable", "fresh"),
  filter: Schema.String,
  filterOrder: Schema.Number,
  worker: Schema.optional(Schema.String),
  /** The indices the state counts, as inclusive ranges. */
  indices: Schema.Array(Schema.Tuple(Schema.Number, Schema.Number)),
  /** In a gathered file: the names of the shard files merged into it. */
  absorbed: Schema.optional(Schema.Array(Schema.String)),
  state: Schema.Unknown
})
export type Envelope = typeof Envelope.Type

const decodeEnvelope = Schema.decodeUnknownEither(Schema.parseJson(Envelope))

export const toRanges = (indices: Iterable<number>): Array<readonly [number, number]> => {
  const ranges: Array<[number, number]> = []
  for (const index of indices) {
    const last = ranges[ranges.length - 1]
    if (last !== undefined && last[1] === index - 1) last[1] = index
    else ranges.push([index, index])
  }
  return ranges
}

export const fromRanges = (ranges: Envelope["indices"]): IndexSet.IndexSet => {
  const set = IndexSet.empty()
  for (const [from, to] of ranges) for (let i = from; i <= to; i++) set.add(i)
  return set
}

// --- paths (POSIX-style separators: the same on every machine sharing the files) ---

const lastSlash = (path: string) => Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"))
export const dirnameOf = (path: string) => (lastSlash(path) < 0 ? "." : path.slice(0, lastSlash(path)) || "/")
export const basenameOf = (path: string) => path.slice(lastSlash(path) + 1)
const joinPath = (dir: string, name: string) => (dir === "." ? name : `${dir}/${name}`)
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const workerPlaceholder = "{worker}"

/** Checks a base path when the filter is built: a `{worker}` placeholder may appear only in the file name. */
export const checkTemplate = (filterName: string, path: string): void => {
  if (path.length === 0) throw new TypeError(`the stateful filter ${filterName} needs a non-empty path`)
  if (dirnameOf(path).includes(workerPlaceholder)) {
    throw new TypeError(`the stateful filter ${filterName}: put {worker} in the file name of ${path}, not in a folder`)
  }
}

/** Where the merged state goes: the base path, with the placeholder removed from a `{worker}` template. */
export const gatheredPathOf = (path: string): string => {
  const name = basenameOf(path)
  if (!name.includes(workerPlaceholder)) return path
  // The placeholder goes with one separator beside it: `stats_{worker}.json` and `{worker}-stats.json` give `stats.json`.
  const merged = name.replace(/[_.-]\{worker\}|\{worker\}[_-]?/, "") || "gathered.json"
  return joinPath(dirnameOf(path), merged)
}

/** A worker's shard: the template filled in, or `stem_worker_<id>.ext` beside the base path. */
export const shardPathOf = (path: string, workerId: string): string => {
  const name = basenameOf(path)
  if (name.includes(workerPlaceholder)) return joinPath(dirnameOf(path), name.replaceAll(workerPlaceholder, workerId))
  const dot = name.lastIndexOf(".")
  const shard = dot > 0 ? `${name.slice(0, dot)}_worker_${workerId}${name.slice(dot)}` : `${name}_worker_${workerId}`
  return joinPath(dirnameOf(path), shard)
}

/** Matches the file names of the shards of a base path (group 1: the worker id). */
export const shardNamePattern = (path: string): RegExp => {
  const marker = "\u0000"
  const name = basenameOf(shardPathOf(path, marker))
  return new RegExp(`^${escapeRegExp(name).replace(marker, "([0-9A-Za-z_-]+)")}$`)
}

// --- files ---

const fileSystem = (path: string) =>
  Effect.flatMap(
    Effect.serviceOption(FileSystem.FileSystem),
    Option.match({
      onNone: () =>
        Effect.fail(
          new ShardError({
            reason: "NoFileSystem",
            path,
            message: `a stateful filter writes its shards through a FileSystem, and none is provided: provide NodeCurator.layer (or a FileSystem layer)`
          })
        ),
      onSome: Effect.succeed
    })
  )

/** Writes a file atomically: a temporary file beside it, then a rename over it. */
export const writeAtomic = (path: string, text: string, makeFolder = true): Effect.Effect<void, ShardError> =>
  Effect.gen(function*() {
    const fs = yield* fileSystem(path)
    const temporary = `${path}.${Math.random().toString(16).slice(2, 10)}.tmp`
    yield* (makeFolder ? fs.makeDirectory(dirnameOf(path), { recursive: true }) : Effect.void).pipe(
      Effect.zipRight(fs.writeFileString(temporary, text)),
      Effect.zipRight(fs.rename(temporary, path)),
      Effect.tapError(() => Effect.ignore(fs.remove(temporary))),
      Effect.mapError((error) =>
        new ShardError({ reason: "WriteFailed", path, message: `writing ${path} failed (${error.message}); free space or fix permissions, then run again` })
      )
    )
  })

/** Reads a shard or gathered file; a missing one is `Unreachable` (naming the shared-file-system assumption). */
export const readEnvelope = (path: string): Effect.Effect<Envelope, ShardError> =>
  Effect.gen(function*() {
    const fs = yield* fileSystem(path)
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError(() =>
        new ShardError({
          reason: "Unreachable",
          path,
          message: `the shard ${path} cannot be read here: shards are written where each worker runs, so gather on a machine that sees every worker's files (a shared file system), or copy them there`
        })
      )
    )
    const decoded = decodeEnvelope(text)
    if (decoded._tag === "Left") {
      return yield* new ShardError({ reason: "Damaged", path, message: `${path} is not a Curator shard (${decoded.left.message.split("\n")[0]}); remove it or restore it` })
    }
    return decoded.right
  })

/** The folder of a base path: its files, and how its shards and gathered file are named. */
const folderOf = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* fileSystem(path)
    const dir = dirnameOf(path)
    const names = yield* Effect.orElseSucceed(fs.readDirectory(dir), () => [] as Array<string>)
    return { fs, dir, names, pattern: shardNamePattern(path), gathered: basenameOf(gatheredPathOf(path)) }
  })

/** The shard files (and the gathered file) of a base path present in its folder, with their envelopes. */
export const listEnvelopes = (path: string): Effect.Effect<ReadonlyArray<{ readonly path: string; readonly envelope: Envelope }>, ShardError> =>
  Effect.gen(function*() {
    const { dir, fs, gathered, names, pattern } = yield* folderOf(path)
    const found: Array<{ path: string; envelope: Envelope }> = []
    for (const name of names.sort()) {
      if (name !== gathered && !pattern.test(name)) continue
      const file = joinPath(dir, name)
      found.push({ path: file, envelope: yield* readEnvelope(file) })
    }
    return found
  })

/** Removes leftovers of atomic writes killed midway (`<shard>.<random>.tmp`) beside a base path. */
export const removeTemporaries = (path: string): Effect.Effect<void, ShardError> =>
  Effect.gen(function*() {
    const { dir, fs, gathered, names, pattern } = yield* folderOf(path)
    for (const name of names) {
      const match = /^(.*)\.[0-9a-f]+\.tmp$/.exec(name)
      if (match !== null && (match[1] === gathered || pattern.test(match[1]!))) yield* Effect.ignore(fs.remove(joinPath(dir, name)))
    }
  })

// --- lanes ---

/** One lane's state for one stateful filter: what its shard holds, and what other shards held when the lane started. */
interface LaneState {
  state: unknown
  readonly indices: IndexSet.IndexSet
  readonly claimed: IndexSet.IndexSet
  /** The shard's folder exists (made at the lane's first flush). */
  flushed: boolean
}

/** A stateful filter of the pipeline, at its 0-based position. */
export interface StatefulStage {
  readonly spec: AnyStatefulSpec
  readonly filterName: string
  readonly filterOrder: number
}

/** What the stateful filters of a pipeline need to know of it. */
export interface LaneContext {
  readonly configHash: string
  readonly stages: ReadonlyArray<StatefulStage>
}

/**
 * The state of every lane computing here (keyed by lane, then by filter
 * position). Built once where indices are computed (a run's fibers, a
 * thread, a runner); a lane is one worker id, and a lane computes one index
 * at a time, so no two concurrent indices share a state.
 */
export interface Lanes {
  readonly context: LaneContext
  readonly states: Map<string, Map<number, LaneState>>
}

export const makeLanes = (context: LaneContext): Lanes => ({ context, states: new Map() })

/**
 * The indices the shards and gathered file of a stable database already
 * count (same configuration), read from the files when a lane starts: a
 * resumed run must not count them again.
 */
const claimedBy = (context: LaneContext, stage: StatefulStage): Effect.Effect<IndexSet.IndexSet, ShardError> =>
  Effect.map(listEnvelopes(stage.spec.path), (found) => {
    const set = IndexSet.empty()
    for (const { envelope } of found) {
      if (envelope.configHash !== context.configHash || envelope.database !== "stable") continue
      for (const index of fromRanges(envelope.indices)) set.add(index)
    }
    return set
  })

/** One filter's work on the index being computed: the pending state, folded only if the index is not counted yet. */
export interface Pending {
  readonly stage: StatefulStage
  readonly lane: LaneState
  state: unknown
  readonly fold: boolean
}

/** The stateful work of the index being computed; it belongs to that index alone. */
export class StatefulIndex extends Context.Tag("@curator/core/StatefulIndex")<StatefulIndex, {
  readonly lanes: Lanes
  readonly index: number
  readonly workerId: string
  /** Whether the run resumes a stable database (the run's option, wherever the index is computed). */
  readonly resume: boolean
  readonly pending: Map<number, Pending>
}>() {}

/** The pending state of the stateful filter at `filterOrder` for the current index (none outside a run). */
export const pendingFor = (filterOrder: number): Effect.Effect<Option.Option<Pending>, ShardError> =>
  Effect.flatMap(Effect.serviceOption(StatefulIndex), (option) =>
    Effect.gen(function*() {
      if (Option.isNone(option)) return Option.none()
      const current = option.value
      const stage = current.lanes.context.stages.find((s) => s.filterOrder === filterOrder)
      if (stage === undefined) return Option.none()
      let lane = current.lanes.states.get(current.workerId)
      if (lane === undefined) current.lanes.states.set(current.workerId, lane = new Map())
      let state = lane.get(filterOrder)
      if (state === undefined) {
        const claimed = current.resume ? yield* claimedBy(current.lanes.context, stage) : IndexSet.empty()
        lane.set(filterOrder, state = { state: stage.spec.initial, indices: IndexSet.empty(), claimed, flushed: false })
      }
      const pending: Pending = {
        stage,
        lane: state,
        state: state.state,
        fold: !state.claimed.has(current.index) && !state.indices.has(current.index)
      }
      current.pending.set(filterOrder, pending)
      return Option.some(pending)
    }))

/**
 * After the index succeeded: writes each pending state to its lane's shard
 * (atomically), then makes it the lane's state, and reports the shard as an
 * artifact of the index. If a write fails, the index fails and the lane
 * keeps its previous state.
 */
export const commit = (current: StatefulIndex["Type"], index: CurrentIndex["Type"]): Effect.Effect<void, ShardError> =>
  Effect.forEach(current.pending.values(), (pending) =>
    Effect.gen(function*() {
      const { spec, filterName, filterOrder } = pending.stage
      const indices = pending.fold ? withIndex(pending.lane.indices, current.index) : pending.lane.indices
      const encoded = yield* Schema.encode(spec.state)(pending.fold ? pending.state : pending.lane.state).pipe(
        Effect.mapError((error) =>
          new ShardError({ reason: "WriteFailed", path: spec.path, message: `the state of ${filterName} does not encode: ${error.message}` })
        )
      )
      const shard = shardPathOf(spec.path, current.workerId)
      const envelope: Envelope = {
        format: shardFormat,
        configHash: current.lanes.context.configHash,
        database: current.resume ? "stable" : "fresh",
        filter: filterName,
        filterOrder,
        worker: current.workerId,
        indices: toRanges(indices),
        state: encoded
      }
      yield* writeAtomic(shard, JSON.stringify(envelope), !pending.lane.flushed)
      pending.lane.flushed = true
      if (pending.fold) {
        pending.lane.state = pending.state
        pending.lane.indices.add(current.index)
      }
      const artifact: ArtifactWritten = { path: shard, filterName, filterOrder }
      index.artifacts.push(artifact)
    }), { discard: true })

/** The indices of `set` in order, with `extra` in its place (the lane's set is only changed once the shard is written). */
function* withIndex(set: IndexSet.IndexSet, extra: number): Generator<number> {
  let placed = false
  for (const index of set) {
    if (!placed && extra < index) {
      yield extra
      placed = true
    }
    yield index
  }
  if (!placed) yield extra
}

/** The stateful filters of a pipeline's filters, at their 0-based positions. */
export const statefulStages = (
  filters: ReadonlyArray<{ readonly name: string; readonly stateful?: AnyStatefulSpec | undefined }>
): ReadonlyArray<StatefulStage> =>
  filters.flatMap((filter, filterOrder) =>
    filter.stateful === undefined ? [] : [{ spec: filter.stateful, filterName: filter.name, filterOrder }]
  )

/** An envelope's state, decoded with the filter's schema. */
export const decodeState = <S>(spec: StatefulSpec<S, any>, path: string, envelope: Envelope): Effect.Effect<S, ShardError> =>
  Schema.decodeUnknown(spec.state)(envelope.state).pipe(
    Effect.mapError((error) =>
      new ShardError({ reason: "Damaged", path, message: `the state in ${path} does not decode with the filter's schema (${error.message.split("\n")[0]}); was the filter's state type changed? remove the file or restore the old filter` })
    )
  )

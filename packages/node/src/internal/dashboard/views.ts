/**
 * What the dashboard's JSON API answers, computed from a checkpoint's paged
 * queries and aggregates only (so any store works, and no answer loads a
 * whole run): the overview, pages of indices, one index in full,
 * performance figures and log lines. Answers that read the whole run are
 * kept until the checkpoint's change mark moves, so a 10⁶-index run is
 * aggregated once per change, not once per request. Times are in
 * milliseconds, memory in bytes.
 */
import type { CheckpointStore, IndexSet, Provenance } from "@curator/core"
import { Clock, Effect, Option, Ref } from "effect"
import { withProgress, type WorkerState } from "../workerState.js"
import * as Params from "./params.js"

type Checkpoint = CheckpointStore.Checkpoint
type CheckpointError = CheckpointStore.CheckpointError
type IndexMetrics = CheckpointStore.IndexMetrics

const ms = (ns: number | null): number | null => (ns === null ? null : ns / 1e6)

/**
 * Where an index stands: recorded (`completed`, `failed`, or `quarantined`:
 * failed permanently in several runs, so runs skip it), held by a worker
 * (`running`), or not yet run.
 */
export type IndexStatus = "completed" | "failed" | "quarantined" | "running" | "remaining"

/** The outcome of a recorded index, named as the page shows it (the database says `error`). */
const recordedStatus = (m: IndexMetrics): "completed" | "failed" => (m.status === "completed" ? "completed" : "failed")

/** Timing statistics of one stage, in milliseconds. */
export interface StageStatistics {
  readonly order: number
  readonly name: string
  readonly count: number
  readonly meanMs: number
  readonly medianMs: number
  readonly p95Ms: number
  readonly maxMs: number
  readonly totalMs: number
}

const stageInMs = (s: CheckpointStore.StageStatistics): StageStatistics => ({
  order: s.order,
  name: s.name,
  count: s.count,
  meanMs: s.meanNs / 1e6,
  medianMs: s.medianNs / 1e6,
  p95Ms: s.p95Ns / 1e6,
  maxMs: s.maxNs / 1e6,
  totalMs: s.totalNs / 1e6
})

/** A worker with the age of its heartbeat, what it does (as `curator workers` says) and whether it looks gone. */
export interface WorkerView extends CheckpointStore.WorkerRow {
  readonly heartbeatAgeS: number
  /** Busy on an index for longer than `staleAfterS`: probably dead (its process killed or its machine lost). */
  readonly stale: boolean
  /** `stalled`: the run's watchdog saw its index produce nothing new for the run's `stallAfter`. */
  readonly state: WorkerState
  /** Items its index has produced so far, from its latest heartbeat (null when idle or not reported). */
  readonly items: number | null
}

/**
 * After how long a worker busy on one index is marked stale. Heartbeats are
 * written when a worker starts and finishes an index, so a healthy worker's
 * heartbeat is as old as its current index: allow three times the slowest
 * index recorded, and never less than a minute.
 */
export const staleAfterSeconds = (slowestWallTimeNs: number | null): number =>
  Math.max(60, 3 * ((slowestWallTimeNs ?? 0) / 1e9))

const workerViews = (
  workers: ReadonlyArray<CheckpointStore.WorkerRow>,
  progress: Effect.Effect.Success<Checkpoint["workerProgress"]>,
  staleAfterS: number,
  nowMs: number
) =>
  workers.map((worker): WorkerView => {
    const heartbeatAgeS = Math.max(0, (nowMs - Date.parse(worker.lastHeartbeat)) / 1e3)
    return { ...withProgress(worker, progress), heartbeatAgeS, stale: worker.currentIndex !== null && heartbeatAgeS > staleAfterS }
  })

const parseConfig = (json: string): Provenance.PipelineConfig | null => {
  try {
    const config = JSON.parse(json)
    return typeof config === "object" && config !== null && "source" in config ? config : null
  } catch {
    return null
  }
}

/** How many of the latest outputs and errors the overview lists, and worker labels it offers. */
const latestCount = 10
const workerLabelCount = 200

/** The most bars and points a chart draws: beyond, consecutive indices share one. */
export const maxChartBuckets = 300

/** Bins of the memory histogram. */
const histogramBins = 12

/** One row of the index browser. */
export interface IndexRow {
  readonly index: number
  readonly status: IndexStatus
  readonly completedAt: string | null
  readonly wallTimeMs: number | null
  readonly peakMemoryBytes: number | null
  readonly workerId: string | null
  readonly error: string | null
  /** The stage a failed index failed in (`source`, a filter's name, `sink`), when recorded. */
  readonly stage: string | null
}

/** The row of an index: its record if it has one, else the worker holding it, if any. */
const indexRow = (
  index: number,
  recorded: IndexMetrics | undefined,
  holderId: string | undefined,
  failedStage: string | null,
  quarantined: IndexSet.IndexSet
): IndexRow => ({
  index,
  status: recorded !== undefined
    ? recorded.status !== "completed" && quarantined.has(index) ? "quarantined" : recordedStatus(recorded)
    : holderId !== undefined
    ? "running"
    : "remaining",
  completedAt: recorded?.completedAt ?? null,
  wallTimeMs: ms(recorded?.wallTimeNs ?? null),
  peakMemoryBytes: recorded?.peakMemoryBytes ?? null,
  workerId: recorded?.workerId ?? holderId ?? null,
  error: recorded?.error ?? null,
  stage: recorded?.status === "error" ? failedStage : null
})

/** Log lines selected by level, worker and index. */
export interface LogsQuery {
  readonly minLevel: number | undefined
  /** A worker label (a `workers` id or a label recorded in the logs) or a unique prefix of one. */
  readonly worker: string | undefined
  readonly index: number | undefined
  /** Only lines after this id, oldest first (following); without it, the latest `limit` lines. */
  readonly sinceId: number | undefined
  readonly limit: number
}

/** Which indices a page of the index browser lists. */
export interface IndicesQuery {
  readonly selection: Params.Selection
  readonly status: Params.StatusFilter
  readonly page: number
  readonly pageSize: number
}

/** Members of one status among indices: how many lie in a range, and whether one does. */
interface Membership {
  readonly countIn: (from: number, to: number) => number
  readonly has: (index: number) => boolean
}

/**
 * Merges the selected ranges (overlaps joined, clipped to the run's
 * indices), so each index is listed once and in order.
 */
const normalize = (selection: Params.Selection, total: number): Array<readonly [number, number]> => {
  const clipped = (selection.length === 0 ? [[0, total - 1] as const] : selection)
    .map(([from, to]) => [Math.max(0, from), Math.min(total - 1, to)] as const)
    .filter(([from, to]) => from <= to)
    .sort(([a], [b]) => a - b)
  const merged: Array<readonly [number, number]> = []
  for (const [from, to] of clipped) {
    const last = merged[merged.length - 1]
    if (last !== undefined && from <= last[1] + 1) merged[merged.length - 1] = [last[0], Math.max(last[1], to)]
    else merged.push([from, to])
  }
  return merged
}

/** Indices are skipped a block at a time by counting, then one by one within the block. */
const skipBlock = 4096

/**
 * The members of `ranges` from the `skip`-th on, at most `take` of them,
 * grouped by range: found by counting whole blocks, never by listing every
 * member before the page.
 */
const pageOfMembers = (
  ranges: ReadonlyArray<readonly [number, number]>,
  members: Membership,
  skip: number,
  take: number
): Array<Array<number>> => {
  const groups: Array<Array<number>> = []
  let toSkip = skip
  let left = take
  for (const [from, to] of ranges) {
    if (left === 0) break
    let index = from
    while (index <= to && toSkip > 0) {
      const blockEnd = Math.min(to, index + skipBlock - 1)
      const inBlock = members.countIn(index, blockEnd)
      if (inBlock <= toSkip) {
        toSkip -= inBlock
        index = blockEnd + 1
        continue
      }
      for (; index <= blockEnd && toSkip > 0; index++) if (members.has(index)) toSkip--
    }
    const group: Array<number> = []
    for (; index <= to && left > 0; index++) {
      if (members.has(index)) {
        group.push(index)
        left--
      }
    }
    if (group.length > 0) groups.push(group)
  }
  return groups
}

const membership = (
  status: Params.StatusFilter,
  completed: IndexSet.IndexSet,
  failed: IndexSet.IndexSet,
  quarantined: IndexSet.IndexSet,
  running: ReadonlyMap<number, string>
): Membership => {
  const recorded = (index: number) => completed.has(index) || failed.has(index)
  switch (status) {
    case "all":
      return { countIn: (from, to) => to - from + 1, has: () => true }
    case "completed":
      return { countIn: (from, to) => completed.countIn(from, to), has: (i) => completed.has(i) }
    case "failed":
      // Quarantined indices among them: they failed too.
      return { countIn: (from, to) => failed.countIn(from, to), has: (i) => failed.has(i) }
    case "quarantined":
      return { countIn: (from, to) => quarantined.countIn(from, to), has: (i) => quarantined.has(i) }
    case "remaining":
      // Not recorded: waiting or held by a worker.
      return {
        countIn: (from, to) => to - from + 1 - completed.countIn(from, to) - failed.countIn(from, to),
        has: (i) => !recorded(i)
      }
    case "running": {
      const held = [...running.keys()].filter((i) => !recorded(i)).sort((a, b) => a - b)
      return { countIn: (from, to) => held.filter((i) => i >= from && i <= to).length, has: (i) => running.has(i) && !recorded(i) }
    }
  }
}

/** The views of one checkpoint, with the answers that read the whole run kept until it changes. */
export interface Views {
  readonly overview: Effect.Effect<unknown, CheckpointError>
  readonly indices: (query: IndicesQuery) => Effect.Effect<unknown, CheckpointError>
  readonly indexDetail: (index: number) => Effect.Effect<Option.Option<unknown>, CheckpointError>
  readonly performance: Effect.Effect<unknown, CheckpointError>
  readonly logs: (query: LogsQuery) => Effect.Effect<
    { readonly rows: ReadonlyArray<CheckpointStore.LogRow>; readonly lastId: number },
    CheckpointError | Params.BadRequest
  >
  /** Computes the overview and performance once, so that the first visitor finds them ready. */
  readonly warm: Effect.Effect<void, CheckpointError>
  /** The checkpoint's change mark, and the summary and run figures as of that mark: what the live feed sends. */
  readonly changes: Effect.Effect<{ readonly mark: string; readonly update: unknown }, CheckpointError>
}

/** Builds the views of `checkpoint`; its cache lives as long as the views. */
export const make = (checkpoint: Checkpoint): Effect.Effect<Views> =>
  Effect.gen(function*() {
    const cache = yield* Ref.make(
      new Map<string, { readonly mark: string; readonly value: unknown; readonly atMs: number; readonly costMs: number }>()
    )

    /**
     * `compute` as of change mark `mark`: computed again only when the mark
     * has moved since it was last computed. A `heavy` read (a scan of every
     * record) is also kept while the mark moves, for ten times what it cost
     * (at least 2 s): while a 10⁶-index run writes, the charts lag a little
     * instead of the server scanning the whole run every second.
     * Each request reads the mark once.
     */
    const memo = <A>(
      mark: string,
      key: string,
      compute: Effect.Effect<A, CheckpointError>,
      heavy = false
    ): Effect.Effect<A, CheckpointError> =>
      Effect.gen(function*() {
        const held = (yield* Ref.get(cache)).get(key)
        const nowMs = yield* Clock.currentTimeMillis
        if (held !== undefined && (held.mark === mark || (heavy && nowMs - held.atMs < Math.max(2000, 10 * held.costMs)))) {
          return held.value as A
        }
        const value = yield* compute
        const doneMs = yield* Clock.currentTimeMillis
        yield* Ref.update(cache, (entries) => new Map(entries).set(key, { mark, value, atMs: doneMs, costMs: doneMs - nowMs }))
        return value
      })

    /** The cached reads of the run as of one change mark. */
    const at = (mark: string) => {
      const summary = memo(mark, "summary", checkpoint.summary)
      const runFigures = memo(mark, "runFigures", checkpoint.runFigures)
      /** Failed indices in quarantine (one grouped scan into a bitset). */
      const quarantinedSet = memo(mark, "quarantined", checkpoint.quarantinedIndexSet)
      /** The workers of the latest run call: the newest invocation's rows. */
      const latestWorkers = memo(
        mark,
        "latestWorkers",
        Effect.flatMap(checkpoint.invocations, (invocations) => {
          const latest = invocations.reduce<CheckpointStore.Invocation | undefined>(
            (acc, i) => (acc === undefined || i.startedAt >= acc.startedAt ? i : acc),
            undefined
          )
          return latest === undefined ? Effect.succeed([]) : checkpoint.workersOf(latest.invocationId)
        })
      )
      return {
        mark,
        summary,
        completedSet: memo(mark, "completed", checkpoint.completedIndexSet),
        failedSet: memo(mark, "failed", checkpoint.failedIndexSet),
        quarantinedSet,
        stages: memo(mark, "stages", Effect.map(checkpoint.stageStatistics, (all) => all.map(stageInMs)), true),
        slowestWallTime: memo(mark, "slowestWall", Effect.map(checkpoint.statistics(), (st) => st.wallTimeNs.max)),
        latestWorkers,
        running: Effect.map(
          latestWorkers,
          (workers) => new Map(workers.flatMap((w) => (w.currentIndex === null ? [] : [[w.currentIndex, w.workerId] as const])))
        ),
        /** Whole-run and latest-invocation figures under their own names (a run may span several invocations). */
        figures: Effect.map(Effect.all([summary, runFigures, quarantinedSet]), ([s, run, quarantined]) => ({
          summary: s,
          /** Of the failed indices, those in quarantine (the summary's keys keep the reference's meaning). */
          quarantined: quarantined.size,
          run: {
            ...run,
            completed: s.completed,
            /** Completed indices over the whole span, idle time between invocations included. */
            ratePerS: run.spanS > 0 ? s.completed / run.spanS : null
          }
        })),
        memo: <A>(key: string, compute: Effect.Effect<A, CheckpointError>, heavy = false) => memo(mark, key, compute, heavy)
      }
    }

    const current = Effect.map(checkpoint.changeMark, at)

    /** The stages the failed ones among `rows` failed in, where recorded (one query; none when nothing failed). */
    const failedStages = (rows: ReadonlyArray<IndexMetrics>): Effect.Effect<ReadonlyMap<number, string>, CheckpointError> => {
      const failed = rows.flatMap((m) => (m.status === "error" ? [m.index] : []))
      if (failed.length === 0) return Effect.succeed(new Map())
      return Effect.map(checkpoint.failureDetails(failed), (details) =>
        new Map([...details].flatMap(([index, detail]) => (detail.stage === null ? [] : [[index, detail.stage] as const]))))
    }

    const overview = Effect.gen(function*() {
      const { figures, latestWorkers, memo, slowestWallTime, stages } = yield* current
      const { configJson, latestErrors, latestOutputs, logLabels, progress, run, slowestWall, stageStats, workers } = yield* Effect.all({
        run: figures,
        workers: latestWorkers,
        progress: memo("workerProgress", checkpoint.workerProgress),
        configJson: checkpoint.configJson,
        stageStats: stages,
        slowestWall: slowestWallTime,
        latestOutputs: memo("latestOutputs", Effect.flatMap(checkpoint.latest("completed", latestCount), (rows) =>
          Effect.forEach(rows, (m) =>
            Effect.map(checkpoint.outputsOf(m.index), (paths) =>
              Option.getOrElse(paths, () => []).map((path) => ({ index: m.index, path, completedAt: m.completedAt })))))),
        latestErrors: memo("latestErrors", Effect.flatMap(checkpoint.latest("error", latestCount), (rows) =>
          Effect.map(failedStages(rows), (stages) => ({ rows, stages })))),
        logLabels: memo("workerLabels", checkpoint.workerLabels("", workerLabelCount))
      })
      const staleAfterS = staleAfterSeconds(slowestWall)
      const nowMs = yield* Clock.currentTimeMillis
      // The rate of the latest run call: what its workers completed over its elapsed time.
      const doneNow = workers.reduce((sum, w) => sum + w.completedCount, 0)
      return {
        summary: run.summary,
        quarantined: run.quarantined,
        run: run.run,
        ratePerS: run.summary.elapsed_s > 0 ? doneNow / run.summary.elapsed_s : null,
        staleAfterS,
        workers: workerViews(workers, progress, staleAfterS, nowMs),
        workerLabels: logLabels,
        pipeline: parseConfig(configJson),
        stages: stageStats,
        latestOutputs: latestOutputs.flat().slice(0, latestCount),
        latestErrors: latestErrors.rows.map((m) => ({
          index: m.index,
          stage: latestErrors.stages.get(m.index) ?? null,
          error: m.error ?? "",
          completedAt: m.completedAt,
          workerId: m.workerId
        }))
      }
    })

    const indices = (query: IndicesQuery) =>
      Effect.gen(function*() {
        const { completedSet, failedSet, quarantinedSet, running, summary } = yield* current
        const [s, completed, failed, quarantined, held] = yield* Effect.all([summary, completedSet, failedSet, quarantinedSet, running])
        const ranges = normalize(query.selection, s.total)
        const members = membership(query.status, completed, failed, quarantined, held)
        const matching = ranges.reduce((sum, [from, to]) => sum + members.countIn(from, to), 0)
        const groups = pageOfMembers(ranges, members, (query.page - 1) * query.pageSize, query.pageSize)
        // Each group is consecutive members of one status within one range: one keyset read each.
        const status = query.status === "completed"
          ? "completed"
          : query.status === "failed" || query.status === "quarantined"
          ? "error"
          : undefined
        const recordedRows = query.status === "remaining" || query.status === "running"
          ? []
          : (yield* Effect.forEach(groups, (group) =>
            checkpoint.resultsPage({ status, from: group[0]!, to: group[group.length - 1]!, limit: group.length }))).flatMap((p) => p.rows)
        const recorded = new Map(recordedRows.map((m) => [m.index, m]))
        const stages = yield* failedStages(recordedRows)
        return {
          matching,
          page: query.page,
          pageSize: query.pageSize,
          pages: Math.max(1, Math.ceil(matching / query.pageSize)),
          rows: groups.flat().map((index) => indexRow(index, recorded.get(index), held.get(index), stages.get(index) ?? null, quarantined))
        }
      })

    const indexDetail = (index: number) =>
      Effect.gen(function*() {
        const { quarantinedSet, running, summary } = yield* current
        const s = yield* summary
        if (index >= s.total) return Option.none()
        const { artifacts, details, held, logs, metrics, outputs, quarantined } = yield* Effect.all({
          metrics: checkpoint.metricsOf(index),
          held: running,
          quarantined: quarantinedSet,
          details: checkpoint.failureDetails([index]),
          outputs: checkpoint.outputsOf(index),
          artifacts: checkpoint.artifactsOf(index),
          logs: checkpoint.logsPage({ index, limit: 1000 })
        })
        const m = Option.getOrUndefined(metrics)
        const detail = details.get(index)
        return Option.some({
          ...indexRow(index, m, held.get(index), detail?.stage ?? null, quarantined),
          /** The failure policy's record of its last run (none in a reference database, or after a first-attempt success). */
          attempts: detail?.attempts ?? null,
          failureClass: detail?.failureClass ?? null,
          outputs: Option.getOrElse(outputs, () => []),
          artifacts,
          stages: (m?.stages ?? []).map((st) => ({ order: st.order, name: st.name, wallTimeMs: st.wallTimeNs / 1e6 })),
          logs: logs.rows
        })
      })

    const performance = Effect.gen(function*() {
      const { memo, stages } = yield* current
      const { histogram, slowest, stageBuckets, stageStats, timeline } = yield* Effect.all({
        stageStats: stages,
        timeline: memo("timeline", checkpoint.timeline(maxChartBuckets), true),
        stageBuckets: memo("stageTimeline", checkpoint.stageTimeline(maxChartBuckets), true),
        histogram: memo("histogram", checkpoint.histogram("peakMemoryBytes", histogramBins), true),
        slowest: memo("slowest", checkpoint.slowest(10))
      })
      return {
        /** Time per index, or per run of consecutive indices of one status beyond {@link maxChartBuckets}. */
        timeline: timeline.map((b) => ({
          fromIndex: b.fromIndex,
          toIndex: b.toIndex,
          status: b.status === "completed" ? "completed" : "failed",
          count: b.count,
          meanWallTimeMs: ms(b.meanWallTimeNs),
          maxWallTimeMs: ms(b.maxWallTimeNs)
        })),
        stageNames: stageStats.map((st) => st.name),
        /** Mean stage times per index (or run of indices), in the order of `stages`; 0 where a stage did not run. */
        stageBars: stageBuckets.map((b) => ({
          fromIndex: b.fromIndex,
          toIndex: b.toIndex,
          stageMs: stageStats.map((st) => (b.stages.find((t) => t.order === st.order)?.meanNs ?? 0) / 1e6)
        })),
        memoryHistogram: histogram.map((bin) => ({ fromBytes: bin.from, toBytes: bin.to, count: bin.count })),
        slowest: slowest.map((m) => ({ index: m.index, status: recordedStatus(m), wallTimeMs: ms(m.wallTimeNs), workerId: m.workerId })),
        stages: stageStats
      }
    })

    const logs = (query: LogsQuery) =>
      Effect.gen(function*() {
        let workerId: string | undefined
        if (query.worker !== undefined) {
          const prefix = query.worker
          const found = yield* checkpoint.workerLabels(prefix, 2)
          if (found.length === 0) {
            return yield* new Params.BadRequest({ message: `no worker label (in workers or in the logs) starts with "${prefix}"` })
          }
          if (found.length > 1 && !found.includes(prefix)) {
            return yield* new Params.BadRequest({ message: `"${prefix}" matches several workers; give more of the label` })
          }
          workerId = found.includes(prefix) ? prefix : found[0]!
        }
        const selected = { minLevel: query.minLevel, index: query.index, workerId }
        const rows = query.sinceId === undefined
          ? [...(yield* checkpoint.logsPage({ ...selected, newestFirst: true, limit: query.limit })).rows].reverse()
          : (yield* checkpoint.logsPage({ ...selected, after: query.sinceId, limit: query.limit })).rows
        return { rows, lastId: rows.reduce((max, row) => (row.id > max ? row.id : max), query.sinceId ?? 0) }
      })

    const changes = Effect.gen(function*() {
      const { figures, mark } = yield* current
      return { mark, update: yield* figures }
    })

    const warm = Effect.asVoid(Effect.all([overview, performance, indices({ selection: [], status: "all", page: 1, pageSize: 50 })]))

    return { overview, indices, indexDetail, performance, logs, warm, changes }
  })

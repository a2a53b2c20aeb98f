/**
 * What the dashboard's JSON API answers, computed from a checkpoint's query
 * API only (so any store works): the overview, pages of indices, one
 * index in full, performance figures and log lines. Times are in
 * milliseconds, memory in bytes.
 */
import type { CheckpointStore, Provenance } from "@curator/core"
import { Clock, Effect, Option } from "effect"
import * as Params from "./params.js"

type Checkpoint = CheckpointStore.Checkpoint
type CheckpointError = CheckpointStore.CheckpointError
type IndexMetrics = CheckpointStore.IndexMetrics

const ms = (ns: number | null): number | null => (ns === null ? null : ns / 1e6)

/** Where an index stands: recorded (`completed`, `failed`), held by a worker (`running`), or not yet run. */
export type IndexStatus = "completed" | "failed" | "running" | "remaining"

/** The outcome of a recorded index, named as the page shows it (the database says `error`). */
const recordedStatus = (m: IndexMetrics): "completed" | "failed" => (m.status === "completed" ? "completed" : "failed")


/** Timing statistics of one stage over the indices that recorded it. */
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

/** The p-th percentile of sorted values, by nearest rank (p95 of 20 values is the 19th). */
const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0

const median = (sorted: ReadonlyArray<number>): number => {
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Statistics of every stage, in pipeline order, over the indices that recorded stage timings. */
export const stageStatistics = (metrics: ReadonlyArray<IndexMetrics>): Array<StageStatistics> => {
  const byOrder = new Map<number, { name: string; times: Array<number> }>()
  for (const row of metrics) {
    for (const stage of row.stages) {
      const entry = byOrder.get(stage.order) ?? { name: stage.name, times: [] }
      entry.times.push(stage.wallTimeNs / 1e6)
      byOrder.set(stage.order, entry)
    }
  }
  return [...byOrder.entries()].sort(([a], [b]) => a - b).map(([order, { name, times }]) => {
    const sorted = times.sort((a, b) => a - b)
    const total = sorted.reduce((sum, t) => sum + t, 0)
    return {
      order,
      name,
      count: sorted.length,
      meanMs: total / sorted.length,
      medianMs: median(sorted),
      p95Ms: percentile(sorted, 95),
      maxMs: sorted[sorted.length - 1]!,
      totalMs: total
    }
  })
}

/** A worker with the age of its heartbeat and whether it looks gone. */
export interface WorkerView extends CheckpointStore.WorkerRow {
  readonly heartbeatAgeS: number
  /** Busy on an index for longer than `staleAfterS`: probably dead (its process killed or its machine lost). */
  readonly stale: boolean
}

/**
 * After how long a worker busy on one index is marked stale. Heartbeats are
 * written when a worker starts and finishes an index, so a healthy worker's
 * heartbeat is as old as its current index: allow three times the slowest
 * index recorded, and never less than a minute.
 */
export const staleAfterSeconds = (metrics: ReadonlyArray<IndexMetrics>): number =>
  Math.max(60, 3 * Math.max(0, ...metrics.map((m) => (m.wallTimeNs ?? 0) / 1e9)))

const workerViews = (workers: ReadonlyArray<CheckpointStore.WorkerRow>, staleAfterS: number, nowMs: number) =>
  workers.map((worker): WorkerView => {
    const heartbeatAgeS = Math.max(0, (nowMs - Date.parse(worker.lastHeartbeat)) / 1e3)
    return { ...worker, heartbeatAgeS, stale: worker.currentIndex !== null && heartbeatAgeS > staleAfterS }
  })

/** The workers of the latest run call: those sharing the invocation of the latest to start. */
const latestInvocation = (workers: ReadonlyArray<CheckpointStore.WorkerRow>) => {
  const latest = workers.reduce<CheckpointStore.WorkerRow | undefined>(
    (acc, w) => (acc === undefined || w.startedAt > acc.startedAt ? w : acc),
    undefined
  )
  return latest === undefined ? [] : workers.filter((w) => w.invocationId === latest.invocationId)
}

const parseConfig = (json: string): Provenance.PipelineConfig | null => {
  try {
    const config = JSON.parse(json)
    return typeof config === "object" && config !== null && "source" in config ? config : null
  } catch {
    return null
  }
}

/** How many of the latest outputs and errors the overview lists. */
const latestCount = 10

/** The overview: progress, workers, the pipeline's structure and stage timings, latest outputs and errors. */
export const overview = (checkpoint: Checkpoint) =>
  Effect.gen(function*() {
    const { configJson, metrics, summary, workers } = yield* Effect.all({
      summary: checkpoint.summary,
      metrics: checkpoint.metrics,
      workers: checkpoint.workers,
      configJson: checkpoint.configJson
    })
    const staleAfterS = staleAfterSeconds(metrics)
    const nowMs = yield* Clock.currentTimeMillis
    // The rate of the latest run call: what its workers completed over its elapsed time.
    const doneNow = latestInvocation(workers).reduce((sum, w) => sum + w.completedCount, 0)
    const newestFirst = [...metrics].sort((a, b) => b.completedAt.localeCompare(a.completedAt))
    // The outputs of the latest completed indices, read index by index: cheap however long the run.
    const latestOutputs = yield* Effect.forEach(
      newestFirst.filter((m) => m.status === "completed").slice(0, latestCount),
      (m) =>
        Effect.map(checkpoint.outputsOf(m.index), (paths) =>
          Option.getOrElse(paths, () => []).map((path) => ({ index: m.index, path, completedAt: m.completedAt })))
    )
    return {
      summary,
      ratePerS: summary.elapsed_s > 0 ? doneNow / summary.elapsed_s : null,
      staleAfterS,
      workers: workerViews(workers, staleAfterS, nowMs),
      pipeline: parseConfig(configJson),
      stages: stageStatistics(metrics),
      latestOutputs: latestOutputs.flat().slice(0, latestCount),
      latestErrors: newestFirst
        .filter((m) => m.status === "error")
        .slice(0, latestCount)
        .map((m) => ({ index: m.index, error: m.error ?? "", completedAt: m.completedAt, workerId: m.workerId }))
    }
  })

/** One row of the index browser. */
export interface IndexRow {
  readonly index: number
  readonly status: IndexStatus
  readonly completedAt: string | null
  readonly wallTimeMs: number | null
  readonly peakMemoryBytes: number | null
  readonly workerId: string | null
  readonly error: string | null
}

/** The row of an index: its record if it has one, else the worker holding it, if any. */
const indexRow = (index: number, recorded: IndexMetrics | undefined, holderId: string | undefined): IndexRow => ({
  index,
  status: recorded !== undefined ? recordedStatus(recorded) : holderId !== undefined ? "running" : "remaining",
  completedAt: recorded?.completedAt ?? null,
  wallTimeMs: ms(recorded?.wallTimeNs ?? null),
  peakMemoryBytes: recorded?.peakMemoryBytes ?? null,
  workerId: recorded?.workerId ?? holderId ?? null,
  error: recorded?.error ?? null
})

const matches = (filter: Params.StatusFilter, status: IndexStatus) =>
  filter === "all" || filter === status || (filter === "remaining" && status === "running")

/** A page of the indices selected by range and status, in index order. */
export const indices = (
  checkpoint: Checkpoint,
  query: {
    readonly selection: Params.Selection
    readonly status: Params.StatusFilter
    readonly page: number
    readonly pageSize: number
  }
) =>
  Effect.gen(function*() {
    const { metrics, summary, workers } = yield* Effect.all({
      summary: checkpoint.summary,
      metrics: checkpoint.metrics,
      workers: checkpoint.workers
    })
    const recorded = new Map(metrics.map((m) => [m.index, m]))
    const running = new Map(workers.flatMap((w) => (w.currentIndex === null ? [] : [[w.currentIndex, w.workerId] as const])))
    const rows: Array<IndexRow> = []
    for (let index = 0; index < summary.total; index++) {
      if (!Params.selects(query.selection, index)) continue
      const row = indexRow(index, recorded.get(index), running.get(index))
      if (matches(query.status, row.status)) rows.push(row)
    }
    const start = (query.page - 1) * query.pageSize
    return {
      matching: rows.length,
      page: query.page,
      pageSize: query.pageSize,
      pages: Math.max(1, Math.ceil(rows.length / query.pageSize)),
      rows: rows.slice(start, start + query.pageSize)
    }
  })

/** Everything recorded about one index; `None` when the index is beyond the pipeline's length. */
export const indexDetail = (checkpoint: Checkpoint, index: number) =>
  Effect.gen(function*() {
    const { artifacts, metrics, outputs, summary, workers } = yield* Effect.all({
      summary: checkpoint.summary,
      metrics: checkpoint.metrics,
      workers: checkpoint.workers,
      outputs: checkpoint.outputsOf(index),
      artifacts: checkpoint.artifacts()
    })
    if (index >= summary.total) return Option.none()
    const m = metrics.find((row) => row.index === index)
    return Option.some({
      ...indexRow(index, m, workers.find((w) => w.currentIndex === index)?.workerId),
      outputs: Option.getOrElse(outputs, () => []),
      artifacts: artifacts.filter((a) => a.index === index),
      stages: (m?.stages ?? []).map((s) => ({ order: s.order, name: s.name, wallTimeMs: s.wallTimeNs / 1e6 })),
      logs: yield* checkpoint.logs({ index })
    })
  })

/** One bin of the memory histogram: peaks in [fromBytes, toBytes) (the last bin includes its end). */
export interface HistogramBin {
  readonly fromBytes: number
  readonly toBytes: number
  readonly count: number
}

const histogramBins = 12

/** Equal-width bins over the recorded peak memory of every index. */
export const memoryHistogram = (metrics: ReadonlyArray<IndexMetrics>): Array<HistogramBin> => {
  const values = metrics.flatMap((m) => (m.peakMemoryBytes === null ? [] : [m.peakMemoryBytes]))
  if (values.length === 0) return []
  const min = Math.min(...values)
  const max = Math.max(...values)
  const bins = min === max ? 1 : histogramBins
  const width = (max - min) / bins || 1
  const counts = new Array<number>(bins).fill(0)
  for (const value of values) counts[Math.min(bins - 1, Math.floor((value - min) / width))]!++
  return counts.map((count, i) => ({ fromBytes: min + i * width, toBytes: i === bins - 1 ? max : min + (i + 1) * width, count }))
}

/** One stacked bar: the mean time of each stage over indices `fromIndex..toIndex` (one index while they fit). */
export interface StageBar {
  readonly fromIndex: number
  readonly toIndex: number
  /** In the order of the stage statistics; 0 where a stage did not run. */
  readonly stageMs: ReadonlyArray<number>
}

/** The most bars drawn: beyond, consecutive indices share a bar, so a long run stays readable. */
export const maxStageBars = 300

/** Stage times per index (or per group of consecutive indices), for the stacked bar chart. */
export const stageBars = (
  metrics: ReadonlyArray<IndexMetrics>,
  stages: ReadonlyArray<StageStatistics>
): Array<StageBar> => {
  const timed = metrics.filter((m) => m.stages.length > 0)
  const size = Math.max(1, Math.ceil(timed.length / maxStageBars))
  const bars: Array<StageBar> = []
  for (let start = 0; start < timed.length; start += size) {
    const group = timed.slice(start, start + size)
    bars.push({
      fromIndex: group[0]!.index,
      toIndex: group[group.length - 1]!.index,
      stageMs: stages.map((s) =>
        group.reduce((sum, m) => sum + (m.stages.find((t) => t.order === s.order)?.wallTimeNs ?? 0), 0) / group.length / 1e6
      )
    })
  }
  return bars
}

/** Performance figures: time per index, stages per index, memory, the slowest indices, stage statistics. */
export const performance = (checkpoint: Checkpoint) =>
  Effect.map(checkpoint.metrics, (metrics) => {
    const stages = stageStatistics(metrics)
    const slowest = [...metrics]
      .filter((m) => m.wallTimeNs !== null)
      .sort((a, b) => b.wallTimeNs! - a.wallTimeNs! || a.index - b.index)
      .slice(0, 10)
    return {
      perIndex: metrics.map((m) => ({
        index: m.index,
        status: recordedStatus(m),
        wallTimeMs: ms(m.wallTimeNs),
        peakMemoryBytes: m.peakMemoryBytes
      })),
      stageNames: stages.map((s) => s.name),
      stageBars: stageBars(metrics, stages),
      memoryHistogram: memoryHistogram(metrics),
      slowest: slowest.map((m) => ({
        index: m.index,
        status: recordedStatus(m),
        wallTimeMs: ms(m.wallTimeNs),
        workerId: m.workerId
      })),
      stages
    }
  })

/** Log lines selected by level, worker and index. */
export interface LogsQuery {
  readonly minLevel: number | undefined
  /** A worker id or a unique prefix of one. */
  readonly worker: string | undefined
  readonly index: number | undefined
  /** Only lines after this id, oldest first (following); without it, the latest `limit` lines. */
  readonly sinceId: number | undefined
  readonly limit: number
}

/** Log lines for the log view, and the id to follow from. */
export const logs = (
  checkpoint: Checkpoint,
  query: LogsQuery
): Effect.Effect<
  { readonly rows: ReadonlyArray<CheckpointStore.LogRow>; readonly lastId: number },
  CheckpointError | Params.BadRequest
> =>
  Effect.gen(function*() {
    let workerId: string | undefined
    if (query.worker !== undefined) {
      const prefix = query.worker
      const found = (yield* checkpoint.workers).filter((w) => w.workerId.startsWith(prefix))
      if (found.length !== 1) {
        return yield* new Params.BadRequest({
          message: found.length === 0
            ? `no worker has an id starting with "${prefix}"`
            : `"${prefix}" matches ${found.length} workers; give more of the id`
        })
      }
      workerId = found[0]!.workerId
    }
    const selected = { minLevel: query.minLevel, index: query.index, workerId }
    const rows = query.sinceId === undefined
      ? (yield* checkpoint.logs(selected)).slice(-query.limit)
      : yield* checkpoint.logs({ ...selected, sinceId: query.sinceId, limit: query.limit })
    return { rows, lastId: rows.reduce((max, row) => Math.max(max, row.id), query.sinceId ?? 0) }
  })

/**
 * What changes while a run writes: the summary, the workers' heartbeats and
 * the newest log line. The live feed sends an update whenever it differs.
 */
export const changeMark = (checkpoint: Checkpoint, lastLogId: number) =>
  Effect.gen(function*() {
    const { newLogs, summary, workers } = yield* Effect.all({
      summary: checkpoint.summary,
      workers: checkpoint.workers,
      newLogs: checkpoint.logs({ sinceId: lastLogId })
    })
    return {
      summary,
      heartbeats: workers.map((w) => `${w.workerId}:${w.lastHeartbeat}:${w.currentIndex}`).join(","),
      lastLogId: newLogs.reduce((max, row) => Math.max(max, row.id), lastLogId)
    }
  })

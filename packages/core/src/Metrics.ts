/**
 * Per-index and per-stage metrics as a console table, CSV or JSON.
 */
import type { IndexMetrics } from "./CheckpointStore.js"
import * as TextTable from "./TextTable.js"

/** The stage columns of a set of metrics: every (order, name) seen, in pipeline order. */
const stageColumns = (metrics: ReadonlyArray<IndexMetrics>): ReadonlyArray<{ order: number; name: string }> => {
  const columns = new Map<string, { order: number; name: string }>()
  for (const row of metrics) {
    for (const stage of row.stages) columns.set(`${stage.order}:${stage.name}`, stage)
  }
  return [...columns.values()].sort((a, b) => a.order - b.order)
}

const stageTime = (row: IndexMetrics, column: { order: number; name: string }) =>
  row.stages.find((stage) => stage.order === column.order && stage.name === column.name)?.wallTimeNs

const csvField = (value: string | number | null | undefined): string => {
  if (value === null || value === undefined) return ""
  const text = String(value)
  return /[",\n\r]/.test(text) ? `"${text.replaceAll("\"", "\"\"")}"` : text
}

/** The stage columns of the CSV: (order, name) in pipeline order. */
export type StageColumn = { readonly order: number; readonly name: string }

/** The CSV's header line (no newline) for the given stage columns. */
export const csvHeader = (stages: ReadonlyArray<StageColumn>): string =>
  [
    "idx",
    "status",
    "wall_time_ns",
    "peak_memory_bytes",
    "gpu_memory_bytes",
    "worker_id",
    "completed_at",
    "error",
    ...stages.map((s) => `stage_${s.order}_${s.name}_ns`)
  ].join(",")

/** One index's CSV line (no newline) for the given stage columns: what a streamed export writes per row. */
export const csvLine = (row: IndexMetrics, stages: ReadonlyArray<StageColumn>): string =>
  [
    row.index,
    row.status,
    row.wallTimeNs,
    row.peakMemoryBytes,
    row.gpuMemoryBytes,
    row.workerId,
    row.completedAt,
    row.error,
    ...stages.map((s) => stageTime(row, s))
  ].map(csvField).join(",")

/** One CSV line per index; stage times in nanoseconds, one column per stage. */
export const toCsv = (metrics: ReadonlyArray<IndexMetrics>): string => {
  const stages = stageColumns(metrics)
  const header = [
    "idx",
    "status",
    "wall_time_ns",
    "peak_memory_bytes",
    "gpu_memory_bytes",
    "worker_id",
    "completed_at",
    "error",
    ...stages.map((s) => `stage_${s.order}_${s.name}_ns`)
  ]
  const lines = metrics.map((row) =>
    [
      row.index,
      row.status,
      row.wallTimeNs,
      row.peakMemoryBytes,
      row.gpuMemoryBytes,
      row.workerId,
      row.completedAt,
      row.error,
      ...stages.map((s) => stageTime(row, s))
    ].map(csvField).join(",")
  )
  return [header.join(","), ...lines].join("\n") + "\n"
}

/** The metrics as a JSON document (an array, one object per index). */
export const toJson = (metrics: ReadonlyArray<IndexMetrics>): string => JSON.stringify(metrics, null, 2)

const ms = (ns: number | null | undefined) => (ns === null || ns === undefined ? "" : (ns / 1e6).toFixed(2))

const mib = (bytes: number | null) => (bytes === null ? "" : (bytes / 2 ** 20).toFixed(1))

/** An aligned text table for a terminal: times in milliseconds, memory in MiB. */
export const toTable = (metrics: ReadonlyArray<IndexMetrics>): string => {
  const stages = stageColumns(metrics)
  const header = ["idx", "status", "wall ms", "peak MiB", "worker", ...stages.map((s) => `${s.name} ms`)]
  const rows = metrics.map((row) => [
    String(row.index),
    row.status,
    ms(row.wallTimeNs),
    mib(row.peakMemoryBytes),
    row.workerId?.slice(0, 8) ?? "",
    ...stages.map((s) => ms(stageTime(row, s)))
  ])
  // Numbers to the right: every column but idx, status and worker.
  const right = header.map((_, c) => c).filter((c) => !(c <= 1 || c === 4))
  return TextTable.render(header, rows, right) + "\n"
}

/**
 * The JSON the command line prints: one key casing everywhere (snake_case,
 * as the database's columns) and one timestamp format (the database's:
 * ISO 8601 in UTC with microseconds and `+00:00`). The store's rows are
 * camelCase TypeScript values; these functions give their JSON shape.
 */
import type { CheckpointStore } from "@curator/core"

/** A time as the database writes it: `2026-12-02T06:43:50.721000+00:00`. */
export const timestamp = (date: Date | number): string =>
  new Date(date).toISOString().replace(/\.(\d{3})Z$/, ".$1000+00:00")

/** A `workers` row. */
export const worker = (row: CheckpointStore.WorkerRow) => ({
  worker_id: row.workerId,
  pid: row.pid,
  hostname: row.hostname,
  started_at: row.startedAt,
  last_heartbeat: row.lastHeartbeat,
  current_index: row.currentIndex,
  completed_count: row.completedCount,
  invocation_id: row.invocationId
})

/** A `logs` row. */
export const logLine = (row: CheckpointStore.LogRow) => ({
  id: row.id,
  timestamp: row.timestamp,
  level: row.level,
  level_name: row.levelName,
  logger_name: row.loggerName,
  message: row.message,
  worker_id: row.workerId,
  index: row.index
})

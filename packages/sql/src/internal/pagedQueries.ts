/**
 * The paged queries and aggregates of one checkpoint in SQL: keyset pages
 * (`WHERE key > after ORDER BY key LIMIT n`), sets built from an aggregate,
 * and statistics the database computes, so that no query loads a whole
 * 10⁶-index run into memory. Each reads through the `curator_` indexes of
 * `CheckpointSchema.queryIndexes` when they exist, and gives the same answer
 * (slower) on a database without them.
 */
import { CheckpointStore, IndexSet } from "@curator/core"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import * as StatusTotals from "./statusTotals.js"

/** A `workers` row as the driver returns it. */
export interface WorkerRowSql {
  readonly worker_id: string
  readonly pid: number
  readonly hostname: string
  readonly started_at: string
  readonly last_heartbeat: string
  readonly current_index: number | null
  readonly completed_count: number
  readonly invocation_id: string | null
}

/** A `workers` row as the contract gives it. */
export const workerRowOf = (row: WorkerRowSql): CheckpointStore.WorkerRow => ({
  workerId: row.worker_id,
  pid: row.pid,
  hostname: row.hostname,
  startedAt: row.started_at,
  lastHeartbeat: row.last_heartbeat,
  currentIndex: row.current_index,
  completedCount: row.completed_count,
  invocationId: row.invocation_id ?? ""
})

type Checkpoint = CheckpointStore.Checkpoint
type IndexMetrics = CheckpointStore.IndexMetrics

/** The members of `Checkpoint` this module builds. */
export type PagedQueries = Pick<
  Checkpoint,
  | "completedIndexSet"
  | "failedIndexSet"
  | "remainingIndices"
  | "recordedCounts"
  | "metrics"
  | "outputsPage"
  | "resultsPage"
  | "metricsOf"
  | "artifactsOf"
  | "logsPage"
  | "workerLabels"
  | "invocations"
  | "workersOf"
  | "runFigures"
  | "statistics"
  | "percentiles"
  | "histogram"
  | "slowest"
  | "latest"
  | "stageStatistics"
  | "timeline"
  | "stageTimeline"
  | "changeMark"
>

/** PostgreSQL returns BIGINT, COUNT, SUM and AVG as strings; SQLite as numbers. */
type Numeric = number | string | null

const num = (value: Numeric): number | null => (value === null ? null : Number(value))
const count = (value: Numeric): number => (value === null ? 0 : Number(value))

interface ResultRow {
  readonly idx: number
  readonly status: "completed" | "error"
  readonly completed_at: string
  readonly wall_time_ns: Numeric
  readonly peak_memory_bytes: Numeric
  readonly gpu_memory_bytes: Numeric
  readonly error: string | null
  readonly worker_id: string | null
}

interface LogRowSql {
  readonly id: Numeric
  readonly timestamp: string
  readonly level: number
  readonly level_name: string
  readonly logger_name: string
  readonly message: string
  readonly worker_id: string | null
  readonly idx: number | null
}

const columnOf = { wallTimeNs: "wall_time_ns", peakMemoryBytes: "peak_memory_bytes" } as const

const spanSeconds = (from: string, to: string) => Math.max(0, Date.parse(to) - Date.parse(from)) / 1e3

/** The row at percentile `p` of `n` ascending rows, by nearest rank. */
const rankOf = (p: number, n: number) => Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))

/**
 * Builds the queries over the records of the run whose id `runId()` gives
 * now (a reset changes it, so each statement is built when it runs).
 * `query` flushes the writer first and maps storage failures.
 */
export const make = (
  sql: SqlClient.SqlClient,
  runId: () => number,
  query: <A>(effect: Effect.Effect<A, SqlError>) => Effect.Effect<A, CheckpointStore.CheckpointError>,
  /** How many writes this checkpoint has accepted: its own changes, which SQLite's data_version does not count. */
  ownWrites: () => number
): PagedQueries => {
  const resultColumns = sql`idx, status, completed_at, wall_time_ns, peak_memory_bytes, gpu_memory_bytes, error, worker_id`

  /** Records with their stage timings, read for the listed indices in one statement. */
  const withStages = (rows: ReadonlyArray<ResultRow>) =>
    Effect.gen(function*() {
      if (rows.length === 0) return []
      const stages = yield* sql<{ idx: number; stage_order: number; stage_name: string; wall_time_ns: Numeric }>`
        SELECT idx, stage_order, stage_name, wall_time_ns FROM stage_metrics
        WHERE run_id = ${runId()} AND idx IN ${sql.in(rows.map((row) => row.idx))} ORDER BY idx, stage_order`
      const byIndex = new Map<number, Array<CheckpointStore.StageTiming>>()
      for (const s of stages) {
        const list = byIndex.get(s.idx) ?? []
        list.push({ order: s.stage_order, name: s.stage_name, wallTimeNs: count(s.wall_time_ns) })
        byIndex.set(s.idx, list)
      }
      return rows.map((row): IndexMetrics => ({
        index: row.idx,
        status: row.status,
        completedAt: row.completed_at,
        wallTimeNs: num(row.wall_time_ns),
        peakMemoryBytes: num(row.peak_memory_bytes),
        gpuMemoryBytes: num(row.gpu_memory_bytes),
        workerId: row.worker_id,
        error: row.error,
        stages: byIndex.get(row.idx) ?? []
      }))
    })

  /** Records per statement when every index's metrics are read. */
  const metricsPageSize = 2000

  /** The page's `next`: the key of its last row when the page is full. */
  const nextOf = <A>(rows: ReadonlyArray<A>, limit: number, key: (a: A) => number) =>
    rows.length === limit && rows.length > 0 ? key(rows[rows.length - 1]!) : undefined

  /** The set of indices of one status, from one grouped scan: a sum of distinct bits is their union. */
  const indexSet = (status: IndexMetrics["status"]) =>
    query(Effect.gen(function*() {
      const words = yield* sql<{ word: number; bits: Numeric }>`
        SELECT idx / 32 AS word, SUM(CAST(1 AS BIGINT) << (idx % 32)) AS bits
        FROM index_results WHERE run_id = ${runId()} AND status = ${status} GROUP BY idx / 32`
      const set = IndexSet.empty()
      for (const row of words) set.addWord(Number(row.word), count(row.bits))
      return set
    }))

  const totalIndices = Effect.suspend(() =>
    Effect.map(
      sql<{ total: number | null }>`SELECT total_indices AS total FROM pipeline_runs WHERE run_id = ${runId()}`,
      (rows) => Math.max(1, rows[0]?.total ?? 0)
    )
  )

  /** Nearest-rank values of `column` over the recorded indices (of one status if given). */
  const ranked = (
    column: "wall_time_ns" | "peak_memory_bytes",
    status: IndexMetrics["status"] | undefined,
    ps: ReadonlyArray<number>
  ) =>
    Effect.gen(function*() {
      const where = sql.and([
        sql`run_id = ${runId()}`,
        sql`${sql(column)} IS NOT NULL`,
        ...(status === undefined ? [] : [sql`status = ${status}`])
      ])
      const [counted] = yield* sql<{ n: Numeric }>`SELECT COUNT(*) AS n FROM index_results WHERE ${where}`
      const n = count(counted?.n ?? 0)
      if (n === 0) return ps.map(() => null)
      return yield* Effect.forEach(ps, (p) =>
        Effect.map(
          sql<{ value: Numeric }>`SELECT ${sql(column)} AS value FROM index_results WHERE ${where}
            ORDER BY ${sql(column)} LIMIT 1 OFFSET ${rankOf(p, n)}`,
          (rows) => num(rows[0]?.value ?? null)
        ))
    })

  const stageRanked = (order: number, n: number, ps: ReadonlyArray<number>) =>
    Effect.forEach(ps, (p) =>
      Effect.map(
        sql<{ value: Numeric }>`SELECT wall_time_ns AS value FROM stage_metrics WHERE run_id = ${runId()} AND stage_order = ${order}
          ORDER BY wall_time_ns LIMIT 1 OFFSET ${rankOf(p, n)}`,
        (rows) => count(rows[0]?.value ?? 0)
      ))

  const processKey = sql`hostname || ':' || CAST(pid AS TEXT)`
  const statusTotals = StatusTotals.makeReader(sql)

  return {
    completedIndexSet: indexSet("completed"),
    failedIndexSet: indexSet("error"),

    // The kept totals, or else two index-only counts on (run_id, status, …): no record is read, no wall time summed.
    recordedCounts: query(Effect.suspend(() =>
      Effect.flatMap(statusTotals(runId()), Option.match({
        onSome: ({ completed, error }) => Effect.succeed({ completed: completed.indices, failed: error.indices }),
        onNone: () =>
          Effect.map(
            sql<{ completed: Numeric; failed: Numeric }>`SELECT
              (SELECT COUNT(*) FROM index_results WHERE run_id = ${runId()} AND status = 'completed') AS completed,
              (SELECT COUNT(*) FROM index_results WHERE run_id = ${runId()} AND status = 'error') AS failed`,
            ([row]) => ({ completed: count(row?.completed ?? 0), failed: count(row?.failed ?? 0) })
          )
      }))
    )),

    // The recorded indices as a bitset (one grouped scan, n/8 bytes), not a row object per index.
    remainingIndices: query(Effect.gen(function*() {
      const [run] = yield* sql<{ total: number | null }>`SELECT total_indices AS total FROM pipeline_runs WHERE run_id = ${runId()}`
      const words = yield* sql<{ word: number; bits: Numeric }>`
        SELECT idx / 32 AS word, SUM(CAST(1 AS BIGINT) << (idx % 32)) AS bits
        FROM index_results WHERE run_id = ${runId()} GROUP BY idx / 32`
      const recorded = IndexSet.empty()
      for (const row of words) recorded.addWord(Number(row.word), count(row.bits))
      const remaining: Array<number> = []
      for (let index = 0; index < (run?.total ?? 0); index++) if (!recorded.has(index)) remaining.push(index)
      return remaining
    })),

    // Every index's metrics, read a page of records (and their stages) at a time: the driver's rows of one
    // page are held at once, not those of the whole run beside the result.
    metrics: query(Effect.gen(function*() {
      const all: Array<IndexMetrics> = []
      for (let after = -1;;) {
        const rows = yield* sql<ResultRow>`SELECT ${resultColumns} FROM index_results
          WHERE run_id = ${runId()} AND idx > ${after} ORDER BY idx LIMIT ${metricsPageSize}`
        for (const metrics of yield* withStages(rows)) all.push(metrics)
        if (rows.length < metricsPageSize) return all
        after = rows[rows.length - 1]!.idx
      }
    })),

    outputsPage: (q = {}) =>
      query(Effect.gen(function*() {
        const limit = q.limit ?? CheckpointStore.defaultPageSize
        const rows = yield* sql<{ idx: number; output_paths: string | null }>`
          SELECT idx, output_paths FROM index_results
          WHERE ${sql.and([
            sql`run_id = ${runId()}`,
            sql`status = 'completed'`,
            ...(q.after === undefined ? [] : [sql`idx > ${q.after}`])
          ])}
          ORDER BY idx LIMIT ${limit}`
        return {
          rows: rows.map((row) => ({ index: row.idx, paths: row.output_paths === null ? [] : JSON.parse(row.output_paths) })),
          next: nextOf(rows, limit, (row) => row.idx)
        }
      })),

    resultsPage: (q = {}) =>
      query(Effect.gen(function*() {
        const limit = q.limit ?? CheckpointStore.defaultPageSize
        const rows = yield* sql<ResultRow>`SELECT ${resultColumns} FROM index_results
          WHERE ${sql.and([
            // Without a status, the primary key (idx, run_id) serves the range in order; `+run_id`
            // keeps the planner off the (run_id, status, …) indexes, which would read the whole run to sort it.
            q.status === undefined ? sql`+run_id = ${runId()}` : sql`run_id = ${runId()}`,
            ...(q.status === undefined ? [] : [sql`status = ${q.status}`]),
            ...(q.from === undefined ? [] : [sql`idx >= ${q.from}`]),
            ...(q.to === undefined ? [] : [sql`idx <= ${q.to}`]),
            ...(q.workerId === undefined ? [] : [sql`worker_id = ${q.workerId}`]),
            ...(q.after === undefined ? [] : [sql`idx > ${q.after}`])
          ])}
          ORDER BY idx LIMIT ${limit}`
        return { rows: yield* withStages(rows), next: nextOf(rows, limit, (row) => row.idx) }
      })),

    metricsOf: (index) =>
      query(Effect.gen(function*() {
        const rows = yield* sql<ResultRow>`SELECT ${resultColumns} FROM index_results WHERE run_id = ${runId()} AND idx = ${index}`
        return Option.fromNullable((yield* withStages(rows))[0])
      })),

    artifactsOf: (index) =>
      query(Effect.suspend(() =>
        Effect.map(
          sql<{ path: string; idx: number; filter_name: string; filter_order: number }>`
            SELECT path, idx, filter_name, filter_order FROM filter_artifacts
            WHERE run_id = ${runId()} AND idx = ${index} ORDER BY filter_order, path`,
          (rows) => rows.map((row) => ({ path: row.path, index: row.idx, filterName: row.filter_name, filterOrder: row.filter_order }))
        )
      )),

    logsPage: (q = {}) =>
      query(Effect.gen(function*() {
        const limit = q.limit ?? CheckpointStore.defaultPageSize
        const rows = yield* sql<LogRowSql>`SELECT id, timestamp, level, level_name, logger_name, message, worker_id, idx FROM logs
          WHERE ${sql.and([
            sql`run_id = ${runId()}`,
            ...(q.minLevel === undefined ? [] : [sql`level >= ${q.minLevel}`]),
            ...(q.index === undefined ? [] : [sql`idx = ${q.index}`]),
            ...(q.workerId === undefined ? [] : [sql`worker_id = ${q.workerId}`]),
            ...(q.loggerName === undefined ? [] : [sql`logger_name = ${q.loggerName}`]),
            ...(q.sinceId === undefined ? [] : [sql`id > ${q.sinceId}`]),
            ...(q.after === undefined ? [] : [sql`id > ${q.after}`]),
            ...(q.before === undefined ? [] : [sql`id < ${q.before}`])
          ])}
          ORDER BY id ${q.newestFirst === true ? sql`DESC` : sql`ASC`} LIMIT ${limit}`
        const page = rows.map((row): CheckpointStore.LogRow => ({
          id: count(row.id),
          timestamp: row.timestamp,
          level: row.level,
          levelName: row.level_name,
          loggerName: row.logger_name,
          message: row.message,
          workerId: row.worker_id,
          index: row.idx
        }))
        return { rows: page, next: nextOf(page, limit, (row) => row.id) }
      })),

    workerLabels: (prefix, limit) =>
      query(Effect.gen(function*() {
        // `substr` is exact on every collation; on SQLite the range lets the index find the prefix.
        const starts = (column: string) =>
          sql.onDialectOrElse({
            sqlite: () =>
              sql`${sql(column)} >= ${prefix} AND ${sql(column)} < ${prefix + "\u{10FFFF}"} AND substr(${sql(column)}, 1, ${prefix.length}) = ${prefix}`,
            orElse: () => sql`substr(${sql(column)}, 1, ${prefix.length}) = ${prefix}`
          })
        const fromWorkers = yield* sql<{ label: string }>`
          SELECT worker_id AS label FROM workers WHERE run_id = ${runId()} AND ${starts("worker_id")}
          ORDER BY worker_id LIMIT ${limit}`
        // The distinct labels of the logs by skipping from one to the next (`MIN(worker_id) > last`, one index
        // seek each): `SELECT DISTINCT` would read every line of a matching worker (250,000 at 10⁶ indices).
        // On SQLite only: there, text compares by bytes, so the labels starting with a prefix are contiguous;
        // a PostgreSQL collation may order them apart, so it keeps the plain DISTINCT.
        const skipScan = sql.onDialectOrElse({ sqlite: () => true, orElse: () => false })
        const fromLogs: Array<{ label: string }> = skipScan ? [] : [...yield* sql<{ label: string }>`
          SELECT DISTINCT worker_id AS label FROM logs WHERE run_id = ${runId()} AND worker_id IS NOT NULL AND ${starts("worker_id")}
          ORDER BY label LIMIT ${limit}`]
        for (let last: string | undefined; skipScan && fromLogs.length < limit;) {
          const [next] = yield* sql<{ label: string | null }>`
            SELECT MIN(worker_id) AS label FROM logs
            WHERE run_id = ${runId()} AND ${last === undefined ? sql`worker_id >= ${prefix}` : sql`worker_id > ${last}`}`
          const label = next?.label ?? null
          if (label === null || !label.startsWith(prefix)) break
          fromLogs.push({ label })
          last = label
        }
        return [...new Set([...fromWorkers, ...fromLogs].map((row) => row.label))].sort().slice(0, limit)
      })),

    invocations: query(Effect.suspend(() =>
      Effect.map(
        sql<{ invocation_id: string | null; started_at: string; last_heartbeat: string; worker_rows: Numeric; processes: Numeric; completed: Numeric }>`
          SELECT invocation_id, MIN(started_at) AS started_at, MAX(last_heartbeat) AS last_heartbeat, COUNT(*) AS worker_rows,
            COUNT(DISTINCT ${processKey}) AS processes, SUM(completed_count) AS completed
          FROM workers WHERE run_id = ${runId()} GROUP BY invocation_id ORDER BY MIN(started_at), invocation_id`,
        (rows) =>
          rows.map((row): CheckpointStore.Invocation => ({
            invocationId: row.invocation_id ?? "",
            startedAt: row.started_at,
            lastHeartbeat: row.last_heartbeat,
            elapsedS: spanSeconds(row.started_at, row.last_heartbeat),
            workerRows: count(row.worker_rows),
            processes: count(row.processes),
            completed: count(row.completed)
          }))
      )
    )),

    workersOf: (invocationId) =>
      query(Effect.suspend(() =>
        Effect.map(
          sql<WorkerRowSql>`SELECT * FROM workers WHERE run_id = ${runId()} AND COALESCE(invocation_id, '') = ${invocationId}
            ORDER BY started_at, worker_id`,
          (rows) => rows.map(workerRowOf)
        )
      )),

    runFigures: query(Effect.gen(function*() {
      const [workers] = yield* sql<{ invocations: Numeric; first: string | null; last: string | null; worker_rows: Numeric; processes: Numeric }>`
        SELECT COUNT(DISTINCT COALESCE(invocation_id, '')) AS invocations, MIN(started_at) AS first, MAX(last_heartbeat) AS last,
          COUNT(*) AS worker_rows, COUNT(DISTINCT ${processKey}) AS processes
        FROM workers WHERE run_id = ${runId()}`
      // One index lookup per status on (run_id, status, completed_at), not a scan of the run.
      const [records] = yield* sql<{ last: string | null }>`SELECT MAX(last) AS last FROM (
        SELECT MAX(completed_at) AS last FROM index_results WHERE run_id = ${runId()} AND status = 'completed'
        UNION ALL SELECT MAX(completed_at) AS last FROM index_results WHERE run_id = ${runId()} AND status = 'error') AS latest`
      const first = workers?.first ?? null
      const ends = [workers?.last ?? null, records?.last ?? null].filter((t): t is string => t !== null)
      const last = ends.length === 0 ? null : ends.reduce((a, b) => (b > a ? b : a))
      return {
        invocations: count(workers?.invocations ?? 0),
        firstStartedAt: first,
        lastActivityAt: last,
        spanS: first === null || last === null ? 0 : spanSeconds(first, last),
        workerRows: count(workers?.worker_rows ?? 0),
        processes: count(workers?.processes ?? 0)
      }
    })),

    statistics: (status) =>
      query(Effect.gen(function*() {
        const where = sql.and([sql`run_id = ${runId()}`, ...(status === undefined ? [] : [sql`status = ${status}`])])
        const kept = yield* statusTotals(runId())
        if (Option.isSome(kept)) {
          // Counts and sums from the kept totals; extremes are one index lookup each on (run_id, status, column).
          const parts = status === undefined ? [kept.value.completed, kept.value.error] : [kept.value[status]]
          const sum = (field: keyof StatusTotals.Totals) => parts.reduce((acc, part) => acc + part[field], 0)
          const [extremes] = yield* sql<{ wall_max: Numeric; peak_max: Numeric; peak_min: Numeric }>`SELECT
            (SELECT MAX(wall_time_ns) FROM index_results WHERE ${where}) AS wall_max,
            (SELECT MAX(peak_memory_bytes) FROM index_results WHERE ${where}) AS peak_max,
            (SELECT MIN(peak_memory_bytes) FROM index_results WHERE ${where}) AS peak_min`
          const mean = (total: number, n: number) => (n === 0 ? null : total / n)
          return {
            count: sum("indices"),
            wallTimeNs: {
              mean: mean(sum("wallTimeNsSum"), sum("wallTimeNsCount")),
              max: num(extremes?.wall_max ?? null),
              total: sum("wallTimeNsSum")
            },
            peakMemoryBytes: {
              mean: mean(sum("peakMemoryBytesSum"), sum("peakMemoryBytesCount")),
              max: num(extremes?.peak_max ?? null),
              min: num(extremes?.peak_min ?? null)
            }
          }
        }
        const [row] = yield* sql<{ n: Numeric; wall_mean: Numeric; wall_max: Numeric; wall_total: Numeric; peak_mean: Numeric; peak_max: Numeric; peak_min: Numeric }>`
          SELECT COUNT(*) AS n, AVG(wall_time_ns) AS wall_mean, MAX(wall_time_ns) AS wall_max, SUM(wall_time_ns) AS wall_total,
            AVG(peak_memory_bytes) AS peak_mean, MAX(peak_memory_bytes) AS peak_max, MIN(peak_memory_bytes) AS peak_min
          FROM index_results WHERE ${where}`
        return {
          count: count(row?.n ?? 0),
          wallTimeNs: { mean: num(row?.wall_mean ?? null), max: num(row?.wall_max ?? null), total: count(row?.wall_total ?? 0) },
          peakMemoryBytes: { mean: num(row?.peak_mean ?? null), max: num(row?.peak_max ?? null), min: num(row?.peak_min ?? null) }
        }
      })),

    percentiles: (field, ps, status) => query(ranked(columnOf[field], status, ps)),

    histogram: (field, bins) =>
      query(Effect.gen(function*() {
        const column = sql(columnOf[field])
        const [range] = yield* sql<{ low: Numeric; high: Numeric }>`
          SELECT MIN(${column}) AS low, MAX(${column}) AS high FROM index_results WHERE run_id = ${runId()}`
        const low = num(range?.low ?? null)
        const high = num(range?.high ?? null)
        if (low === null || high === null) return []
        if (low === high) {
          const [all] = yield* sql<{ n: Numeric }>`
            SELECT COUNT(${column}) AS n FROM index_results WHERE run_id = ${runId()}`
          return [{ from: low, to: high, count: count(all?.n ?? 0) }]
        }
        // Bin of v: floor((v - low) * bins / (high - low)), the maximum in the last bin.
        const counted = yield* sql<{ bin: Numeric; n: Numeric }>`
          SELECT CASE WHEN ${column} >= ${high} THEN ${bins - 1}
            ELSE CAST(((${column} - ${low}) * ${bins}) / ${high - low} AS BIGINT) END AS bin, COUNT(*) AS n
          FROM index_results WHERE run_id = ${runId()} AND ${column} IS NOT NULL GROUP BY 1`
        const counts = new Array<number>(bins).fill(0)
        for (const row of counted) counts[Math.min(bins - 1, count(row.bin))]! += count(row.n)
        const width = (high - low) / bins
        return counts.map((n, i) => ({ from: low + i * width, to: i === bins - 1 ? high : low + (i + 1) * width, count: n }))
      })),

    slowest: (limit) =>
      query(Effect.gen(function*() {
        // One indexed read per status, merged: the (run_id, status, wall_time_ns) index orders each.
        const perStatus = yield* Effect.forEach(["completed", "error"] as const, (status) =>
          sql<ResultRow>`SELECT ${resultColumns} FROM index_results
            WHERE run_id = ${runId()} AND status = ${status} AND wall_time_ns IS NOT NULL
            ORDER BY wall_time_ns DESC, idx LIMIT ${limit}`)
        const rows = perStatus.flat()
          .sort((a, b) => count(b.wall_time_ns) - count(a.wall_time_ns) || a.idx - b.idx)
          .slice(0, limit)
        return yield* withStages(rows)
      })),

    latest: (status, limit) =>
      query(Effect.gen(function*() {
        const rows = yield* sql<ResultRow>`SELECT ${resultColumns} FROM index_results
          WHERE run_id = ${runId()} AND status = ${status} ORDER BY completed_at DESC, idx LIMIT ${limit}`
        return yield* withStages(rows)
      })),

    stageStatistics: query(Effect.gen(function*() {
      const stages = yield* sql<{ stage_order: number; n: Numeric; total: Numeric; high: Numeric }>`
        SELECT stage_order, COUNT(*) AS n, SUM(wall_time_ns) AS total, MAX(wall_time_ns) AS high
        FROM stage_metrics WHERE run_id = ${runId()} GROUP BY stage_order ORDER BY stage_order`
      return yield* Effect.forEach(stages, (stage) =>
        Effect.gen(function*() {
          const n = count(stage.n)
          const [named] = yield* sql<{ stage_name: string }>`
            SELECT stage_name FROM stage_metrics WHERE run_id = ${runId()} AND stage_order = ${stage.stage_order} LIMIT 1`
          const [median, p95] = yield* stageRanked(stage.stage_order, n, [50, 95])
          return {
            order: stage.stage_order,
            name: named?.stage_name ?? "",
            count: n,
            meanNs: count(stage.total) / n,
            medianNs: median!,
            p95Ns: p95!,
            maxNs: count(stage.high),
            totalNs: count(stage.total)
          }
        }))
    })),

    timeline: (buckets) =>
      query(Effect.gen(function*() {
        const total = yield* totalIndices
        const rows = yield* sql<{ status: "completed" | "error"; first: number; last: number; n: Numeric; mean: Numeric; high: Numeric }>`
          SELECT CAST((idx * ${buckets}) / ${total} AS BIGINT) AS bucket, status, MIN(idx) AS first, MAX(idx) AS last,
            COUNT(*) AS n, AVG(wall_time_ns) AS mean, MAX(wall_time_ns) AS high
          FROM index_results WHERE run_id = ${runId()} GROUP BY 1, 2`
        return rows.map((row): CheckpointStore.TimelineBucket => ({
          fromIndex: row.first,
          toIndex: row.last,
          status: row.status,
          count: count(row.n),
          meanWallTimeNs: num(row.mean),
          maxWallTimeNs: num(row.high)
        })).sort((a, b) => a.fromIndex - b.fromIndex || a.status.localeCompare(b.status))
      })),

    stageTimeline: (buckets) =>
      query(Effect.gen(function*() {
        const total = yield* totalIndices
        const rows = yield* sql<{ bucket: Numeric; stage_order: number; first: number; last: number; mean: Numeric }>`
          SELECT CAST((idx * ${buckets}) / ${total} AS BIGINT) AS bucket, stage_order, MIN(idx) AS first, MAX(idx) AS last,
            AVG(wall_time_ns) AS mean
          FROM stage_metrics WHERE run_id = ${runId()} GROUP BY 1, 2`
        const byBucket = new Map<number, { first: number; last: number; stages: Array<{ order: number; meanNs: number }> }>()
        for (const row of rows) {
          const key = count(row.bucket)
          const entry = byBucket.get(key) ?? { first: row.first, last: row.last, stages: [] }
          entry.first = Math.min(entry.first, row.first)
          entry.last = Math.max(entry.last, row.last)
          entry.stages.push({ order: row.stage_order, meanNs: count(row.mean) })
          byBucket.set(key, entry)
        }
        return [...byBucket.entries()].sort(([a], [b]) => a - b).map(([, entry]) => ({
          fromIndex: entry.first,
          toIndex: entry.last,
          stages: entry.stages.sort((a, b) => a.order - b.order)
        }))
      })),

    changeMark: query(Effect.gen(function*() {
      const id = runId()
      return yield* sql.onDialectOrElse({
        // SQLite: data_version moves whenever another connection commits (each checkpoint of a
        // file has its own), and our own writes are counted: one pragma, whatever the size.
        sqlite: () =>
          Effect.map(
            sql<{ data_version: Numeric }>`PRAGMA data_version`,
            (rows) => `${id}|${String(rows[0]?.data_version)}|${ownWrites()}`
          ),
        // Elsewhere: counts and maxima, each one index lookup or one index-only count.
        orElse: () =>
          Effect.map(
            sql<Record<string, Numeric>>`SELECT
              (SELECT COUNT(*) FROM index_results WHERE run_id = ${id} AND status = 'completed') AS completed,
              (SELECT COUNT(*) FROM index_results WHERE run_id = ${id} AND status = 'error') AS failed,
              (SELECT MAX(completed_at) FROM index_results WHERE run_id = ${id} AND status = 'completed') AS completed_at,
              (SELECT MAX(completed_at) FROM index_results WHERE run_id = ${id} AND status = 'error') AS failed_at,
              (SELECT MAX(last_heartbeat) FROM workers WHERE run_id = ${id}) AS heartbeat,
              (SELECT COUNT(*) FROM workers WHERE run_id = ${id} AND current_index IS NOT NULL) AS busy,
              (SELECT MAX(id) FROM logs WHERE run_id = ${id}) AS log_id,
              (SELECT total_indices FROM pipeline_runs WHERE run_id = ${id}) AS total`,
            ([mark]) => [id, ...Object.values(mark ?? {}).map((value) => String(value))].join("|")
          )
      })
    }))
  }
}

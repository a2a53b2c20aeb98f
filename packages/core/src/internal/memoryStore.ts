import { Effect, Option } from "effect"
import type {
  Artifact,
  Checkpoint,
  FailureDetail,
  CheckpointStore,
  IndexMetrics,
  Invocation,
  LogPageQuery,
  LogQuery,
  LogRow,
  MeasuredField,
  OpenRequest,
  Page,
  RecordedIndex,
  StageStatistics,
  WorkerRow
} from "./storeContract.js"
import { bucketOf, databaseFileName, defaultPageSize, makeSummary } from "./storeContract.js"
import * as IndexSet from "../IndexSet.js"

interface Records {
  runId: number
  readonly configHash: string
  readonly configJson: string
  totalIndices: number
  readonly results: Map<number, IndexMetrics & { readonly paths: ReadonlyArray<string> }>
  /** What a completed index is checked by on resume (`curator_index_inputs`, `curator_output_checks`). */
  readonly checks: Map<number, Pick<RecordedIndex, "fingerprint" | "outputChecks">>
  readonly workers: Map<string, WorkerRow>
  readonly artifacts: Map<string, Artifact>
  readonly logs: Array<LogRow>
  /** The failure policy's details by index, with the quarantine threshold of the run that wrote them. */
  readonly attempts: Map<number, FailureDetail & { readonly quarantineAfter: number }>
  readonly progress: Map<string, { index: number | null; items: number; stalled: boolean; at: string }>
}

interface Database {
  readonly runs: Map<string, Records>
  nextRunId: number
  nextLogId: number
}

const newRecords = (runId: number, configHash: string, configJson: string, totalIndices: number): Records => ({
  runId,
  configHash,
  configJson,
  totalIndices,
  results: new Map(),
  checks: new Map(),
  workers: new Map(),
  artifacts: new Map(),
  logs: [],
  attempts: new Map(),
  progress: new Map()
})

const byIndex = <A extends { readonly index: number }>(a: A, b: A) => a.index - b.index

/** The first `limit` rows (sorted by key) after `after`, and the key of the next page. */
const pageOf = <A>(sorted: ReadonlyArray<A>, key: (a: A) => number, after: number | undefined, limit: number | undefined): Page<A> => {
  const size = limit ?? defaultPageSize
  const rows = sorted.filter((row) => after === undefined || key(row) > after).slice(0, size)
  return { rows, next: rows.length === size && rows.length > 0 ? key(rows[rows.length - 1]!) : undefined }
}

/** The value at percentile `p` of ascending `sorted` values, by nearest rank. */
const nearestRank = (sorted: ReadonlyArray<number>, p: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

const fieldOf = (m: IndexMetrics, field: MeasuredField): number | null =>
  field === "wallTimeNs" ? m.wallTimeNs : m.peakMemoryBytes

const spanSeconds = (from: string, to: string) => Math.max(0, Date.parse(to) - Date.parse(from)) / 1e3

const logMatches = (query: LogPageQuery) => (row: LogRow) =>
  (query.minLevel === undefined || row.level >= query.minLevel) &&
  (query.index === undefined || row.index === query.index) &&
  (query.workerId === undefined || row.workerId === query.workerId) &&
  (query.loggerName === undefined || row.loggerName === query.loggerName) &&
  (query.sinceId === undefined || row.id > query.sinceId) &&
  (query.after === undefined || row.id > query.after) &&
  (query.before === undefined || row.id < query.before)

/**
 * Equal-width bins from `min` to `max`, one bin when all values are equal;
 * value v falls in bin floor((v - min) * bins / (max - min)), the last bin
 * taking `max` (the SQL stores compute the same in integers).
 */
const histogramOf = (values: ReadonlyArray<number>, min: number, max: number, bins: number) => {
  const count = min === max ? 1 : bins
  const width = (max - min) / count
  const counts = new Array<number>(count).fill(0)
  for (const value of values) counts[min === max ? 0 : Math.min(count - 1, Math.floor(((value - min) * count) / (max - min)))]!++
  return counts.map((n, i) => ({ from: min + i * width, to: i === count - 1 ? max : min + (i + 1) * width, count: n }))
}

/** Builds the in-memory store; databases live as long as the returned service. */
export const make = (): CheckpointStore["Type"] => {
  const databases = new Map<string, Database>()
  let freshCount = 0

  const open = (request: OpenRequest) =>
    Effect.sync((): Checkpoint => {
      const name = databaseFileName(request.configHash, request.resume, BigInt(++freshCount))
      const location = request.dbFile ?? `memory:${request.dbDir ?? ""}/${name}`
      let database = databases.get(location)
      if (database === undefined || (!request.resume && request.dbFile === undefined)) {
        database = { runs: new Map(), nextRunId: 1, nextLogId: 1 }
        databases.set(location, database)
      }
      const db = database
      let records = db.runs.get(request.configHash)
      if (records === undefined) {
        records = newRecords(db.nextRunId++, request.configHash, request.configJson, request.totalIndices)
        db.runs.set(request.configHash, records)
      }
      records.totalIndices = request.totalIndices
      let r = records

      const freeWorker = (workerId: string, at: string, completed: boolean) => {
        const worker = r.workers.get(workerId)
        if (worker === undefined) return
        r.workers.set(workerId, {
          ...worker,
          lastHeartbeat: at,
          currentIndex: null,
          completedCount: worker.completedCount + (completed ? 1 : 0)
        })
      }

      const latestInvocation = () => {
        const workers = [...r.workers.values()]
        const latest = workers.reduce<WorkerRow | undefined>(
          (acc, w) => (acc === undefined || w.startedAt > acc.startedAt ? w : acc),
          undefined
        )
        if (latest === undefined) return undefined
        const members = workers.filter((w) => w.invocationId === latest.invocationId)
        return {
          startedAt: members.reduce((min, w) => (w.startedAt < min ? w.startedAt : min), latest.startedAt),
          lastHeartbeat: members.reduce((max, w) => (w.lastHeartbeat > max ? w.lastHeartbeat : max), latest.lastHeartbeat),
          workers: members.length
        }
      }

      const statusOf = (status: IndexMetrics["status"]) =>
        Effect.sync(() => [...r.results.values()].filter((row) => row.status === status).sort(byIndex))

      return {
        location,
        configHash: request.configHash,
        configJson: Effect.sync(() => r.configJson),
        completedOutputs: Effect.map(statusOf("completed"), (rows) => new Map(rows.map((row) => [row.index, row.paths]))),
        completedIndices: Effect.map(statusOf("completed"), (rows) => new Set(rows.map((row) => row.index))),
        failedIndices: Effect.map(statusOf("error"), (rows) => new Map(rows.map((row) => [row.index, row.error ?? ""]))),
        remainingIndices: Effect.sync(() =>
          Array.from({ length: r.totalIndices }, (_, i) => i).filter((i) => !r.results.has(i))
        ),
        summary: Effect.sync(() => {
          const rows = [...r.results.values()]
          const done = rows.filter((row) => row.status === "completed")
          return makeSummary({
            total: r.totalIndices,
            completed: done.length,
            failed: rows.length - done.length,
            completedWallTimeNs: done.reduce((sum, row) => sum + (row.wallTimeNs ?? 0), 0),
            latestInvocation: latestInvocation(),
            configHash: r.configHash,
            location
          })
        }),
        totalIndices: Effect.sync(() => r.totalIndices),
        recordedCounts: Effect.sync(() => {
          let completed = 0
          for (const row of r.results.values()) if (row.status === "completed") completed++
          return { completed, failed: r.results.size - completed }
        }),
        metrics: Effect.sync(() => [...r.results.values()].sort(byIndex).map(({ paths: _, ...metrics }) => metrics)),
        workers: Effect.sync(() => [...r.workers.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt))),
        outputsOf: (index) =>
          Effect.sync(() => {
            const row = r.results.get(index)
            return row?.status === "completed" ? Option.some(row.paths) : Option.none()
          }),
        indexOfOutput: (path) =>
          Effect.sync(() => {
            for (const row of r.results.values()) {
              if (row.status === "completed" && row.paths.includes(path)) return Option.some(row.index)
            }
            return Option.none()
          }),
        artifacts: (filterName) =>
          Effect.sync(() =>
            [...r.artifacts.values()].filter((a) => filterName === undefined || a.filterName === filterName)
          ),
        logs: (query: LogQuery = {}) =>
          Effect.sync(() => {
            const rows = r.logs.filter((row) =>
              (query.minLevel === undefined || row.level >= query.minLevel) &&
              (query.index === undefined || row.index === query.index) &&
              (query.workerId === undefined || row.workerId === query.workerId) &&
              (query.sinceId === undefined || row.id > query.sinceId)
            )
            return query.limit === undefined ? rows : rows.slice(0, query.limit)
          }),
        reset: Effect.sync(() => {
          r = newRecords(db.nextRunId++, r.configHash, r.configJson, r.totalIndices)
          db.runs.set(r.configHash, r)
        }),
        resetIndex: (index) =>
          Effect.sync(() => {
            r.results.delete(index)
            r.attempts.delete(index)
            r.checks.delete(index)
            for (const [key, artifact] of r.artifacts) if (artifact.index === index) r.artifacts.delete(key)
          }),
        replaceArtifacts: (filterOrder, artifacts) =>
          Effect.sync(() => {
            for (const [key, artifact] of r.artifacts) if (artifact.filterOrder === filterOrder) r.artifacts.delete(key)
            for (const artifact of artifacts) r.artifacts.set(`${artifact.index}\u0000${artifact.path}`, artifact)
          }),
        registerWorker: (worker) =>
          Effect.sync(() => {
            r.workers.set(worker.workerId, { ...worker, lastHeartbeat: worker.startedAt, currentIndex: null, completedCount: 0 })
          }),
        indexStarted: (workerId, index, at) =>
          Effect.sync(() => {
            const worker = r.workers.get(workerId)
            if (worker !== undefined) r.workers.set(workerId, { ...worker, lastHeartbeat: at, currentIndex: index })
          }),
        heartbeat: (beat) =>
          Effect.sync(() => {
            const worker = r.workers.get(beat.workerId)
            if (worker !== undefined) r.workers.set(beat.workerId, { ...worker, lastHeartbeat: beat.at, currentIndex: beat.index })
            r.progress.set(beat.workerId, { index: beat.index, items: beat.items, stalled: beat.stalled, at: beat.at })
          }),
        workerProgress: Effect.sync(() => new Map(r.progress)),
        recordSuccess: (record) =>
          Effect.sync(() => {
            if (r.progress.has(record.workerId)) r.progress.set(record.workerId, { index: null, items: 0, stalled: false, at: record.completedAt })
            r.results.set(record.index, {
              index: record.index,
              status: "completed",
              completedAt: record.completedAt,
              wallTimeNs: record.wallTimeNs,
              peakMemoryBytes: record.peakMemoryBytes,
              gpuMemoryBytes: record.gpuMemoryBytes,
              workerId: record.workerId,
              error: null,
              stages: record.stages,
              paths: record.paths
            })
            r.checks.set(record.index, { fingerprint: record.fingerprint ?? null, outputChecks: record.outputChecks ?? [] })
            for (const artifact of record.artifacts) {
              r.artifacts.set(`${record.index}\u0000${artifact.path}`, { ...artifact, index: record.index })
            }
            // As the SQL store: a success at the first attempt keeps no details.
            if ((record.attempts ?? 1) > 1) {
              r.attempts.set(record.index, {
                index: record.index,
                attempts: record.attempts!,
                failureClass: null,
                permanentFailures: 0,
                quarantined: false,
                quarantineAfter: 0,
                stage: null
              })
            } else r.attempts.delete(record.index)
            freeWorker(record.workerId, record.completedAt, true)
          }),
        recordFailure: (record) =>
          Effect.sync(() => {
            if (r.progress.has(record.workerId)) r.progress.set(record.workerId, { index: null, items: 0, stalled: false, at: record.completedAt })
            r.results.set(record.index, {
              index: record.index,
              status: "error",
              completedAt: record.completedAt,
              wallTimeNs: record.wallTimeNs,
              peakMemoryBytes: record.peakMemoryBytes,
              gpuMemoryBytes: null,
              workerId: record.workerId,
              error: record.error,
              stages: [],
              paths: []
            })
            const before = r.attempts.get(record.index)
            const permanentFailures = (before?.permanentFailures ?? 0) + (record.failureClass === "permanent" ? 1 : 0)
            const quarantineAfter = record.quarantineAfter ?? 0
            r.attempts.set(record.index, {
              index: record.index,
              attempts: record.attempts ?? 1,
              failureClass: record.failureClass ?? null,
              permanentFailures,
              quarantined: quarantineAfter > 0 && permanentFailures >= quarantineAfter,
              quarantineAfter,
              stage: record.stage ?? null
            })
            r.checks.delete(record.index)
            freeWorker(record.workerId, record.completedAt, false)
          }),
        failureDetails: (indices) =>
          Effect.sync(() => {
            const found = new Map<number, FailureDetail>()
            for (const index of indices) {
              const detail = r.attempts.get(index)
              if (detail !== undefined) {
                const { quarantineAfter: _, ...rest } = detail
                found.set(index, rest)
              }
            }
            return found
          }),
        quarantinedIndexSet: Effect.sync(() =>
          IndexSet.fromIndices([...r.attempts.values()].filter((d) => d.quarantined).map((d) => d.index))
        ),
        liftQuarantine: Effect.sync(() => {
          let lifted = 0
          for (const [index, detail] of r.attempts) {
            if (detail.quarantined) lifted++
            r.attempts.set(index, { ...detail, permanentFailures: 0, quarantined: false })
          }
          return lifted
        }),
        appendLogs: (entries) =>
          Effect.sync(() => {
            for (const entry of entries) r.logs.push({ ...entry, id: db.nextLogId++ })
          }),
        flush: Effect.void,

        completedIndexSet: Effect.map(statusOf("completed"), (rows) => IndexSet.fromIndices(rows.map((row) => row.index))),
        failedIndexSet: Effect.map(statusOf("error"), (rows) => IndexSet.fromIndices(rows.map((row) => row.index))),
        outputsPage: (query = {}) =>
          Effect.map(statusOf("completed"), (rows) => {
            const page = pageOf(rows, (row) => row.index, query.after, query.limit)
            return { rows: page.rows.map((row) => ({ index: row.index, paths: row.paths })), next: page.next }
          }),
        recordedPage: (query = {}) =>
          Effect.map(statusOf("completed"), (rows) => {
            const page = pageOf(rows, (row) => row.index, query.after, query.limit)
            return {
              rows: page.rows.map((row): RecordedIndex => ({
                index: row.index,
                paths: row.paths,
                completedAt: row.completedAt,
                workerId: row.workerId,
                fingerprint: query.checks === false ? null : r.checks.get(row.index)?.fingerprint ?? null,
                outputChecks: query.checks === false ? [] : r.checks.get(row.index)?.outputChecks ?? []
              })),
              next: page.next
            }
          }),
        resultsPage: (query = {}) =>
          Effect.sync(() => {
            const rows = [...r.results.values()].filter((row) =>
              (query.status === undefined || row.status === query.status) &&
              (query.from === undefined || row.index >= query.from) &&
              (query.to === undefined || row.index <= query.to) &&
              (query.workerId === undefined || row.workerId === query.workerId)
            ).sort(byIndex).map(({ paths: _, ...metrics }) => metrics)
            return pageOf(rows, (row) => row.index, query.after, query.limit)
          }),
        metricsOf: (index) =>
          Effect.sync(() => Option.map(Option.fromNullable(r.results.get(index)), ({ paths: _, ...metrics }) => metrics)),
        artifactsOf: (index) =>
          Effect.sync(() =>
            [...r.artifacts.values()].filter((a) => a.index === index).sort((a, b) =>
              a.filterOrder - b.filterOrder || a.path.localeCompare(b.path)
            )
          ),
        logsPage: (query = {}) =>
          Effect.sync(() => {
            const matching = r.logs.filter(logMatches(query))
            const size = query.limit ?? defaultPageSize
            const rows = query.newestFirst === true ? matching.slice(-size).reverse() : matching.slice(0, size)
            return { rows, next: rows.length === size && rows.length > 0 ? rows[rows.length - 1]!.id : undefined }
          }),
        workerLabels: (prefix, limit) =>
          Effect.sync(() => {
            const labels = new Set<string>()
            for (const id of r.workers.keys()) if (id.startsWith(prefix)) labels.add(id)
            for (const row of r.logs) if (row.workerId !== null && row.workerId.startsWith(prefix)) labels.add(row.workerId)
            return [...labels].sort().slice(0, limit)
          }),
        invocations: Effect.sync(() => {
          const groups = new Map<string, Array<WorkerRow>>()
          for (const w of r.workers.values()) groups.set(w.invocationId, [...(groups.get(w.invocationId) ?? []), w])
          return [...groups.entries()].map(([invocationId, members]): Invocation => {
            const startedAt = members.reduce((min, w) => (w.startedAt < min ? w.startedAt : min), members[0]!.startedAt)
            const lastHeartbeat = members.reduce((max, w) => (w.lastHeartbeat > max ? w.lastHeartbeat : max), members[0]!.lastHeartbeat)
            return {
              invocationId,
              startedAt,
              lastHeartbeat,
              elapsedS: spanSeconds(startedAt, lastHeartbeat),
              workerRows: members.length,
              processes: new Set(members.map((w) => `${w.hostname}\u0000${w.pid}`)).size,
              completed: members.reduce((sum, w) => sum + w.completedCount, 0)
            }
          }).sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.invocationId.localeCompare(b.invocationId))
        }),
        workersOf: (invocationId) =>
          Effect.sync(() =>
            [...r.workers.values()].filter((w) => w.invocationId === invocationId).sort((a, b) => a.startedAt.localeCompare(b.startedAt))
          ),
        runFigures: Effect.sync(() => {
          const workers = [...r.workers.values()]
          const starts = workers.map((w) => w.startedAt)
          const ends = [...workers.map((w) => w.lastHeartbeat), ...[...r.results.values()].map((row) => row.completedAt)]
          const first = starts.reduce<string | null>((min, t) => (min === null || t < min ? t : min), null)
          const last = ends.reduce<string | null>((max, t) => (max === null || t > max ? t : max), null)
          return {
            invocations: new Set(workers.map((w) => w.invocationId)).size,
            firstStartedAt: first,
            lastActivityAt: last,
            spanS: first === null || last === null ? 0 : spanSeconds(first, last),
            workerRows: workers.length,
            processes: new Set(workers.map((w) => `${w.hostname}\u0000${w.pid}`)).size
          }
        }),
        statistics: (status) =>
          Effect.sync(() => {
            const rows = [...r.results.values()].filter((row) => status === undefined || row.status === status)
            const walls = rows.flatMap((row) => (row.wallTimeNs === null ? [] : [row.wallTimeNs]))
            const peaks = rows.flatMap((row) => (row.peakMemoryBytes === null ? [] : [row.peakMemoryBytes]))
            const total = walls.reduce((sum, v) => sum + v, 0)
            return {
              count: rows.length,
              wallTimeNs: {
                mean: walls.length === 0 ? null : total / walls.length,
                max: walls.reduce<number | null>((max, v) => (max === null || v > max ? v : max), null),
                total
              },
              peakMemoryBytes: {
                mean: peaks.length === 0 ? null : peaks.reduce((sum, v) => sum + v, 0) / peaks.length,
                max: peaks.reduce<number | null>((max, v) => (max === null || v > max ? v : max), null),
                min: peaks.reduce<number | null>((min, v) => (min === null || v < min ? v : min), null)
              }
            }
          }),
        percentiles: (field, ps, status) =>
          Effect.sync(() => {
            const values = [...r.results.values()]
              .filter((row) => status === undefined || row.status === status)
              .flatMap((row) => {
                const value = fieldOf(row, field)
                return value === null ? [] : [value]
              })
              .sort((a, b) => a - b)
            return ps.map((p) => nearestRank(values, p))
          }),
        histogram: (field, bins) =>
          Effect.sync(() => {
            const values = [...r.results.values()].flatMap((row) => {
              const value = fieldOf(row, field)
              return value === null ? [] : [value]
            })
            if (values.length === 0) return []
            const min = values.reduce((a, b) => (b < a ? b : a))
            const max = values.reduce((a, b) => (b > a ? b : a))
            return histogramOf(values, min, max, bins)
          }),
        slowest: (limit) =>
          Effect.sync(() =>
            [...r.results.values()]
              .filter((row) => row.wallTimeNs !== null)
              .sort((a, b) => b.wallTimeNs! - a.wallTimeNs! || a.index - b.index)
              .slice(0, limit)
              .map(({ paths: _, ...metrics }) => metrics)
          ),
        latest: (status, limit) =>
          Effect.map(statusOf(status), (rows) =>
            rows.sort((a, b) => b.completedAt.localeCompare(a.completedAt) || a.index - b.index)
              .slice(0, limit)
              .map(({ paths: _, ...metrics }) => metrics)),
        stageStatistics: Effect.sync(() => {
          const byOrder = new Map<number, { name: string; times: Array<number> }>()
          for (const row of r.results.values()) {
            for (const stage of row.stages) {
              const entry = byOrder.get(stage.order) ?? { name: stage.name, times: [] }
              entry.times.push(stage.wallTimeNs)
              byOrder.set(stage.order, entry)
            }
          }
          return [...byOrder.entries()].sort(([a], [b]) => a - b).map(([order, { name, times }]): StageStatistics => {
            const sorted = times.sort((a, b) => a - b)
            const total = sorted.reduce((sum, t) => sum + t, 0)
            return {
              order,
              name,
              count: sorted.length,
              meanNs: total / sorted.length,
              medianNs: nearestRank(sorted, 50)!,
              p95Ns: nearestRank(sorted, 95)!,
              maxNs: sorted[sorted.length - 1]!,
              totalNs: total
            }
          })
        }),
        timeline: (buckets) =>
          Effect.sync(() => {
            const groups = new Map<string, Array<IndexMetrics>>()
            for (const row of [...r.results.values()].sort(byIndex)) {
              const key = `${bucketOf(row.index, r.totalIndices, buckets)}:${row.status}`
              groups.set(key, [...(groups.get(key) ?? []), row])
            }
            return [...groups.values()].map((rows) => {
              const walls = rows.flatMap((row) => (row.wallTimeNs === null ? [] : [row.wallTimeNs]))
              return {
                fromIndex: rows[0]!.index,
                toIndex: rows[rows.length - 1]!.index,
                status: rows[0]!.status,
                count: rows.length,
                meanWallTimeNs: walls.length === 0 ? null : walls.reduce((a, b) => a + b, 0) / walls.length,
                maxWallTimeNs: walls.length === 0 ? null : walls.reduce((a, b) => (b > a ? b : a))
              }
            }).sort((a, b) => a.fromIndex - b.fromIndex || a.status.localeCompare(b.status))
          }),
        stageTimeline: (buckets) =>
          Effect.sync(() => {
            const groups = new Map<number, Array<IndexMetrics>>()
            for (const row of [...r.results.values()].sort(byIndex)) {
              if (row.status !== "completed" || row.stages.length === 0) continue
              const bucket = bucketOf(row.index, r.totalIndices, buckets)
              groups.set(bucket, [...(groups.get(bucket) ?? []), row])
            }
            return [...groups.entries()].sort(([a], [b]) => a - b).map(([, rows]) => {
              const sums = new Map<number, { total: number; count: number }>()
              for (const row of rows) {
                for (const stage of row.stages) {
                  const sum = sums.get(stage.order) ?? { total: 0, count: 0 }
                  sums.set(stage.order, { total: sum.total + stage.wallTimeNs, count: sum.count + 1 })
                }
              }
              return {
                fromIndex: rows[0]!.index,
                toIndex: rows[rows.length - 1]!.index,
                stages: [...sums.entries()].sort(([a], [b]) => a - b).map(([order, sum]) => ({ order, meanNs: sum.total / sum.count }))
              }
            })
          }),
        changeMark: Effect.sync(() => {
          // The memory store changes only through this object: a version counter would do, but
          // a content fingerprint keeps the same meaning as the SQL stores'.
          const rows = [...r.results.values()]
          const latestAt = rows.reduce((max, row) => (row.completedAt > max ? row.completedAt : max), "")
          const heartbeat = [...r.workers.values()].reduce((max, w) => (w.lastHeartbeat > max ? w.lastHeartbeat : max), "")
          return [r.runId, rows.length, rows.filter((row) => row.status === "error").length, latestAt, r.workers.size, heartbeat, db.nextLogId]
            .join("|")
        })
      }
    })

  return { open }
}

import { Effect, Option } from "effect"
import type {
  Artifact,
  Checkpoint,
  CheckpointStore,
  IndexMetrics,
  LogQuery,
  LogRow,
  OpenRequest,
  WorkerRow
} from "../CheckpointStore.js"
import { databaseFileName, makeSummary } from "../CheckpointStore.js"

interface Records {
  runId: number
  readonly configHash: string
  readonly configJson: string
  totalIndices: number
  readonly results: Map<number, IndexMetrics & { readonly paths: ReadonlyArray<string> }>
  readonly workers: Map<string, WorkerRow>
  readonly artifacts: Map<string, Artifact>
  readonly logs: Array<LogRow>
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
  workers: new Map(),
  artifacts: new Map(),
  logs: []
})

const byIndex = <A extends { readonly index: number }>(a: A, b: A) => a.index - b.index

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
            for (const [key, artifact] of r.artifacts) if (artifact.index === index) r.artifacts.delete(key)
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
        recordSuccess: (record) =>
          Effect.sync(() => {
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
            for (const artifact of record.artifacts) {
              r.artifacts.set(`${record.index}\u0000${artifact.path}`, { ...artifact, index: record.index })
            }
            freeWorker(record.workerId, record.completedAt, true)
          }),
        recordFailure: (record) =>
          Effect.sync(() => {
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
            freeWorker(record.workerId, record.completedAt, false)
          }),
        appendLogs: (entries) =>
          Effect.sync(() => {
            for (const entry of entries) r.logs.push({ ...entry, id: db.nextLogId++ })
          }),
        flush: Effect.void
      }
    })

  return { open }
}

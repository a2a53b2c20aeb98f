/**
 * The rows of one index's record, as the writer stores them: built from the
 * checkpoint API's records with every text made well-formed (see `text.ts`),
 * and checked against the tables' column types before they are accepted, so
 * that a bad value (a path that is a number, a null where the format wants a
 * value) costs only its own index: its record becomes a failure saying which
 * column held what, and the index runs again next time.
 */
import type { CheckpointStore } from "@curator/core"
import { Either, ParseResult, Schema } from "effect"
import { wellFormed, wellFormedOrNull } from "./text.js"

export type Row = Record<string, string | number | null>

/** The rows an index's record adds below its `index_results` row. */
export interface Children {
  readonly stages: ReadonlyArray<Row>
  readonly outputs: ReadonlyArray<Row>
  readonly artifacts: ReadonlyArray<Row>
  /** The input fingerprint (`curator_index_inputs`), at most one row. */
  readonly inputs: ReadonlyArray<Row>
  /** The measured outputs (`curator_output_checks`). */
  readonly checks: ReadonlyArray<Row>
}

/** One index's record: its `index_results` row and the rows that belong to it. */
export interface ResultRows {
  readonly row: Row
  readonly children: Children
  /** Its `curator_index_attempts` row (failureRecords.ts), written in the same transaction. */
  readonly attempts?: Row | undefined
}

const noChildren: Children = { stages: [], outputs: [], artifacts: [], inputs: [], checks: [] }

// The columns a record fills, with the values SPEC.md's format allows. Measurements
// may be fractional (SQLite keeps them as given), keys and positions are integers.
const kinds = {
  int: Schema.Int,
  text: Schema.String,
  optionalText: Schema.NullOr(Schema.String),
  measure: Schema.Finite,
  optionalMeasure: Schema.NullOr(Schema.Finite),
  status: Schema.Literal("completed", "error")
} as const

type Kind = keyof typeof kinds

const columns = {
  index_results: {
    idx: "int",
    run_id: "int",
    status: "status",
    output_paths: "optionalText",
    completed_at: "text",
    wall_time_ns: "optionalMeasure",
    peak_memory_bytes: "optionalMeasure",
    gpu_memory_bytes: "optionalMeasure",
    error: "optionalText",
    worker_id: "optionalText"
  },
  stage_metrics: { idx: "int", run_id: "int", stage_order: "int", stage_name: "text", wall_time_ns: "measure" },
  output_files: { path: "text", idx: "int", run_id: "int", seq: "int" },
  filter_artifacts: { path: "text", idx: "int", run_id: "int", filter_name: "text", filter_order: "int" },
  curator_index_inputs: { run_id: "int", idx: "int", fingerprint: "text" },
  curator_output_checks: { run_id: "int", path: "text", idx: "int", size: "int", hash: "optionalText" }
} as const satisfies Record<string, Record<string, Kind>>

type Table = keyof typeof columns

/** Whether a value fits its column: the plain check of its kind's schema. */
const fits = (kind: Kind, value: unknown): boolean => {
  switch (kind) {
    case "int":
      return Number.isSafeInteger(value)
    case "text":
      return typeof value === "string"
    case "optionalText":
      return value === null || typeof value === "string"
    case "measure":
      return Number.isFinite(value)
    case "optionalMeasure":
      return value === null || Number.isFinite(value)
    case "status":
      return value === "completed" || value === "error"
  }
}

const validators = Object.fromEntries(
  Object.entries(columns).map(([table, kindsOf]) => [
    table,
    Schema.validateEither(Schema.Struct(Object.fromEntries(Object.entries(kindsOf).map(([name, kind]) => [name, kinds[kind]]))))
  ])
) as Record<Table, (row: Row) => Either.Either<unknown, ParseResult.ParseError>>

/**
 * Whether each value of a row fits its column, per table, made once and run
 * on every row of every record (Schema's own validation costs ~20 µs a
 * record; it is run only on a row that does not fit, for its message).
 */
const fitters = Object.fromEntries(
  Object.entries(columns).map(([table, kindsOf]) => {
    const names = Object.keys(kindsOf)
    const kindList = Object.values(kindsOf) as ReadonlyArray<Kind>
    return [table, (row: Row) => {
      for (let i = 0; i < names.length; i++) if (!fits(kindList[i]!, row[names[i]!])) return false
      return true
    }]
  })
) as Record<Table, (row: Row) => boolean>

/** What is wrong with a row, naming the column and the value (`output_files.path: Expected string, actual 7`), if anything. */
const problemOf = (table: Table, row: Row): string | undefined => {
  if (fitters[table](row)) return undefined
  const result = validators[table](row)
  if (Either.isRight(result)) return undefined
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(result.left)
  return issue === undefined ? `${table}: ${result.left.message}` : `${table}.${issue.path.join(".")}: ${issue.message}`
}

/** The error recorded for an index whose record could not be stored as it was. */
export const invalidRecordError = (problem: string): string =>
  `InvalidRecord: ${problem}; the index is not recorded as completed and runs again next time`

const text = (value: unknown): unknown => (typeof value === "string" ? wellFormed(value) : value)

/**
 * The rows of a success, or (when a value does not fit its column) the
 * rows of a failure of the same index that says why.
 */
export const success = (runId: number, record: CheckpointStore.SuccessRecord): ResultRows => {
  if (!Array.isArray(record.paths)) {
    return failure(runId, {
      ...record,
      error: invalidRecordError(`index_results.output_paths: Expected an array of paths, actual ${String(record.paths)}`)
    })
  }
  const index = record.index
  const paths = record.paths.map(text) as ReadonlyArray<string>
  // Most records list one path and no artifact: those take no extra collections.
  const rows: ResultRows = {
    row: {
      idx: index,
      run_id: runId,
      status: "completed",
      output_paths: JSON.stringify(paths),
      completed_at: wellFormed(record.completedAt),
      wall_time_ns: record.wallTimeNs,
      peak_memory_bytes: record.peakMemoryBytes,
      gpu_memory_bytes: record.gpuMemoryBytes,
      error: null,
      worker_id: wellFormed(record.workerId)
    },
    children: {
      stages: record.stages.map((stage) => ({
        idx: index,
        run_id: runId,
        stage_order: stage.order,
        stage_name: wellFormed(stage.name),
        wall_time_ns: stage.wallTimeNs
      })),
      // A path listed twice by one sink is one file: `output_files` keys rows by path.
      outputs: (paths.length === 1 ? paths : [...new Set(paths)]).map((path, seq) => ({ path, idx: index, run_id: runId, seq })),
      artifacts: record.artifacts.length === 0 ? [] : record.artifacts.map((artifact) => ({
        path: text(artifact.path) as string,
        idx: index,
        run_id: runId,
        filter_name: wellFormed(artifact.filterName),
        filter_order: artifact.filterOrder
      })),
      inputs: record.fingerprint === undefined
        ? []
        : [{ run_id: runId, idx: index, fingerprint: text(record.fingerprint) as string }],
      checks: [...new Map((record.outputChecks ?? []).map((check) => [text(check.path) as string, check])).entries()].map((
        [path, check]
      ) => ({ run_id: runId, path, idx: record.index, size: check.size, hash: check.hash === null ? null : text(check.hash) as string }))
    }
  }
  const { children } = rows
  const problem = problemOf("index_results", rows.row) ??
    firstProblem("stage_metrics", children.stages) ??
    firstProblem("output_files", children.outputs) ??
    firstProblem("filter_artifacts", children.artifacts) ??
    firstProblem("curator_index_inputs", children.inputs) ??
    firstProblem("curator_output_checks", children.checks)
  return problem === undefined ? rows : failure(runId, { ...record, error: invalidRecordError(problem) })
}

const firstProblem = (table: Table, rows: ReadonlyArray<Row>): string | undefined => {
  for (const row of rows) {
    const problem = problemOf(table, row)
    if (problem !== undefined) return problem
  }
  return undefined
}

/** The rows of a failure; measurements that do not fit their column are left out (null) and named in the error. */
export const failure = (runId: number, record: CheckpointStore.FailureRecord): ResultRows => {
  const row: Row = {
    idx: record.index,
    run_id: runId,
    status: "error",
    output_paths: null,
    completed_at: wellFormed(record.completedAt),
    wall_time_ns: record.wallTimeNs,
    peak_memory_bytes: record.peakMemoryBytes,
    gpu_memory_bytes: null,
    error: wellFormed(String(record.error)),
    worker_id: wellFormed(record.workerId)
  }
  const problem = problemOf("index_results", row)
  if (problem === undefined) return { row, children: noChildren }
  return {
    row: { ...row, wall_time_ns: null, peak_memory_bytes: null, error: `${row.error} (${invalidRecordError(problem)})` },
    children: noChildren
  }
}

/**
 * The record to store instead of a success the database refused: a failure
 * of the same index, worker and time, saying why.
 */
export const refusedInstead = (rows: ResultRows, problem: string): ResultRows => ({
  row: { ...rows.row, status: "error", output_paths: null, error: invalidRecordError(problem) },
  children: noChildren
})

/**
 * Names the value a database refused, when its message names the column
 * (`NOT NULL constraint failed: output_files.path`): the refusal and the
 * record's value of that column.
 */
export const describeRefusal = (rows: ResultRows, message: string): string => {
  const column = /(\w+)\.(\w+)\s*$/.exec(message)
  if (column === null) return `the database refused the record (${message})`
  const [, table, name] = column as unknown as [string, string, string]
  const tableRows = table === "index_results"
    ? [rows.row]
    : table === "stage_metrics"
    ? rows.children.stages
    : table === "output_files"
    ? rows.children.outputs
    : table === "filter_artifacts"
    ? rows.children.artifacts
    : []
  const values = tableRows.map((row) => JSON.stringify(row[name] ?? null))
  return `the database refused the record (${message}${values.length === 0 ? "" : `; ${table}.${name} was ${values.join(", ")}`})`
}

/** A worker's row. */
export const worker = (runId: number, registration: CheckpointStore.WorkerRegistration): Row => ({
  worker_id: wellFormed(registration.workerId),
  run_id: runId,
  pid: registration.pid,
  hostname: wellFormed(registration.hostname),
  started_at: wellFormed(registration.startedAt),
  last_heartbeat: wellFormed(registration.startedAt),
  current_index: null,
  completed_count: 0,
  invocation_id: wellFormed(registration.invocationId)
})

/** A log line's row. */
export const log = (runId: number, entry: CheckpointStore.LogEntry): Row => ({
  run_id: runId,
  timestamp: wellFormed(entry.timestamp),
  level: entry.level,
  level_name: wellFormed(entry.levelName),
  logger_name: wellFormed(entry.loggerName),
  message: wellFormed(String(entry.message)),
  worker_id: wellFormedOrNull(entry.workerId),
  idx: entry.index
})

/**
 * An index computed in another thread or process, as it crosses back: the
 * report carries what the run records (paths, timings, memory, artifacts,
 * log lines), the failure's cause with its typed errors encoded, and the
 * spans its stages opened, so the parent can record, return and trace it
 * exactly as if it had run here.
 */
import { Cause, Either, Schema } from "effect"
import { RemoteFailure } from "../RunResult.js"
import type { Computed } from "./computed.js"

const StageTiming = Schema.Struct({ order: Schema.Number, name: Schema.String, wallTimeNs: Schema.Number })

const OutputCheck = Schema.Struct({ path: Schema.String, size: Schema.Number, hash: Schema.NullOr(Schema.String) })

const Artifact = Schema.Struct({ path: Schema.String, filterName: Schema.String, filterOrder: Schema.Number })

const Log = Schema.Struct({
  timestamp: Schema.String,
  level: Schema.Number,
  levelName: Schema.String,
  loggerName: Schema.String,
  message: Schema.String,
  workerId: Schema.NullOr(Schema.String),
  index: Schema.NullOr(Schema.Number)
})

const AttributeValue = Schema.Union(Schema.String, Schema.Number, Schema.Boolean)

/** A span opened while the index was computed; `parent` null means the index's own span. */
export const Span = Schema.Struct({
  id: Schema.String,
  parent: Schema.NullOr(Schema.String),
  name: Schema.String,
  kind: Schema.Literal("internal", "server", "client", "producer", "consumer"),
  startNanos: Schema.BigInt,
  endNanos: Schema.BigInt,
  attributes: Schema.Array(Schema.Tuple(Schema.String, AttributeValue)),
  failed: Schema.Boolean
})

/**
 * A typed error as it crosses: its tag, message and stack, and, when its
 * class is a Schema (`Schema.TaggedError`, say), its encoded fields.
 */
const WireError = Schema.Struct({
  tag: Schema.String,
  message: Schema.String,
  stack: Schema.NullOr(Schema.String),
  encoded: Schema.optional(Schema.Unknown)
})
type WireError = typeof WireError.Type

const WireCause = Schema.Cause({ error: WireError, defect: Schema.Defect })

/** An index whose sink finished elsewhere. */
export class Success extends Schema.TaggedClass<Success>()("Success", {
  paths: Schema.Array(Schema.String),
  wallTimeNs: Schema.Number,
  peakMemoryBytes: Schema.Number,
  stages: Schema.Array(StageTiming),
  artifacts: Schema.Array(Artifact),
  logs: Schema.Array(Log),
  spans: Schema.Array(Span),
  attempts: Schema.optional(Schema.Number),
  /** The outputs' measurements, taken where the index ran (`verifyOutputs: "size" | "content"`). */
  outputChecks: Schema.optional(Schema.Array(OutputCheck))
}) {}

/** An index that failed elsewhere, with its cause. */
export class Failure extends Schema.TaggedClass<Failure>()("Failure", {
  message: Schema.String,
  cause: WireCause,
  wallTimeNs: Schema.Number,
  peakMemoryBytes: Schema.Number,
  logs: Schema.Array(Log),
  spans: Schema.Array(Span),
  attempts: Schema.optional(Schema.Number),
  failureClass: Schema.optional(Schema.Literal("transient", "permanent")),
  /** The order of the stage it failed in. */
  stage: Schema.optional(Schema.Number)
}) {}

/** The report of one index. */
export const IndexReport = Schema.Union(Success, Failure)
export type IndexReport = typeof IndexReport.Type

const stringField = (value: unknown, key: string): string | undefined => {
  const field = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined
  return typeof field === "string" ? field : undefined
}

const toWire = (error: unknown): WireError => {
  const constructor = typeof error === "object" && error !== null ? error.constructor : undefined
  const encoded = Schema.isSchema(constructor)
    ? Either.getOrUndefined(Schema.encodeUnknownEither(constructor as unknown as Schema.Schema<unknown, unknown>)(error))
    : undefined
  return {
    tag: stringField(error, "_tag") ?? stringField(error, "name") ?? typeof error,
    message: stringField(error, "message") ?? String(error),
    stack: stringField(error, "stack") ?? null,
    ...(encoded === undefined ? {} : { encoded })
  }
}

const fromWire = (schemas: ReadonlyArray<Schema.Schema<any, any, never>>) => (wire: WireError): unknown => {
  if (wire.encoded !== undefined) {
    for (const schema of schemas) {
      const decoded = Schema.decodeUnknownEither(schema)(wire.encoded)
      if (Either.isRight(decoded) && stringField(decoded.right, "_tag") === wire.tag) return decoded.right
    }
  }
  return new RemoteFailure({ tag: wire.tag, message: wire.message, stack: wire.stack ?? undefined })
}

/**
 * Built from values this process made, so not validated here (a class's
 * constructor would check every field: ~0.25 ms an index, the largest cost
 * of a runner's index); the receiver decodes the report with the schema.
 */
const trusted = true

/** The report of an index computed here, for the parent. */
export const toReport = <E>(computed: Computed<E>): IndexReport =>
  computed._tag === "Success"
    ? new Success({
      paths: computed.paths,
      wallTimeNs: computed.wallTimeNs,
      peakMemoryBytes: computed.peakMemoryBytes,
      stages: computed.stages,
      artifacts: computed.artifacts,
      logs: computed.logs,
      spans: computed.spans,
      ...(computed.attempts === undefined ? {} : { attempts: computed.attempts }),
      ...(computed.outputChecks === undefined ? {} : { outputChecks: computed.outputChecks })
    }, trusted)
    : new Failure({
      message: computed.message,
      cause: Cause.map(computed.cause, toWire),
      wallTimeNs: computed.wallTimeNs,
      peakMemoryBytes: computed.peakMemoryBytes,
      logs: computed.logs,
      spans: computed.spans,
      ...(computed.attempts === undefined ? {} : { attempts: computed.attempts }),
      ...(computed.failureClass === undefined ? {} : { failureClass: computed.failureClass }),
      ...(computed.stage === undefined ? {} : { stage: computed.stage })
    }, trusted)

/**
 * What the run records and returns for a report: the same as for an index
 * computed here. Typed errors whose schema the pipeline declares
 * (`Pipeline.withErrors`) come back as the same values; others as
 * `RemoteFailure`s.
 */
export const fromReport = <E>(
  report: IndexReport,
  errorSchemas: ReadonlyArray<Schema.Schema<any, any, never>>
): Computed<E | RemoteFailure> =>
  report._tag === "Success"
    ? {
      _tag: "Success",
      paths: report.paths,
      wallTimeNs: report.wallTimeNs,
      peakMemoryBytes: report.peakMemoryBytes,
      stages: report.stages,
      artifacts: report.artifacts,
      logs: report.logs,
      spans: report.spans,
      attempts: report.attempts,
      outputChecks: report.outputChecks
    }
    : {
      _tag: "Failure",
      message: report.message,
      cause: Cause.map(report.cause, fromWire(errorSchemas)) as Cause.Cause<E | RemoteFailure>,
      wallTimeNs: report.wallTimeNs,
      peakMemoryBytes: report.peakMemoryBytes,
      logs: report.logs,
      spans: report.spans,
      attempts: report.attempts,
      failureClass: report.failureClass,
      stage: report.stage
    }

/**
 * A report for an index whose worker died before it could report: a defect
 * with the given message, in the stage the worker last said it was running.
 */
export const diedReport = (message: string, wallTimeNs: number, stage?: number): IndexReport =>
  new Failure({
    message,
    cause: Cause.die(new Error(message)),
    wallTimeNs,
    peakMemoryBytes: 0,
    logs: [],
    spans: [],
    ...(stage === undefined ? {} : { stage })
  })

/**
 * The plumbing of log capture: a logger installed once per run (or per
 * worker thread or runner) that files each line under the index and stage
 * of the fiber that logged it.
 */
import { Cause, Context, Effect, FiberRef, FiberRefs, HashMap, HashSet, Logger, LogLevel, Option } from "effect"
import type { LogEntry } from "../CheckpointStore.js"
import { frameworkLogger, levelOf, loggerNameKey } from "../LogCapture.js"
import * as Timestamp from "../Timestamp.js"
import { CurrentIndex, CurrentStage } from "./context.js"

const renderValue = (value: unknown): string => {
  if (typeof value === "string") return value
  // JSON would drop an error's name and message (not own enumerable properties) and store "{}".
  if (value instanceof Error) {
    const tag = (value as { readonly _tag?: unknown })._tag
    return `${typeof tag === "string" ? tag : value.name}: ${value.message}`
  }
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** The stored message: the logged values, then each annotation as ` key=value`, then the cause if any. */
const renderMessage = (message: unknown, annotations: HashMap.HashMap<string, unknown>, cause: Cause.Cause<unknown>) => {
  const parts = Array.isArray(message) ? message.map(renderValue) : [renderValue(message)]
  for (const [key, value] of annotations) {
    if (key !== loggerNameKey) parts.push(`${key}=${renderValue(value)}`)
  }
  if (!Cause.isEmpty(cause)) parts.push(Cause.pretty(cause))
  return parts.join(" ")
}

/**
 * A logger that files every log at or above `minimum` as a `logs` row,
 * attributed to the index and stage of the fiber that logged (read from its
 * context, so logs of concurrent indices never mix). In a run (`"run"`)
 * every line goes to `runLogs` at once, so a long index's lines can be
 * followed live; where an index is computed for a run elsewhere
 * (`"report"`), a line goes to that index's own buffer, which its report
 * carries back. The logger name is the annotation's, else the stage's
 * component, else `curator`.
 */
export const makeLogger = (
  runLogs: Array<LogEntry>,
  minimum: LogLevel.LogLevel,
  mode: "run" | "report" = "run"
): Logger.Logger<unknown, void> =>
  Logger.make(({ annotations, cause, context, date, logLevel, message }) => {
    if (LogLevel.lessThan(logLevel, minimum)) return
    const fiberContext = FiberRefs.getOrDefault(context, FiberRef.currentContext)
    const current = Option.getOrUndefined(Context.getOption(fiberContext, CurrentIndex))
    const stage = Option.getOrUndefined(Context.getOption(fiberContext, CurrentStage))
    const named = HashMap.get(annotations, loggerNameKey)
    const { level, name } = levelOf(logLevel)
    ;(mode === "report" && current !== undefined ? current.logs : runLogs).push({
      timestamp: Timestamp.fromEpochNanos(BigInt(date.getTime()) * 1_000_000n),
      level,
      levelName: name,
      loggerName: Option.isSome(named) ? String(named.value) : stage?.name ?? frameworkLogger,
      message: renderMessage(message, annotations, cause),
      workerId: current?.workerId ?? null,
      index: current?.index ?? null
    })
  })

/**
 * Runs `effect` with `logger` added beside the loggers already in place
 * (console output goes on as usual) — or, with `only`, instead of them —
 * and with the minimum log level lowered to `minimum` if it is lower.
 */
export const withLogger = (logger: Logger.Logger<unknown, void>, minimum: LogLevel.LogLevel, only = false) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(
    Effect.locallyWith(FiberRef.currentLoggers, (loggers) => (only ? HashSet.make(logger) : HashSet.add(loggers, logger))),
    Effect.locallyWith(FiberRef.currentMinimumLogLevel, (level) => (LogLevel.lessThan(minimum, level) ? minimum : level))
  )

/** Annotates Curator's own logs with its logger name. */
export const asFramework = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.annotateLogs(effect, loggerNameKey, frameworkLogger)

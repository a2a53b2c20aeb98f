/**
 * Structured log capture: while a pipeline runs with metrics on, every
 * Effect log call made in a source, filter or sink — and Curator's own —
 * becomes a row of the `logs` table, with the reference's numeric levels,
 * the component that logged, and the worker and index it ran for.
 */
import {
  Cause,
  Context,
  Effect,
  FiberRef,
  FiberRefs,
  HashMap,
  HashSet,
  Logger,
  LogLevel,
  Option
} from "effect"
import type { LogEntry } from "./CheckpointStore.js"
import { CurrentIndex } from "./internal/context.js"
import * as Timestamp from "./Timestamp.js"

/**
 * The log annotation naming the component that logs. Curator sets it to
 * `curator` on its own logs; inside a stage it defaults to the stage's
 * name, and a component may set it to name itself differently.
 */
export const loggerNameKey = "logger_name"

/** The logger name of Curator's own logs. */
export const frameworkLogger = "curator"

/**
 * Effect's levels on the reference's (Python `logging`) scale. Effect's
 * `Trace`, below `Debug`, becomes 5 `TRACE` (Python has no such level; 5 is
 * the customary value for one).
 */
export const levelOf = (level: LogLevel.LogLevel): { readonly level: number; readonly name: string } => {
  switch (level._tag) {
    case "Fatal":
      return { level: 50, name: "CRITICAL" }
    case "Error":
      return { level: 40, name: "ERROR" }
    case "Warning":
      return { level: 30, name: "WARNING" }
    case "Info":
      return { level: 20, name: "INFO" }
    case "Debug":
      return { level: 10, name: "DEBUG" }
    default:
      return { level: 5, name: "TRACE" }
  }
}

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
 * A logger that appends every log at or above `minimum` to `buffer` as a
 * `logs` row. It reads the worker and index from the fiber's context, so
 * logs of concurrent indices never mix.
 */
export const makeLogger = (buffer: Array<LogEntry>, minimum: LogLevel.LogLevel): Logger.Logger<unknown, void> =>
  Logger.make(({ annotations, cause, context, date, logLevel, message }) => {
    if (LogLevel.lessThan(logLevel, minimum)) return
    const current = Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), CurrentIndex)
    const named = HashMap.get(annotations, loggerNameKey)
    const { level, name } = levelOf(logLevel)
    buffer.push({
      timestamp: Timestamp.fromEpochNanos(BigInt(date.getTime()) * 1_000_000n),
      level,
      levelName: name,
      loggerName: Option.isSome(named)
        ? String(named.value)
        : Option.isSome(current)
        ? current.value.stage.name
        : frameworkLogger,
      message: renderMessage(message, annotations, cause),
      workerId: Option.isSome(current) ? current.value.workerId : null,
      index: Option.isSome(current) ? current.value.index : null
    })
  })

/**
 * Runs `effect` with `logger` added beside the loggers already in place
 * (console output goes on as usual), and with the minimum log level
 * lowered to `minimum` if it is lower.
 */
export const withLogger = (logger: Logger.Logger<unknown, void>, minimum: LogLevel.LogLevel) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(
    Effect.locallyWith(FiberRef.currentLoggers, HashSet.add(logger)),
    Effect.locallyWith(FiberRef.currentMinimumLogLevel, (level) => (LogLevel.lessThan(minimum, level) ? minimum : level))
  )

/** Annotates Curator's own logs with its logger name. */
export const asFramework = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.annotateLogs(effect, loggerNameKey, frameworkLogger)

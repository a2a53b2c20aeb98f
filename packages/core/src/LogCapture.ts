/**
 * Structured log capture: while a pipeline runs with metrics on, every
 * Effect log call made in a source, filter or sink — and Curator's own —
 * becomes a row of the `logs` table, with the reference's numeric levels,
 * the component that logged, and the worker and index it ran for.
 */
import type { LogLevel } from "effect"

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

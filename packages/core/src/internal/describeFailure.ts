import { Cause, Option } from "effect"

const describeValue = (value: unknown): string => {
  if (typeof value === "string") return value
  if (typeof value !== "object" || value === null) return String(value)
  const record = value as { readonly _tag?: unknown; readonly name?: unknown; readonly message?: unknown }
  const label = typeof record._tag === "string" ? record._tag : typeof record.name === "string" ? record.name : "Error"
  if (typeof record.message === "string" && record.message.length > 0) return `${label}: ${record.message}`
  const { _tag: _, ...fields } = record as Record<string, unknown>
  return `${label}: ${safeJson(fields)}`
}

const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * The message recorded for a failed index, `"<ErrorTag or name>: <message>"`
 * as the reference writes it, from the first failure (or defect) of a cause.
 */
export const describeFailure = (cause: Cause.Cause<unknown>): string =>
  Option.match(Cause.failureOrCause(cause).pipe((either) =>
    either._tag === "Left" ? Option.some(either.left) : Cause.dieOption(cause)
  ), {
    onNone: () => Cause.pretty(cause).split("\n")[0] ?? "Unknown failure",
    onSome: describeValue
  })

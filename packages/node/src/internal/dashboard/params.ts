/**
 * The dashboard's query parameters, parsed strictly: a malformed value is a
 * `BadRequest` (answered with 400 and its message), never a guess.
 */
import { Data, Effect } from "effect"
import { parseLevel } from "../../cli/commands/Logs.js"

/** A query parameter the dashboard cannot use; the message says what to send instead. */
export class BadRequest extends Data.TaggedError("BadRequest")<{ readonly message: string }> {}

const bad = (message: string) => Effect.fail(new BadRequest({ message }))

/** The raw query parameters of a request (a repeated name gives an array). */
export type Query = Readonly<Record<string, string | ReadonlyArray<string>>>

/** The single value of `name`, if given and not empty. */
const single = (query: Query, name: string): Effect.Effect<string | undefined, BadRequest> => {
  const value = query[name]
  if (value === undefined) return Effect.succeed(undefined)
  if (typeof value !== "string") return bad(`give ${name} once, not ${value.length} times`)
  const trimmed = value.trim()
  return Effect.succeed(trimmed === "" ? undefined : trimmed)
}

/** An optional whole number within bounds. */
export const integer = (
  query: Query,
  name: string,
  bounds: { readonly min: number; readonly max?: number | undefined }
): Effect.Effect<number | undefined, BadRequest> =>
  Effect.flatMap(single(query, name), (text) => {
    if (text === undefined) return Effect.succeed(undefined)
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN
    const max = bounds.max ?? Number.MAX_SAFE_INTEGER
    return Number.isSafeInteger(value) && value >= bounds.min && value <= max
      ? Effect.succeed(value)
      : bad(`${name} must be a whole number from ${bounds.min}${bounds.max === undefined ? "" : ` to ${bounds.max}`}, got "${text}"`)
  })

/** An index given in a path: a whole number, 0 or more. */
export const index = (text: string): Effect.Effect<number, BadRequest> =>
  /^\d+$/.test(text) && Number.isSafeInteger(Number(text))
    ? Effect.succeed(Number(text))
    : bad(`an index is a whole number (0 or more), got "${text}"`)

/** Inclusive ranges of indices; an empty selection means every index. */
export type Selection = ReadonlyArray<readonly [number, number]>

/** Tells whether `index` is selected. */
export const selects = (selection: Selection, index: number): boolean =>
  selection.length === 0 || selection.some(([from, to]) => index >= from && index <= to)

/** `range`: indices as `10-20`, `1,5,10` or both (`0-4,9`). */
export const selection = (query: Query): Effect.Effect<Selection, BadRequest> =>
  Effect.flatMap(single(query, "range"), (text) => {
    if (text === undefined) return Effect.succeed([])
    const ranges: Array<readonly [number, number]> = []
    for (const part of text.split(",").map((p) => p.trim())) {
      const match = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part)
      const from = match === null ? Number.NaN : Number(match[1])
      const to = match?.[2] === undefined ? from : Number(match[2])
      if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) {
        return bad(`range takes indices and ranges separated by commas, like 10-20 or 1,5,10; "${part}" is neither`)
      }
      if (to < from) return bad(`range ${part} ends before it starts; write it as ${to}-${from}`)
      ranges.push([from, to])
    }
    return Effect.succeed(ranges)
  })

/** The statuses an index can be listed by. */
export const statuses = ["all", "completed", "failed", "quarantined", "remaining", "running"] as const
export type StatusFilter = typeof statuses[number]

/** `status`: one of {@link statuses}, `all` when absent. */
export const status = (query: Query): Effect.Effect<StatusFilter, BadRequest> =>
  Effect.flatMap(single(query, "status"), (text) => {
    if (text === undefined) return Effect.succeed("all" as const)
    const found = statuses.find((s) => s === text)
    return found === undefined ? bad(`status must be one of ${statuses.join(", ")}, got "${text}"`) : Effect.succeed(found)
  })

/** `level`: the lowest log level shown, by name (`warning`) or number (`30`). */
export const level = (query: Query): Effect.Effect<number | undefined, BadRequest> =>
  Effect.flatMap(single(query, "level"), (text) => {
    if (text === undefined) return Effect.succeed(undefined)
    const value = parseLevel(text)
    return value === undefined
      ? bad(`level must be debug, info, warning, error, critical or a number, got "${text}"`)
      : Effect.succeed(value)
  })

/** `worker`: a worker id or a prefix of one (resolved against the workers by the caller). */
export const worker = (query: Query): Effect.Effect<string | undefined, BadRequest> => single(query, "worker")

/**
 * What a run processes and how wide: the index selection and the concurrency,
 * validated before anything runs.
 */
import { Data, type Effect, Either, type LogLevel } from "effect"
import type { FailurePolicy } from "./FailurePolicy.js"
import type { ProgressHandler } from "./Progress.js"

/** Options of `Pipeline.run`. */
export interface RunOptions {
  /**
   * The indices to process, in the order results are wanted. Negative `i`
   * means `length + i`. Defaults to every index of the source.
   */
  readonly indices?: ReadonlyArray<number> | undefined
  /** How many indices run at once: a positive integer, or `"all"` or -1 (one per CPU). Defaults to 1. */
  readonly concurrency?: number | "all" | undefined
  /** Stop at the first failed index and fail the run with `IndexFailed`. Defaults to false. */
  readonly failFast?: boolean | undefined
  /** The lowest level of logs recorded in the `logs` table. Defaults to `"Info"`. */
  readonly logLevel?: LogLevel.Literal | undefined
  /** Called synchronously as the run starts and as each index starts and finishes. */
  readonly onProgress?: ProgressHandler | undefined
  /**
   * A graceful stop: once this effect completes, the run takes no new index,
   * lets the indices in flight finish and be recorded, and returns; the
   * indices it did not start are `NotRun` outcomes, left for the next run.
   * (Interrupting the run instead stops at once: indices in flight are not
   * recorded.)
   *
   * @example
   * const stop = yield* Deferred.make<void>()
   * const result = yield* Pipeline.run(pipeline, { stop: Deferred.await(stop) })
   */
  readonly stop?: Effect.Effect<void> | undefined
  /**
   * The failure policy of this run, field by field over the pipeline's
   * (`Pipeline.withFailurePolicy`): retries, classes, timeout, quarantine,
   * error budget. Retries, classes and the timeout act where indices are
   * computed, so on worker threads and cluster runners only the pipeline's own apply.
   */
  readonly failurePolicy?: FailurePolicy | undefined
  /**
   * At the end of the run, gather the shards of every stateful filter
   * (`Filter.stateful`) recorded in this run's database into their base paths
   * (see `Gather`). Needs `trackMetrics`. Defaults to false.
   */
  readonly gather?: boolean | undefined
  /** With `gather`: keep the shard files after merging them. Defaults to false. */
  readonly keepShards?: boolean | undefined
}

/** Run options that cannot be honoured; nothing has run when this is raised. */
export class InvalidRunOptions extends Data.TaggedError("InvalidRunOptions")<{
  readonly option: "indices" | "concurrency" | "verifyOutputs" | "failurePolicy" | "gather"
  readonly message: string
}> {}

const list = (values: ReadonlyArray<unknown>) => {
  const shown = values.slice(0, 10).map(String).join(", ")
  return values.length > 10 ? `${shown} and ${values.length - 10} more` : shown
}

const invalidIndices = (message: string) => Either.left(new InvalidRunOptions({ option: "indices", message }))

/**
 * Resolves a selection against a source of `length` indices: negative indices
 * count from the end; non-integers, out-of-range values and duplicates are
 * rejected, naming the offending values.
 */
export const resolveIndices = (
  indices: ReadonlyArray<number> | undefined,
  length: number
): Either.Either<ReadonlyArray<number>, InvalidRunOptions> => {
  if (indices === undefined) return Either.right(Array.from({ length }, (_, i) => i))
  const nonIntegers = indices.filter((i) => !Number.isSafeInteger(i))
  if (nonIntegers.length > 0) return invalidIndices(`indices must be integers, got ${list(nonIntegers)}`)
  const outOfRange = indices.filter((i) => i >= length || i < -length)
  if (outOfRange.length > 0) {
    const valid = length === 0 ? "the source is empty" : `valid: 0..${length - 1}, or -${length}..-1 from the end`
    return invalidIndices(`indices out of range for a source of length ${length}: ${list(outOfRange)} (${valid})`)
  }
  const resolved = indices.map((i) => (i < 0 ? length + i : i))
  const seen = new Set<number>()
  const repeated = new Set<number>()
  for (const i of resolved) (seen.has(i) ? repeated : seen).add(i)
  if (repeated.size > 0) return invalidIndices(`indices repeated: ${list([...repeated])}; list each index once`)
  return Either.right(resolved)
}

/**
 * Resolves `"all"` and -1 (SPEC.md's spelling) to `cpus`, and rejects
 * anything but a positive integer.
 */
export const resolveConcurrency = (
  concurrency: number | "all" | undefined,
  cpus: number
): Either.Either<number, InvalidRunOptions> => {
  if (concurrency === undefined) return Either.right(1)
  if (concurrency === "all" || concurrency === -1) return Either.right(cpus)
  return Number.isSafeInteger(concurrency) && concurrency > 0
    ? Either.right(concurrency)
    : Either.left(
      new InvalidRunOptions({
        option: "concurrency",
        message: `concurrency must be a positive integer, "all" or -1 (one per CPU), got ${typeof concurrency === "number" ? String(concurrency) : JSON.stringify(concurrency) ?? String(concurrency)}`
      })
    )
}

const rangePattern = /^(\d+)-(\d+)$/
const singlePattern = /^-?\d+$/

/**
 * Parses an index selection written on a command line: comma-separated
 * indices and inclusive ranges, e.g. `"0-9,15,-1"`. Negative single indices
 * are kept as they are, for `resolveIndices` to count from the end.
 */
export const parseIndices = (text: string): Either.Either<ReadonlyArray<number>, InvalidRunOptions> => {
  const indices: Array<number> = []
  for (const raw of text.split(",")) {
    const part = raw.trim()
    const range = rangePattern.exec(part)
    if (range !== null) {
      const [from, to] = [Number(range[1]), Number(range[2])]
      if (from > to) return invalidIndices(`the range "${part}" runs backwards; write it as ${to}-${from}`)
      for (let i = from; i <= to; i++) indices.push(i)
    } else if (singlePattern.test(part)) {
      indices.push(Number(part))
    } else {
      return invalidIndices(
        `cannot read "${part}" in "${text}" as an index or a range; write indices like 0-9,15,-1`
      )
    }
  }
  return Either.right(indices)
}

/**
 * Checking a checkpoint's recorded outputs against the files as they are
 * now, without running anything: which completed indices lost an output
 * (missing) or have one whose size or content changed since it was
 * recorded (modified). Each output is checked as far as its record allows:
 * its xxh64 hash when one was measured (`verifyOutputs: "content"`), its
 * size when only that was, else its existence. Files are read through the
 * `FileSystem` in context.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import { Effect, Option, Stream } from "effect"
import { type Checkpoint, type CheckpointError, streamPages } from "./CheckpointStore.js"
import { checkOutput, measurer, type VerifyMode } from "./internal/outputChecks.js"

export type { VerifyMode }

/** An output that is not as recorded. */
export interface Finding {
  readonly index: number
  readonly path: string
  readonly problem: "missing" | "modified"
  /** For a modified output: what differs (`size: 10 bytes → 12 bytes`). */
  readonly detail: string | undefined
}

/** What {@link outputs} found. */
export interface Report {
  /** Completed indices read. */
  readonly indices: number
  /** Outputs checked. */
  readonly outputs: number
  readonly findings: ReadonlyArray<Finding>
  /** Every path a completed index claims (its outputs): what a sweep of orphans must never remove. */
  readonly claimed: ReadonlySet<string>
}

/**
 * Checks every completed index's outputs, `concurrency` files at a time
 * (default 16); `mode` caps how far (default: as far as each record allows).
 */
export const outputs = (
  checkpoint: Checkpoint,
  options: { readonly mode?: VerifyMode | undefined; readonly concurrency?: number | undefined } = {}
): Effect.Effect<Report, CheckpointError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const files = Option.getOrThrow(yield* measurer)
    const mode = options.mode ?? "content"
    const findings: Array<Finding> = []
    const claimed = new Set<string>()
    let indices = 0
    let checked = 0
    yield* streamPages((after) => checkpoint.recordedPage({ after, limit: 2000 })).pipe(
      Stream.mapConcat((recorded) => {
        indices++
        const byPath = new Map(recorded.outputChecks.map((check) => [check.path, check]))
        return recorded.paths.map((path) => ({ index: recorded.index, path, check: byPath.get(path) }))
      }),
      Stream.tap(({ path }) => Effect.sync(() => void claimed.add(path))),
      Stream.mapEffect(({ check, index, path }) =>
        Effect.map(checkOutput(files, path, check, mode), (problem) => {
          checked++
          if (problem === undefined) return
          findings.push({
            index,
            path,
            problem: problem._tag === "OutputMissing" ? "missing" : "modified",
            detail: problem._tag === "OutputModified" ? `${problem.what}: ${problem.recorded} → ${problem.current}` : undefined
          })
        }), { concurrency: options.concurrency ?? 16 }),
      Stream.runDrain
    )
    findings.sort((a, b) => a.index - b.index || (a.path < b.path ? -1 : 1))
    return { indices, outputs: checked, findings, claimed }
  })

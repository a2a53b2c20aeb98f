/**
 * Checking a checkpoint against the disk: which completed indices lost an
 * output file since they were recorded (deleted, or never synced before a
 * machine crash), so that a resumed run computes them again.
 */
import { Effect } from "effect"
import * as fs from "node:fs/promises"

const exists = (path: string): Effect.Effect<boolean> =>
  Effect.promise(() => fs.access(path).then(() => true, () => false))

/**
 * The indices of `completed` with at least one recorded output path that is
 * not a file on this machine, each with its first missing path. Paths are
 * checked a few dozen at a time, so a large checkpoint does not open
 * thousands of file handles at once.
 */
export const missingOutputs = (
  completed: ReadonlyMap<number, ReadonlyArray<string>>
): Effect.Effect<ReadonlyMap<number, string>> =>
  Effect.gen(function*() {
    const missing = new Map<number, string>()
    yield* Effect.forEach(
      completed,
      ([index, paths]) =>
        Effect.gen(function*() {
          for (const path of paths) {
            if (!(yield* exists(path))) {
              missing.set(index, path)
              return
            }
          }
        }),
      { concurrency: 32, discard: true }
    )
    return missing
  })

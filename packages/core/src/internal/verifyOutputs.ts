/**
 * Checking a checkpoint against the disk: which completed indices lost an
 * output file since they were recorded (deleted, or never synced before a
 * machine crash), so that a resumed run computes them again. Files are read
 * through `@effect/platform`'s `FileSystem`, which the platform layer
 * (`NodeCurator.layer`) provides.
 */
import { FileSystem } from "@effect/platform"
import { Effect, Option } from "effect"
import { InvalidRunOptions } from "../RunOptions.js"

/**
 * The indices of `completed` with at least one recorded output path that is
 * not a file on this machine, each with its first missing path. Paths are
 * checked a few dozen at a time, so a large checkpoint does not open
 * thousands of file handles at once.
 */
export const missingOutputs = (
  completed: ReadonlyMap<number, ReadonlyArray<string>>
): Effect.Effect<ReadonlyMap<number, string>, InvalidRunOptions> =>
  Effect.gen(function*() {
    const fileSystem = yield* Effect.serviceOption(FileSystem.FileSystem)
    if (Option.isNone(fileSystem)) {
      return yield* new InvalidRunOptions({
        option: "verifyOutputs",
        message: "verifyOutputs needs a file system to check outputs on: provide NodeCurator.layer (or a FileSystem layer)"
      })
    }
    const exists = (path: string) => Effect.orElseSucceed(fileSystem.value.exists(path), () => false)
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

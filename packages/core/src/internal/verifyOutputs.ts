/**
 * Checking a checkpoint against the disk: which completed indices lost an
 * output file since they were recorded (deleted, or never synced before a
 * machine crash), so that a resumed run computes them again. Files are read
 * through `@effect/platform`'s `FileSystem`, which the platform layer
 * (`NodeCurator.layer`) provides.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Effect, Option } from "effect"
import { InvalidRunOptions } from "../RunOptions.js"

/** Finds the first of an index's recorded paths that is not a file here, if any. */
export type FindMissing = (paths: ReadonlyArray<string>) => Effect.Effect<string | undefined>

/** The check, from the `FileSystem` in context; without one, verifying outputs is impossible and says so. */
export const findMissing: Effect.Effect<FindMissing, InvalidRunOptions> = Effect.flatMap(
  Effect.serviceOption(FileSystem.FileSystem),
  Option.match({
    onNone: () =>
      Effect.fail(
        new InvalidRunOptions({
          option: "verifyOutputs",
          message: "verifyOutputs needs a file system to check outputs on: provide NodeCurator.layer (or a FileSystem layer)"
        })
      ),
    onSome: (fileSystem) =>
      Effect.succeed<FindMissing>((paths) =>
        Effect.gen(function*() {
          for (const path of paths) {
            if (!(yield* Effect.orElseSucceed(fileSystem.exists(path), () => false))) return path
          }
          return undefined
        })
      )
  })
)

/**
 * Helpers of the format tests: scoped temporary directories and runs of a
 * pipeline over a real SQLite checkpoint in one of them.
 */
import { type Backend, type CheckpointStore, Pipeline, type RunResult } from "@curator/core"
import { NodeCurator } from "@curator/node"
import Database from "better-sqlite3"
import { Effect, type Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A temporary directory removed when the scope closes. */
export const tempDir = (prefix = "curator-formats-"): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** Runs `pipeline` on the fibers backend, recording into a SQLite checkpoint in `dbDir` (resumable). */
export const runIn = <E, R>(
  pipeline: Pipeline.Pipeline<E, R>,
  dbDir: string,
  concurrency = 2
): Effect.Effect<RunResult.RunResult<E>, unknown, Exclude<R, Backend.Backend | Backend.LocalBackend | CheckpointStore.CheckpointStore>> =>
  // What is left of the run's requirements: the pipeline's own services (a conditional type TS cannot reduce for a generic R).
  Pipeline.run(Pipeline.withOptions(pipeline, { resume: true, dbDir }), { concurrency }).pipe(
    Effect.provide(NodeCurator.layer())
  ) as Effect.Effect<RunResult.RunResult<E>, unknown, Exclude<R, Backend.Backend | Backend.LocalBackend | CheckpointStore.CheckpointStore>>

/** The outcome of each index as `[index, tag, message or paths]`. */
export const outcomes = <E>(result: RunResult.RunResult<E>) =>
  result.outcomes.map((outcome) =>
    outcome._tag === "Completed" ? [outcome.index, "Completed", outcome.paths] as const
      : outcome._tag === "Failed" ? [outcome.index, "Failed", outcome.message] as const
      : [outcome.index, "NotRun", undefined] as const)

/** The recorded status and error of each index of the run in `location` (read back with better-sqlite3). */
export const recorded = (location: string): Array<{ idx: number; status: string; error: string | null }> => {
  const db = new Database(location, { readonly: true })
  try {
    return db.prepare("SELECT idx, status, error FROM index_results ORDER BY idx").all() as Array<{ idx: number; status: string; error: string | null }>
  } finally {
    db.close()
  }
}

/**
 * What `curator verify` and `curator gc` look at: a checkpoint's recorded
 * outputs against the files now (missing, modified; see core's `Verify`),
 * and the files in the sinks' output directories that no completed index
 * claims (orphaned) or that an interrupted sink left (temporary). Only the
 * directories holding recorded outputs are listed, not their subdirectories.
 */
import { type CheckpointStore, Verify } from "@curator/core"
import type { FileSystem } from "@effect/platform"
import { Effect } from "effect"
import * as fs from "node:fs/promises"
import { dirname, join } from "node:path"
import * as FileSink from "../FileSink.js"

export interface Audit {
  readonly report: Verify.Report
  /** Files of the output directories that no completed index claims, sorted. */
  readonly orphaned: ReadonlyArray<string>
  /** Temporary files of interrupted sinks (their writer is gone), sorted. */
  readonly temporary: ReadonlyArray<string>
  /** The output directories listed. */
  readonly directories: ReadonlyArray<string>
}

/** Audits a checkpoint's outputs; filter artifacts count as claimed too. */
export const audit = (
  checkpoint: CheckpointStore.Checkpoint
): Effect.Effect<Audit, CheckpointStore.CheckpointError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const report = yield* Verify.outputs(checkpoint)
    const claimed = new Set(report.claimed)
    for (const artifact of yield* checkpoint.artifacts()) claimed.add(artifact.path)
    const directories = [...new Set([...report.claimed].map((path) => dirname(path)))].sort()
    const orphaned: Array<string> = []
    const temporary: Array<string> = []
    for (const dir of directories) {
      const entries = yield* Effect.promise(() => fs.readdir(dir, { withFileTypes: true }).catch(() => []))
      for (const entry of entries) {
        const path = join(dir, entry.name)
        if (!entry.isFile() || claimed.has(path) || FileSink.isTemporaryFile(entry.name)) continue
        orphaned.push(path)
      }
      temporary.push(...(yield* FileSink.interruptedTemporaryFiles(dir)))
    }
    return { report, orphaned: orphaned.sort(), temporary: temporary.sort(), directories }
  })

/** An audit as plain JSON (for `--json`). */
export const toJson = (audit: Audit, location: string) => ({
  db_path: location,
  indices: audit.report.indices,
  outputs: audit.report.outputs,
  missing: audit.report.findings.filter((f) => f.problem === "missing").map(({ index, path }) => ({ index, path })),
  modified: audit.report.findings.filter((f) => f.problem === "modified").map(({ detail, index, path }) => ({ index, path, detail })),
  orphaned: audit.orphaned,
  temporary: audit.temporary
})

/** A short list of paths, at most `limit`, then how many more. */
export const listed = (paths: ReadonlyArray<string>, limit = 20): Array<string> => [
  ...paths.slice(0, limit).map((path) => `  ${path}`),
  ...(paths.length > limit ? [`  … and ${paths.length - limit} more (--json lists every one)`] : [])
]

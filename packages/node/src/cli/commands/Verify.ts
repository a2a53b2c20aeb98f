/**
 * `curator verify <target>`: checks a checkpoint's recorded outputs against
 * the disk without running anything — missing and modified outputs (by
 * their recorded size and xxh64 hash where measured, else existence), and
 * orphaned files (in the output directories, claimed by no completed
 * index). Exits 1 when an output is missing or modified (a resumed run with
 * `--verify` would compute those indices again); orphans are reported only
 * (`curator gc` removes them).
 */
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import { Console, Effect } from "effect"
import * as Audit from "../Audit.js"
import { ExitCode, SilentExit } from "../CliError.js"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

/** The audit as text. */
export const formatAudit = (audit: Audit.Audit, location: string): string => {
  const missing = audit.report.findings.filter((f) => f.problem === "missing")
  const modified = audit.report.findings.filter((f) => f.problem === "modified")
  const lines = [
    `${location}: ${audit.report.indices} completed indices, ${audit.report.outputs} outputs checked: ` +
    `${missing.length} missing, ${modified.length} modified, ${audit.orphaned.length} orphaned, ${audit.temporary.length} temporary`
  ]
  if (missing.length > 0) lines.push("missing:", ...Audit.listed(missing.map((f) => `${f.path} (index ${f.index})`)))
  if (modified.length > 0) lines.push("modified:", ...Audit.listed(modified.map((f) => `${f.path} (index ${f.index}; ${f.detail})`)))
  if (audit.orphaned.length > 0) lines.push("orphaned (claimed by no completed index; curator gc removes them):", ...Audit.listed(audit.orphaned))
  if (audit.temporary.length > 0) lines.push("temporary files of interrupted writes (curator gc removes them):", ...Audit.listed(audit.temporary))
  if (missing.length + modified.length > 0) lines.push("run it again with --resume --verify content to compute those indices again")
  return lines.join("\n")
}

export const command = Command.make(
  "verify",
  { target: Shared.target, json: Shared.json },
  (options) =>
    Effect.gen(function*() {
      const checkpoint = yield* Target.resolveAndOpen(options.target)
      const audit = yield* Audit.audit(checkpoint)
      yield* Console.log(options.json ? Format.json(Audit.toJson(audit, checkpoint.location)) : formatAudit(audit, checkpoint.location))
      if (audit.report.findings.length > 0) return yield* new SilentExit({ code: ExitCode.Failed })
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Check a checkpoint's outputs on disk: missing, modified and orphaned files; runs nothing"))

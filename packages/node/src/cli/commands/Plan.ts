/**
 * `curator plan <module>`: what `curator run <module> --resume` would do with
 * each index — skip, run, retry or stale — and why, without running any
 * stage or writing anything: the database is opened read-only (none yet:
 * every index runs). `--explain N` tells one index's decision; `--json`
 * prints every decision. `curator run` prints the same counts before it
 * starts (see {@link planBeforeRun}).
 */
import { type CheckpointStore, Pipeline, Plan, RunOptions } from "@curator/core"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Either, Option } from "effect"
import * as fs from "node:fs"
import * as DatabaseLocation from "../../DatabaseLocation.js"
import * as PipelineModule from "../../PipelineModule.js"
import * as SqliteCheckpointStore from "../../SqliteCheckpointStore.js"
import { usage } from "../CliError.js"
import * as Format from "../Format.js"
import * as Shared from "../Shared.js"

/** The modes of `--verify`. */
export const verifyModes = ["exists", "size", "content"] as const

/**
 * The plan of a pipeline against its stable SQLite database, opened
 * read-only; with no database (or none of this configuration in it) every
 * index runs.
 */
export const planOf = (
  pipeline: Pipeline.Pipeline<unknown, never>,
  indices: ReadonlyArray<number> | undefined
): Effect.Effect<Plan.Plan, unknown> =>
  Effect.gen(function*() {
    const path = yield* DatabaseLocation.resolvePath({
      configHash: pipeline.configHash,
      configJson: "",
      totalIndices: 0,
      resume: true,
      dbFile: pipeline.options.dbFile,
      dbDir: pipeline.options.dbDir,
      runDir: ""
    })
    const checkpoint: CheckpointStore.Checkpoint | undefined = pipeline.options.trackMetrics && fs.existsSync(path)
      ? yield* SqliteCheckpointStore.openFile(path, { configHash: pipeline.configHash }).pipe(
        Effect.catchIf((error) => error.reason === "NotFound", () => Effect.succeed(undefined))
      )
      : undefined
    return yield* Plan.make(pipeline, checkpoint, { indices })
  }).pipe(Effect.scoped)

/**
 * The counts line `curator run --resume` prints (on stderr) before it
 * starts; nothing for a fresh or untracked run. A plan that cannot be made
 * prints nothing: the run reports the problem itself.
 */
export const planBeforeRun = (pipeline: Pipeline.Pipeline<unknown, never>, indices: ReadonlyArray<number> | undefined) =>
  !pipeline.options.resume || !pipeline.options.trackMetrics
    ? Effect.void
    : planOf(pipeline, indices).pipe(
      Effect.flatMap((plan) =>
        Console.error(`plan: ${Plan.describeCounts(plan.counts)}${plan.counts.stale > 0 ? " (curator plan lists why)" : ""}`)
      ),
      Effect.ignore
    )

const shownPerAction = 10

/** The plan as text: the counts, then the indices of each action but skip with their reasons (the first few). */
export const formatPlan = (plan: Plan.Plan, module: string): string => {
  const lines = [
    `plan of ${module} (configuration ${plan.configHash.slice(0, 16)}, database ${plan.location ?? "none yet"}):`,
    `  ${plan.total} indices: ${Plan.describeCounts(plan.counts)}`,
    `  read in ${plan.planMs} ms; ${plan.checks.count} fingerprint and output checks in ${plan.checks.wallMs} ms`
  ]
  for (const action of ["stale", "retry", "run"] as const) {
    const count = plan.counts[action]
    if (count === 0) continue
    lines.push(`${action}:`)
    let shown = 0
    for (const decision of plan.decisions) {
      if (Plan.actionOf(decision) !== action) continue
      if (shown++ === shownPerAction) break
      lines.push(`  ${String(decision.index).padStart(6)}  ${Plan.reasonOf(decision).split("\n")[0]}`)
    }
    if (count > shownPerAction) lines.push(`  … and ${count - shownPerAction} more (--json lists every index, --explain N one)`)
  }
  return lines.join("\n")
}

export const command = Command.make(
  "plan",
  {
    module: Args.text({ name: "module" }).pipe(Args.withDescription("the pipeline module (.ts or .js)")),
    exportName: Shared.exportName,
    indices: Options.text("indices").pipe(
      Options.optional,
      Options.withPseudoName("LIST"),
      Options.withDescription("the indices to plan, e.g. 0-9,15,-1 (default: every index)")
    ),
    dbDir: Options.text("db-dir").pipe(Options.optional, Options.withPseudoName("DIR"), Options.withDescription("the directory of the database")),
    dbFile: Options.text("db-file").pipe(Options.optional, Options.withPseudoName("FILE"), Options.withDescription("the exact database file")),
    verify: Options.choice("verify", verifyModes).pipe(
      Options.optional,
      Options.withDescription("also check the outputs of completed indices: that they exist, their size, or their content (as run --verify)")
    ),
    explain: Options.integer("explain").pipe(
      Options.optional,
      Options.withPseudoName("N"),
      Options.withDescription("tell the decision for index N and why")
    ),
    json: Shared.json.pipe(Options.withDescription("print the counts and every decision as JSON"))
  },
  (options) =>
    Effect.gen(function*() {
      const loaded = yield* PipelineModule.load({ module: options.module, exportName: Option.getOrUndefined(options.exportName) })
      const pipeline = Pipeline.withOptions(loaded, {
        resume: true,
        ...(Option.isSome(options.dbDir) ? { dbDir: options.dbDir.value } : {}),
        ...(Option.isSome(options.dbFile) ? { dbFile: options.dbFile.value } : {}),
        ...(Option.isSome(options.verify) ? { verifyOutputs: options.verify.value } : {})
      }) as Pipeline.Pipeline<unknown, never>
      const explain = Option.getOrUndefined(options.explain)
      const indices = explain !== undefined
        ? [explain]
        : Option.isSome(options.indices)
        ? yield* Either.mapLeft(RunOptions.parseIndices(options.indices.value), (error) => usage(`--indices: ${error.message}`))
        : undefined
      const plan = yield* planOf(pipeline, indices).pipe(
        Effect.catchIf(
          (error): error is RunOptions.InvalidRunOptions => error instanceof RunOptions.InvalidRunOptions,
          (error) => usage(`${explain !== undefined ? "--explain" : "--indices"}: ${error.message}`)
        )
      )
      if (explain !== undefined) {
        const decision = plan.decisions[0]!
        return yield* Console.log(
          options.json
            ? Format.json(Plan.toJson(decision))
            : `index ${decision.index}: ${Plan.actionOf(decision)} — ${Plan.reasonOf(decision)}`
        )
      }
      if (options.json) {
        return yield* Console.log(Format.json({
          config_hash: plan.configHash,
          db_path: plan.location ?? null,
          total: plan.total,
          counts: plan.counts,
          plan_ms: plan.planMs,
          checks: { count: plan.checks.count, wall_ms: plan.checks.wallMs },
          decisions: plan.decisions.map(Plan.toJson)
        }))
      }
      yield* Console.log(formatPlan(plan, options.module))
    })
).pipe(Command.withDescription("Show what a resumed run would do with each index (skip, run, retry, stale) and why, running nothing"))

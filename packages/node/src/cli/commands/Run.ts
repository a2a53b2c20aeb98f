/**
 * `curator run <module>`: loads a pipeline module, runs it on the chosen
 * backend with SQLite checkpoints, shows its progress, and prints a summary.
 * Exits 1 if some index failed. The first SIGINT or SIGTERM stops it
 * gracefully (no new index; those in flight finish, for up to `--grace`
 * seconds), prints the summary and exits 130; a second one stops at once.
 */
import { availableParallelism } from "node:os"
import { Backend, Pipeline, type RunResult, RunOptions } from "@curator/core"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Duration, Effect, Either, Layer, Option } from "effect"
import * as PipelineModule from "../../PipelineModule.js"
import * as SqliteCheckpointStore from "../../SqliteCheckpointStore.js"
import { type CliError, diskFull, ExitCode, SilentExit, usage } from "../CliError.js"
import * as Format from "../Format.js"
import * as Lazy from "../Lazy.js"
import * as ProgressDisplay from "../ProgressDisplay.js"
import * as Shared from "../Shared.js"
import * as Signals from "../Signals.js"
import * as DiffCommand from "./Diff.js"
import * as PlanCommand from "./Plan.js"

/** Reads `--concurrency`: digits or `all`, then the run's own check (a positive integer). */
export const parseConcurrency = (text: string): Either.Either<number | "all", CliError> => {
  const trimmed = text.trim()
  const value = trimmed === "all" ? "all" : /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN
  return Either.mapBoth(RunOptions.resolveConcurrency(value, availableParallelism()), {
    onLeft: () => usage(`--concurrency must be a positive integer or "all", got "${text}"`),
    onRight: () => value
  })
}

/** Reads `--indices`: indices and inclusive ranges, e.g. `0-9,15,-1`. */
export const parseIndices = (text: string): Either.Either<ReadonlyArray<number>, CliError> =>
  Either.mapLeft(RunOptions.parseIndices(text), (error) => usage(`--indices: ${error.message}`))

/** The backends `--backend` offers. */
export const backends = ["sequential", "fibers", "workers", "cluster"] as const

const backendLayer = (
  name: typeof backends[number],
  module: string,
  exportName: string | undefined,
  threads: number,
  postgres: string
): Layer.Layer<Backend.Backend, Backend.BackendError | CliError> => {
  switch (name) {
    case "sequential":
      return Backend.layerSequential
    case "fibers":
      return Backend.layerFibers
    case "workers":
      return Layer.unwrapEffect(
        Effect.map(Lazy.load("--backend workers", () => import("../../WorkerBackend.js")), (WorkerBackend) =>
          WorkerBackend.layer({ module, exportName, threads }))
      )
    case "cluster":
      return Layer.unwrapEffect(
        Effect.map(Lazy.load("--backend cluster", () => import("../../ClusterBackend.js")), (ClusterBackend) =>
          ClusterBackend.layer({ postgres }))
      )
  }
}

/** What `run --json` prints. */
export interface Summary {
  readonly total: number
  /** Completed indices, including those taken from the checkpoint. */
  readonly completed: number
  /** Completed indices computed in this run. */
  readonly computed: number
  /** Completed indices taken from the checkpoint. */
  readonly cached: number
  readonly failed: number
  readonly failures: ReadonlyArray<{ readonly index: number; readonly error: string }>
  /** Indices not started because the run was stopped; the next run does them. */
  readonly not_run: number
  /** Indices recorded completed but stale (input changed; output missing or modified with `--verify`), computed again. */
  readonly redone: number
  /** Indices skipped because they are quarantined (failed permanently in several runs); counted in `failed` too. */
  readonly quarantined: number
  /** Why the error budget stopped the run (`maxFailures`), or null. */
  readonly budget_exceeded: string | null
  /** The signal that stopped the run, or null when it ran to the end. */
  readonly stopped_by: string | null
  /** From the run's start (the progress bar's start) to its end. */
  readonly elapsed_s: number
  /** Before the run started: loading the checkpoint, starting worker threads or joining the cluster. */
  readonly startup_s?: number
  readonly backend: string
  readonly concurrency: number
  readonly config_hash: string
  readonly db_path: string | null
}

/** Summarises a run's result. */
export const summarize = (
  result: RunResult.RunResult<unknown>,
  run: {
    readonly elapsedS: number
    readonly startupS?: number
    readonly backend: string
    readonly concurrency: number
    readonly stoppedBy?: string | undefined
  }
): Summary => {
  let computed = 0
  let cached = 0
  let notRun = 0
  const failures: Array<{ index: number; error: string }> = []
  for (const outcome of result.outcomes) {
    if (outcome._tag === "Failed") failures.push({ index: outcome.index, error: outcome.message })
    else if (outcome._tag === "NotRun") notRun++
    else if (outcome.cached) cached++
    else computed++
  }
  return {
    total: result.outcomes.length,
    completed: computed + cached,
    computed,
    cached,
    failed: failures.length,
    failures,
    not_run: notRun,
    redone: result.redone.length,
    quarantined: result.quarantined?.length ?? 0,
    budget_exceeded: result.budgetExceeded ?? null,
    stopped_by: run.stoppedBy ?? null,
    elapsed_s: Number(run.elapsedS.toFixed(3)),
    startup_s: Number((run.startupS ?? 0).toFixed(3)),
    backend: run.backend,
    concurrency: run.concurrency,
    config_hash: result.configHash,
    db_path: result.location ?? null
  }
}

/** The summary as text: one line of counts, the database, and the first failures. */
export const formatSummary = (summary: Summary): string => {
  const lines = [
    `${summary.total} indices in ${Format.duration(summary.elapsed_s)} on ${summary.backend} (concurrency ${summary.concurrency}` +
    `${(summary.startup_s ?? 0) >= 1 ? `, after ${Format.duration(summary.startup_s!)} starting` : ""}): ` +
    `${summary.completed} completed (${summary.cached} from the checkpoint), ${summary.failed} failed` +
    (summary.not_run > 0 ? `, ${summary.not_run} not run` : ""),
    `database: ${summary.db_path ?? "none (--no-metrics)"}`
  ]
  if (summary.redone > 0) {
    lines.push(`redone: ${summary.redone} completed indices were stale (input changed, output missing or modified) and were computed again`)
  }
  if (summary.quarantined > 0) {
    lines.push(
      `quarantined: ${summary.quarantined} (failed permanently in several runs; skipped — curator reset --index N or --retry-quarantined runs them again)`
    )
  }
  if (summary.budget_exceeded !== null) {
    lines.push(`stopped: ${summary.budget_exceeded}; ${summary.not_run} indices not run`)
  }
  if (summary.stopped_by !== null) {
    lines.push(
      `stopped by ${summary.stopped_by}: ${summary.not_run} indices not run` +
        (summary.db_path === null ? "" : "; run the same command with --resume to continue")
    )
  }
  if (summary.failures.length > 0) {
    lines.push("failed:")
    const shown = summary.failures.slice(0, 10)
    const width = shown.reduce((widest, f) => Math.max(widest, String(f.index).length), 0)
    for (const failure of shown) lines.push(`  ${String(failure.index).padStart(width)}  ${failure.error.split("\n")[0]}`)
    if (summary.failures.length > shown.length) {
      lines.push(`  … and ${summary.failures.length - shown.length} more; see curator failed ${failedTarget(summary)}`.trimEnd())
    }
  }
  return lines.join("\n")
}

/**
 * The target naming this run's configuration for the read commands: a
 * SQLite file may hold several configurations, so `file.db#hash`
 * (a PostgreSQL location already ends in its configuration's `#schema`).
 */
const failedTarget = (summary: Summary): string =>
  summary.db_path === null ? "" : /^postgres(ql)?:/.test(summary.db_path) ? summary.db_path : `${summary.db_path}#${summary.config_hash.slice(0, 16)}`

const optionalText = (name: string, description: string) =>
  Options.text(name).pipe(Options.optional, Options.withDescription(description))

export const command = Command.make(
  "run",
  {
    module: Args.text({ name: "module" }).pipe(Args.withDescription("the pipeline module (.ts or .js)")),
    exportName: Shared.exportName,
    backend: Options.choice("backend", backends).pipe(
      Options.withDefault("fibers"),
      Options.withDescription(
        "where indices run: one after another, on fibers, on worker threads, or on the runners of a cluster (curator runner; needs --postgres). Default: fibers"
      )
    ),
    concurrency: Options.text("concurrency").pipe(
      Options.withPseudoName("N|all"),
      Options.withDefault("1"),
      Options.withDescription("how many indices run at once: a positive integer, or all (one per CPU). Default: 1")
    ),
    indices: optionalText("indices", "the indices to process, e.g. 0-9,15,-1 (negative counts from the end)").pipe(
      Options.withPseudoName("LIST")
    ),
    resume: Options.boolean("resume").pipe(Options.withDescription("reuse {hash16}.db and skip the indices completed there")),
    dbDir: optionalText("db-dir", "the directory of the database").pipe(Options.withPseudoName("DIR")),
    dbFile: optionalText("db-file", "the exact database file (wins over --db-dir)").pipe(Options.withPseudoName("FILE")),
    postgres: optionalText(
      "postgres",
      "record into this PostgreSQL database instead of SQLite files (a schema per configuration); with --backend cluster, also the cluster's database"
    ).pipe(Options.withPseudoName("URL")),
    noMetrics: Options.boolean("no-metrics").pipe(Options.withDescription("record nothing: no database, checkpoints or metrics")),
    verifyOutputs: Options.boolean("verify-outputs").pipe(
      Options.withDescription("with --resume, compute again the completed indices whose recorded output files are missing")
    ),
    verify: Options.choice("verify", ["exists", "size", "content"] as const).pipe(
      Options.optional,
      Options.withDescription(
        "with --resume, compute again the completed indices whose outputs are missing (exists), of another size (size) or content (content); size and content are measured as indices are recorded"
      )
    ),
    grace: Options.integer("grace").pipe(
      Options.withPseudoName("SECONDS"),
      Options.withDefault(30),
      Options.withDescription(
        "on Ctrl-C or SIGTERM, how long the indices in flight may take to finish before they are interrupted. Default: 30"
      )
    ),
    failFast: Options.boolean("fail-fast").pipe(Options.withDescription("stop at the first failed index")),
    gather: Options.boolean("gather").pipe(
      Options.withDescription("at the end, merge the shards of the pipeline's stateful filters into their base paths")
    ),
    keepShards: Options.boolean("keep-shards").pipe(Options.withDescription("with --gather, keep the shard files")),
    quiet: Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("no progress display and no plan counts before the run")),
    json: Shared.json.pipe(Options.withDescription("print the summary as JSON"))
  },
  (options) =>
    Effect.gen(function*() {
      const concurrency = yield* parseConcurrency(options.concurrency)
      if (options.grace < 0) return yield* usage(`--grace must be a number of seconds, 0 or more, got ${options.grace}`)
      if (options.noMetrics && options.resume) {
        return yield* usage("--no-metrics and --resume contradict each other: resuming reads the database that --no-metrics turns off; drop one")
      }
      const indices = Option.isSome(options.indices) ? yield* parseIndices(options.indices.value) : undefined
      const exportName = Option.getOrUndefined(options.exportName)
      const loaded = yield* PipelineModule.load({ module: options.module, exportName })
      const overrides: Partial<Pipeline.Options> = {
        ...(options.resume ? { resume: true } : {}),
        ...(Option.isSome(options.dbDir) ? { dbDir: options.dbDir.value } : {}),
        ...(Option.isSome(options.dbFile) ? { dbFile: options.dbFile.value } : {}),
        ...(options.noMetrics ? { trackMetrics: false } : {}),
        ...(options.verifyOutputs ? { verifyOutputs: true } : {}),
        ...(Option.isSome(options.verify) ? { verifyOutputs: options.verify.value } : {})
      }
      // A module's pipeline must be runnable as it is: the command line has no services to give it.
      const pipeline = Pipeline.withOptions(loaded, overrides) as Pipeline.Pipeline<unknown, never>
      const threads = yield* Either.mapLeft(RunOptions.resolveConcurrency(concurrency, availableParallelism()), (error) => usage(error.message))
      const postgres = Option.getOrUndefined(options.postgres)
      if (options.backend === "cluster" && postgres === undefined) {
        return yield* usage("--backend cluster needs --postgres URL: the database the runners were started with")
      }

      // What the run will do, counted before it starts (SQLite checkpoints; the plan reads them read-only);
      // --quiet leaves the counts out, not the warning of a configuration that changed.
      if (postgres === undefined) {
        yield* DiffCommand.warnBeforeRun(pipeline)
        if (!options.quiet) yield* PlanCommand.planBeforeRun(pipeline, indices)
      }
      const state = ProgressDisplay.makeState()
      const startedAt = performance.now()
      let stoppedBy: Signals.StopSignal | undefined
      const result = yield* Effect.gen(function*() {
        const signal = yield* Signals.gracefulStop
        const mode = ProgressDisplay.modeFor(process.stderr, options.quiet)
        // A live display shows the stopping state itself (a line printed beside it would be drawn over).
        const stop = Effect.flatMap(signal, (name) =>
          Effect.zipRight(
            Effect.sync(() => {
              stoppedBy = name
              ProgressDisplay.markStopping(state, name, options.grace, performance.now())
            }),
            mode === "live" ? Effect.void : Console.error(
              `${name}: stopping; the indices in flight may finish for ${options.grace} s. Press Ctrl-C again to stop at once`
            )
          ))
        // The grace period bounds a graceful stop: then indices still in flight are interrupted, not recorded.
        const graceOver = Effect.zipRight(signal, Effect.sleep(Duration.seconds(options.grace)))
        const display = yield* ProgressDisplay.start(state, {
          stream: process.stderr,
          mode
        })
        // Without a display the state is still kept: an interruption reports where the run records.
        const onProgress = display ?? ProgressDisplay.handler(state)
        return yield* Pipeline.run(pipeline, {
          concurrency,
          indices,
          failFast: options.failFast,
          onProgress,
          stop,
          gather: options.gather,
          keepShards: options.keepShards
        }).pipe(
          Effect.raceFirst(Effect.zipRight(graceOver, Effect.interrupt))
        )
      }).pipe(
        Effect.scoped,
        Effect.provide(backendLayer(options.backend, options.module, exportName, threads, postgres ?? "")),
        Effect.provide(
          postgres === undefined
            ? SqliteCheckpointStore.layer()
            : Layer.unwrapEffect(
              Effect.map(Lazy.load("--postgres", () => import("../../PgCheckpointStore.js")), (PgCheckpointStore) =>
                PgCheckpointStore.layer({ url: postgres }))
            )
        ),
        Effect.catchIf(SqliteCheckpointStore.isDiskFull, (failure) =>
          Effect.flatMap(SqliteCheckpointStore.recordedIndices(failure.location), (recorded) =>
            diskFull(
              failure,
              recorded,
              pipeline.options.resume
                ? "run the same command again to continue"
                : `run it again with --resume --db-file ${failure.location} to continue`
            ))),
        Effect.onInterrupt(() =>
          state.started && state.location !== undefined
            ? Console.error(
              pipeline.options.resume
                ? `interrupted; what finished is recorded in ${state.location}; run the same command again to continue`
                : `interrupted; what finished is recorded in ${state.location} (with --resume, a later run would continue where it stopped)`
            )
            : Effect.void
        )
      )
      // The same clock and start as the progress bar, so that both say the same duration; start-up apart.
      const endedAt = performance.now()
      const summary = summarize(result, {
        elapsedS: (endedAt - (state.started ? state.startedAtMs : startedAt)) / 1000,
        startupS: state.started ? (state.startedAtMs - startedAt) / 1000 : 0,
        backend: state.backend === "" ? options.backend : state.backend,
        concurrency: state.started ? state.concurrency : threads,
        stoppedBy
      })
      yield* Console.log(options.json ? Format.json(summary) : formatSummary(summary))
      if (stoppedBy !== undefined) return yield* new SilentExit({ code: ExitCode.Interrupted })
      if (summary.failed > 0) return yield* new SilentExit({ code: ExitCode.Failed })
    })
).pipe(Command.withDescription("Run a pipeline module with checkpoints, showing its progress"))

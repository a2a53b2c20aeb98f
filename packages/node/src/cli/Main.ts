/**
 * The `curator` command line: every command assembled under one root, run
 * with Node's services, every outcome turned into an exit code (0 done,
 * 1 some indices failed, 2 bad usage or target, 130 interrupted) and every
 * error into one line on stderr (with the full cause under `--verbose`).
 */
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Cause, Effect, Exit, Layer, Logger } from "effect"
import * as PackageDir from "../internal/packageDir.js"
import { ExitCode, fromCause, verboseDetail } from "./CliError.js"
import * as ClosedPipe from "./ClosedPipe.js"
import * as Cache from "./commands/Cache.js"
import * as Dashboard from "./commands/Dashboard.js"
import * as Diff from "./commands/Diff.js"
import * as Failed from "./commands/Failed.js"
import * as Gc from "./commands/Gc.js"
import * as Gather from "./commands/Gather.js"
import * as Logs from "./commands/Logs.js"
import * as Metrics from "./commands/Metrics.js"
import * as Outputs from "./commands/Outputs.js"
import * as Plan from "./commands/Plan.js"
import * as Reset from "./commands/Reset.js"
import * as Run from "./commands/Run.js"
import * as Runner from "./commands/Runner.js"
import * as Status from "./commands/Status.js"
import * as Verify from "./commands/Verify.js"
import * as Which from "./commands/Which.js"
import * as Workers from "./commands/Workers.js"
import * as Usage from "./Usage.js"

/** The root command with every subcommand. */
export const command = Command.make("curator").pipe(
  Command.withDescription(
    "Run checkpointing pipelines and inspect their databases. Add --verbose anywhere to print errors with their full cause."
  ),
  Command.withSubcommands([
    Run.command,
    Plan.command,
    Runner.command,
    Status.command,
    Failed.command,
    Workers.command,
    Logs.command,
    Metrics.command,
    Outputs.command,
    Which.command,
    Reset.command,
    Verify.command,
    Gc.command,
    Diff.command,
    Gather.command,
    Cache.command,
    Dashboard.command
  ])
)

const version = (): string => String(PackageDir.manifest()?.version ?? "0.0.0")

const cli = Command.run(command, { name: "curator", version: version() })

/** Runs the command on arguments `Usage.preflight` parsed already, as `cli` would after parsing them. */
const runParsed = (value: unknown) => {
  const parsed = value as Parameters<typeof command.handler>[0]
  return command.transform(command.handler(parsed), parsed)
}

/**
 * Runs the command line on `argv` (as `process.argv`: the runtime and the
 * script first) and returns the exit code. Errors are printed, never
 * raised; only an interruption ends the effect otherwise.
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number> => {
  const verbose = argv.includes("--verbose")
  const args = Metrics.withDefaultFiles(argv.filter((arg, i) => i < 2 || arg !== "--verbose"))
  // Bad arguments and --help are answered here, in Curator's words (Usage.ts); the rest runs as @effect/cli would.
  const checked = Usage.preflight(command, args, process.stdout.isTTY === true).pipe(
    Effect.flatMap((preflight) =>
      preflight._tag === "Run"
        ? preflight.parsed === undefined ? cli(args) : runParsed(preflight.parsed.value)
        : Effect.sync(() => {
          process[preflight.stream].write(preflight.text)
          return preflight.code
        })
    )
  )
  return Effect.zipRight(Effect.sync(() => ClosedPipe.endQuietly(process.stdout)), checked).pipe(
    Effect.map((code) => typeof code === "number" ? code : ExitCode.Ok),
    Effect.catchAllCause((cause) => {
      // An interruption stays one: the process exits with 130.
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const { code, message } = fromCause(cause)
      return Effect.sync(() => {
        if (message !== undefined) process.stderr.write(`curator: ${message}\n`)
        if (verbose) process.stderr.write(verboseDetail(cause) + "\n")
        return code
      })
    }),
    // Effect's own console logger would write over the progress display; runs record their logs in the database.
    Effect.provide(Layer.merge(NodeContext.layer, Logger.remove(Logger.defaultLogger)))
  )
}

/** The process's exit code for the outcome of {@link run}: its code, or 130 when interrupted. */
export const exitCode = (exit: Exit.Exit<unknown, unknown>): number =>
  Exit.isSuccess(exit)
    ? typeof exit.value === "number" ? exit.value : ExitCode.Ok
    : Cause.isInterruptedOnly(exit.cause)
    ? ExitCode.Interrupted
    : ExitCode.Failed

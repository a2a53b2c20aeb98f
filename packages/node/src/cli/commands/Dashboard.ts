/**
 * `curator dashboard <target>`: serves the web dashboard of a checkpoint
 * database, read-only, until interrupted.
 */
// CheckpointStore names the error type in the declaration of `command`.
import type { CheckpointStore } from "@curator/core"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect } from "effect"
import { usage } from "../CliError.js"
import * as Shared from "../Shared.js"
import * as Target from "../Target.js"

export const command = Command.make(
  "dashboard",
  {
    target: Shared.target,
    port: Options.integer("port").pipe(
      Options.withPseudoName("PORT"),
      Options.withDefault(5006),
      Options.withDescription("the TCP port to listen on (0 picks a free one). Default: 5006")
    ),
    host: Options.text("host").pipe(
      Options.withPseudoName("HOST"),
      Options.withDefault("127.0.0.1"),
      Options.withDescription("the address to bind. Default: 127.0.0.1, which keeps the dashboard to this machine")
    ),
    open: Options.boolean("open").pipe(Options.withDescription("open the dashboard in the default browser"))
  },
  (options) =>
    Effect.gen(function*() {
      if (options.port < 0 || options.port > 65535) {
        return yield* usage(`--port must be from 0 to 65535, got ${options.port}`)
      }
      const checkpoint = yield* Target.resolveAndOpen(options.target, { serving: true })
      // Loaded here, not with the command line: the HTTP server is only this command's.
      const Dashboard = yield* Effect.promise(() => import("../../Dashboard.js"))
      const { url } = yield* Dashboard.serve(checkpoint, { port: options.port, host: options.host }).pipe(
        Effect.mapError((error) => usage(error.message))
      )
      yield* Console.log(`dashboard of ${checkpoint.location} at ${url} (read-only; Ctrl-C to stop)`)
      if (options.open) {
        yield* Effect.tryPromise(() => import("open").then((module) => module.default(url))).pipe(
          Effect.catchAll((error) => Console.error(`could not open a browser (${String(error.error)}); open ${url} yourself`))
        )
      }
      return yield* Effect.never
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Serve a live web dashboard of the database (read-only) until interrupted"))

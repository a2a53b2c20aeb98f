/**
 * `curator runner <module> --postgres <url>`: joins a cluster as a runner
 * of the pipeline the module exports and computes the batches of indices
 * that `curator run --backend cluster` submits, until stopped (Ctrl-C or
 * SIGTERM: it leaves the cluster and its shards move to the other runners).
 */
import { availableParallelism } from "node:os"
import { Backend, RunOptions } from "@curator/core"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Either, Layer, Option } from "effect"
import { hostname } from "node:os"
import { usage } from "../CliError.js"
import * as Lazy from "../Lazy.js"
import * as Shared from "../Shared.js"
import { parseConcurrency } from "./Run.js"

export const command = Command.make(
  "runner",
  {
    module: Args.text({ name: "module" }).pipe(Args.withDescription("the pipeline module (.ts or .js), the same as the run's")),
    exportName: Shared.exportName,
    postgres: Options.text("postgres").pipe(
      Options.withPseudoName("URL"),
      Options.withDescription(
        "the PostgreSQL database of the cluster, the same for every runner and run (postgresql://user@host:5432/db; the password may come from PGPASSWORD)"
      )
    ),
    host: Options.text("host").pipe(
      Options.withPseudoName("HOST"),
      Options.withDefault(hostname()),
      Options.withDescription("the host name or address other machines reach this runner at")
    ),
    port: Options.integer("port").pipe(
      Options.withPseudoName("PORT"),
      Options.optional,
      Options.withDescription("the TCP port this runner listens on (default 34431)")
    ),
    backend: Options.choice("backend", ["fibers", "workers"] as const).pipe(
      Options.withDefault("fibers"),
      Options.withDescription("how this runner computes its indices: on fibers, or on worker threads (CPU-bound stages)")
    ),
    concurrency: Options.text("concurrency").pipe(
      Options.withPseudoName("N|all"),
      Options.withDefault("1"),
      Options.withDescription("how many indices this runner computes at once: a positive integer, or all (one per CPU)")
    )
  },
  (options) =>
    Effect.gen(function*() {
      const concurrency = yield* Either.flatMap(parseConcurrency(options.concurrency), (value) =>
        Either.mapLeft(RunOptions.resolveConcurrency(value, availableParallelism()), (error) => usage(error.message)))
      // Loaded here, not with the command line: only this command needs the cluster.
      const ClusterRunner = yield* Lazy.load("curator runner", () => import("../../ClusterRunner.js"))
      const port = Option.getOrElse(options.port, () => ClusterRunner.defaultPort)
      if (port < 1 || port > 65535) return yield* usage(`--port must be between 1 and 65535, got ${port}`)
      const exportName = Option.getOrUndefined(options.exportName)
      const local = options.backend === "workers"
        ? (yield* Lazy.load("--backend workers", () => import("../../WorkerBackend.js"))).layer({
          module: options.module,
          exportName,
          threads: concurrency
        })
        : Backend.layerFibers
      const runner = ClusterRunner.layer({
        module: options.module,
        exportName,
        postgres: options.postgres,
        host: options.host,
        port,
        concurrency
      }).pipe(Layer.provide(local))
      yield* Layer.build(runner)
      yield* Console.error(
        `runner ${options.host}:${port} (pid ${process.pid}) serving ${options.module} on ${options.backend} (concurrency ${concurrency}); stop it with Ctrl-C`
      )
      return yield* Effect.never
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Join a cluster as a runner of a pipeline module, computing what curator run --backend cluster submits"))

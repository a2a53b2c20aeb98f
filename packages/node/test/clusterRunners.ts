/**
 * `curator runner` processes for the suites that add the cluster backend
 * beside the others (where PostgreSQL is available): one runner per
 * pipeline export and local backend (a runner serves one pipeline), each over a fresh
 * PostgreSQL database of its own, started on first use and shared by every
 * case of the suite that runs that export; all stopped (SIGTERM) and their
 * databases dropped by `stopAll`.
 */
import { Backend } from "@curator/core"
import { ClusterBackend } from "@curator/node/cluster"
import { Effect, Exit, Layer, Scope } from "effect"
import type { ChildProcess } from "node:child_process"
import * as path from "node:path"
import { start } from "./cli/curator.js"
import { freePort } from "./helpers.js"
import { freshDatabase, postgresUrl } from "./postgres.js"

/** One runner: its cluster's database, and the process. */
export interface Runner {
  readonly url: string
  readonly child: ChildProcess
}

/** How the runners of a suite start. */
export interface RunnerOptions {
  /** The pipeline module every runner loads. */
  readonly fixture: string
  /** Where their cache directories go (removed by the suite). */
  readonly scratch: string
  /** Extra environment of a runner of this export (the rest is the suite's own). */
  readonly env?: ((exportName: string) => Readonly<Record<string, string>>) | undefined
  /** Indices a runner computes at once (default 2). */
  readonly concurrency?: number | undefined
}

/** How a runner computes its indices (`curator runner --backend`). */
export type LocalBackend = "fibers" | "workers"

export const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.on("exit", () => resolve())))

/** The runners of one suite. */
export const makeRunners = (options: RunnerOptions) => {
  const scope = Effect.runSync(Scope.make())
  const runners = new Map<string, Promise<Runner>>()

  const startRunner = async (exportName: string, backend: LocalBackend): Promise<Runner> => {
    const url = await Effect.runPromise(Scope.extend(freshDatabase(postgresUrl!), scope))
    const child = start(
      [
        "runner", options.fixture, "--export", exportName, "--postgres", url, "--host", "127.0.0.1",
        "--port", String(await freePort()), "--concurrency", String(options.concurrency ?? 2), "--backend", backend
      ],
      { env: { PSNC_CACHE_DIR: path.join(options.scratch, "runner-cache"), ...options.env?.(exportName) } }
    )
    await new Promise<void>((resolve, reject) => {
      let stderr = ""
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk
        if (stderr.includes("serving")) resolve()
      })
      child.on("exit", (code) => reject(new Error(`the runner of ${exportName} exited (${code}) before serving; stderr:\n${stderr}`)))
    })
    return { url, child }
  }

  /** The runner of an export on a local backend, started on first use. */
  const runnerOf = (exportName: string, backend: LocalBackend = "fibers"): Promise<Runner> => {
    const key = `${exportName} on ${backend}`
    let runner = runners.get(key)
    if (runner === undefined) runners.set(key, runner = startRunner(exportName, backend))
    return runner
  }

  /** Stops one runner (SIGTERM), waiting for it to exit. */
  const stop = async (runner: Runner) => {
    runner.child.kill("SIGTERM")
    await exited(runner.child)
  }

  /** Stops every runner started, then drops their databases. */
  const stopAll = async () => {
    await Promise.all([...runners.values()].map(async (runner) => stop(await runner).catch(() => {})))
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }

  /** The cluster backend over the runner of an export (started if need be). */
  const layer = (
    exportName: string,
    options: { readonly batchSize?: number; readonly backend?: LocalBackend } = {}
  ): Layer.Layer<Backend.Backend, Backend.BackendError> =>
    Layer.unwrapEffect(Effect.map(
      Effect.promise(() => runnerOf(exportName, options.backend)),
      (runner) => ClusterBackend.layer({ postgres: runner.url, batchSize: options.batchSize })
    ))

  return { runnerOf, stop, stopAll, layer }
}


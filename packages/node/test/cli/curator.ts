/**
 * Helpers of the command-line tests: `curator` run as a subprocess (node
 * with the flags `bin/curator.mjs` uses on the sources), in a sandbox of
 * temporary directories given through the environment — the cache
 * directory (`PSNC_CACHE_DIR`, never `~/.cache`) and the fixture pipelines'
 * output directory.
 */
import { expect } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { nodeArgs, repoRoot } from "./curatorProcess.js"

export { binScript, binSource, fixture, nodeArgs, repoRoot } from "./curatorProcess.js"

/** What a finished `curator` process left. */
export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Temporary directories for one test file, and the environment that points `curator` at them. */
export interface Sandbox {
  readonly root: string
  /** `PSNC_CACHE_DIR`. */
  readonly cache: string
  /** `CURATOR_CLI_OUT`: where the fixture pipelines write. */
  readonly out: string
  readonly env: Readonly<Record<string, string>>
  readonly remove: () => void
}

/** Makes a sandbox; `extraEnv` adds variables (e.g. `CURATOR_CLI_N`). */
export const makeSandbox = (extraEnv: Record<string, string> = {}): Sandbox => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "curator-cli-"))
  const cache = path.join(root, "cache")
  const out = path.join(root, "out")
  fs.mkdirSync(cache)
  return {
    root,
    cache,
    out,
    env: { PSNC_CACHE_DIR: cache, CURATOR_CLI_OUT: out, ...extraEnv },
    remove: () => fs.rmSync(root, { recursive: true, force: true })
  }
}

/** The environment of a child: this process's, without anything that would redirect the cache, plus `env`. */
const childEnv = (env: Readonly<Record<string, string>>): NodeJS.ProcessEnv => {
  const base: NodeJS.ProcessEnv = { ...process.env }
  delete base.PSNC_CACHE_DIR
  delete base.XDG_CACHE_HOME
  delete base.NODE_OPTIONS
  return { ...base, ...env }
}

/** Options of one run of `curator`. */
export interface RunOptions {
  readonly env: Readonly<Record<string, string>>
  /** Written to stdin, which is then closed (stdin is closed at once otherwise). */
  readonly input?: string | undefined
  readonly cwd?: string | undefined
}

/** Runs `curator args…` to completion. */
export const curator = (args: ReadonlyArray<string>, options: RunOptions): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, nodeArgs(args), {
      cwd: options.cwd ?? repoRoot,
      env: childEnv(options.env),
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(options.input ?? "")
  })

/** Starts `curator args…` and returns the child, for tests that interrupt it. */
export const start = (args: ReadonlyArray<string>, options: RunOptions) =>
  spawn(process.execPath, nodeArgs(args), {
    cwd: options.cwd ?? repoRoot,
    env: childEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"]
  })

/**
 * Runs the tasks with at most `limit` at once (each `curator` process
 * keeps a core busy), in order of the array, returning their results in
 * that order.
 */
export const limited = async <A>(limit: number, tasks: ReadonlyArray<() => Promise<A>>): Promise<Array<A>> => {
  const results: Array<A> = new Array(tasks.length)
  let next = 0
  const lane = async () => {
    while (next < tasks.length) {
      const k = next++
      results[k] = await tasks[k]!()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane))
  return results
}

/** The `*.db` files of a directory, sorted. */
export const databases = (dir: string): Array<string> => fs.readdirSync(dir).filter((name) => name.endsWith(".db")).sort()

/** Shows a result when an expectation about it fails. */
export const show = (result: Result): string =>
  `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`

/**
 * Lookups into the results a test file's `beforeAll` collected by key:
 * `result(key)`, and `ok(key)`, which also expects exit 0 and returns stdout.
 */
export const resultsOf = (results: Readonly<Record<string, Result>>) => {
  const result = (key: string): Result => {
    const found = results[key]
    if (found === undefined) throw new Error(`no result for ${key}`)
    return found
  }
  const ok = (key: string): string => {
    const found = result(key)
    expect(found.code, show(found)).toBe(0)
    return found.stdout
  }
  return { result, ok }
}

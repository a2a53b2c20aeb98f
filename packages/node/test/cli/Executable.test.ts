/**
 * The `curator` executable itself (`bin/curator.mjs`): it runs the command
 * in its own process, so a SIGKILL leaves nothing running and writing, and
 * a SIGINT reaches the run directly. Both ways it can run: on the compiled
 * output (brought up to date first), and — a checkout never built — on the
 * sources through tsx, as a copy of `bin/` beside which there is no
 * `dist/` (the launcher that ran a child process did so in that case).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { ensureBuilt } from "../build.js"
import { binScript, fixture, makeSandbox, repoRoot } from "./curator.js"

const sandbox = makeSandbox({ CURATOR_CLI_N: "100000", CURATOR_CLI_DELAY_MS: "20" })

/** A package directory with the executable and the sources but no `dist/`, inside the repository so that its packages resolve. */
const unbuilt = path.join(repoRoot, "node_modules", ".cache", `curator-unbuilt-${process.pid}`)

beforeAll(async () => {
  await ensureBuilt()
  fs.mkdirSync(path.join(unbuilt, "bin"), { recursive: true })
  for (const file of ["curator.mjs", "source.mjs"]) fs.copyFileSync(path.join(path.dirname(binScript), file), path.join(unbuilt, "bin", file))
  fs.symlinkSync(path.resolve(path.dirname(binScript), "../src"), path.join(unbuilt, "src"))
}, 300_000)

/** Every run started, killed at the end if a failed test left one running. */
const started: Array<ReturnType<typeof spawn>> = []

afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  sandbox.remove()
  fs.rmSync(unbuilt, { recursive: true, force: true })
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** How many files the fixture's `pipeline` has written (one per index) into an output directory. */
const written = (out: string) => {
  const outputs = path.join(out, "pipeline")
  return fs.existsSync(outputs) ? fs.readdirSync(outputs).length : 0
}

let runs = 0

/** Starts `curator run` of the slow fixture through the executable, and waits until it has written files. */
const startRun = async (executable: string) => {
  const out = path.join(sandbox.root, `run-${++runs}`)
  const env: NodeJS.ProcessEnv = { ...process.env, ...sandbox.env, CURATOR_CLI_OUT: out }
  delete env.NODE_OPTIONS
  const child = spawn(process.execPath, [executable, "run", fixture, "--quiet"], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] })
  started.push(child)
  let stderr = ""
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal }))
  )
  for (let waited = 0; written(out) < 3; waited += 50) {
    if (waited > 120_000) {
      child.kill("SIGKILL")
      throw new Error(`the run never wrote a file:\n${stderr}`)
    }
    await sleep(50)
  }
  return { child, exited, stderr: () => stderr, written: () => written(out) }
}

/** The ids of the processes whose parent is `pid`. */
const childrenOf = (pid: number): Array<number> => {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).split("\n").filter((line) => line.trim() !== "").map(Number)
  } catch {
    return [] // ps exits 1 when it lists nothing
  }
}

/** Whether a process still runs (a zombie, ended but not yet reaped, does not). */
const alive = (pid: number): boolean => {
  try {
    return !execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" }).trim().startsWith("Z")
  } catch {
    return false // ps exits 1 when the process is gone
  }
}

describe.each([
  ["compiled", binScript],
  ["unbuilt, on the sources", path.join(unbuilt, "bin", "curator.mjs")]
])("the curator executable (%s)", (_, executable) => {
  it("runs in one process: a SIGKILL leaves nothing running or writing", { timeout: 180_000 }, async () => {
    const { child, exited, written } = await startRun(executable)
    // Helpers such as tsx's esbuild service end with their parent; a child running the command would not.
    const children = childrenOf(child.pid!)
    child.kill("SIGKILL")
    expect(await exited).toEqual({ code: null, signal: "SIGKILL" })
    for (let waited = 0; children.some(alive) && waited < 10_000; waited += 100) await sleep(100)
    expect(children.filter(alive)).toEqual([])
    // Anything left behind would go on writing a file every 20 ms.
    const after = written()
    await sleep(1500)
    expect(written()).toBe(after)
  })

  it("stops the run on SIGINT, received by the run itself", { timeout: 180_000 }, async () => {
    const { child, exited, stderr, written } = await startRun(executable)
    child.kill("SIGINT")
    const { code } = await exited
    expect(stderr()).toContain("SIGINT: stopping")
    expect(code, stderr()).toBe(130)
    expect(written()).toBeLessThan(100_000)
  })
})

describe("a pipeline module outside any project that installs Curator", () => {
  it("runs with this repository's curator, its imports of @curator/* and effect resolved to curator's own", { timeout: 180_000 }, () => {
    const project = fs.mkdtempSync(path.join(sandbox.root, "elsewhere-"))
    fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ type: "module" }))
    fs.writeFileSync(
      path.join(project, "pipeline.ts"),
      `import { Pipeline, Sink, Source } from "@curator/core"
import { Effect } from "effect"

export const pipeline = Pipeline.from(Source.make({ name: "Numbers", params: {}, length: 3, items: (i: number) => Effect.succeed([i]) })).pipe(
  Pipeline.write(Sink.drain({ name: "Nothing", pathOf: () => [] }))
)
`
    )
    const env: NodeJS.ProcessEnv = { ...process.env, ...sandbox.env }
    delete env.NODE_OPTIONS
    const result = spawnSync(process.execPath, [binScript, "run", "./pipeline.ts", "--quiet", "--json"], { cwd: project, env, encoding: "utf8" })
    expect(result.status, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ total: 3, completed: 3, failed: 0 })
  })
})

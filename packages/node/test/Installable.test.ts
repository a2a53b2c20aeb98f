/**
 * Curator as a user installs it: the three packages packed from a fresh
 * build (`npm pack`), installed into a new project in a temporary directory
 * (its own `package.json`, `"type": "module"`, every third-party package
 * from the npm registry), and used there — a TypeScript program on the
 * library API, type-checked against the published declarations, and the
 * `curator` executable through `npx`, including a SIGINT that stops a run.
 *
 * Cost: the install takes 20–60 s on a 2-core machine. Packages come from
 * npm's own cache (`--prefer-offline`), which the repository's `npm ci`
 * has just filled with the same versions; only what it lacks is fetched
 * from the registry. better-sqlite3's install script would compile
 * SQLite from source for ~60 s because its prebuilt binaries' host is
 * unreachable here; instead it is given the addon the repository's own
 * `npm ci` compiled, as a prebuild (prebuild-install's documented
 * `--local-prebuilds` directory) — same package version (checked), same
 * Node ABI, same machine — so the install script runs as a user's does,
 * without compiling again.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { ensureBuilt, repoRoot } from "./build.js"

const run = promisify(execFile)

const manifest = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))
const rootDevDependencies: Record<string, string> = manifest(repoRoot).devDependencies
const sqliteAddonPackage = path.dirname(createRequire(path.join(repoRoot, "packages/node/package.json")).resolve("better-sqlite3/package.json"))
const sqliteVersion: string = manifest(sqliteAddonPackage).version

let root = ""
let project = ""
let env: NodeJS.ProcessEnv = {}

/** The pipeline module of the user's project: squares of 0..COUNT-1, one JSON file per index. */
const pipelineModule = `import { Filter, Pipeline, Source } from "@curator/core"
import { FileSink } from "@curator/node"
import { Effect } from "effect"

const count = Number(process.env.COUNT ?? "6")
const pauseMs = Number(process.env.PAUSE_MS ?? "0")

const numbers = Source.make({
  name: "Numbers",
  params: { count },
  length: count,
  items: (index: number) => Effect.as(Effect.sleep(pauseMs), [index])
})

export const pipeline = Pipeline.from(numbers).pipe(
  Pipeline.filter(Filter.map({ name: "Square", f: (n: number) => ({ n, square: n * n }) })),
  Pipeline.write(FileSink.json({ dir: process.env.OUT_DIR ?? "out" })),
  Pipeline.withOptions({ resume: true })
)
`

/** A program on the library API: runs the pipeline on the SQLite store and prints where it recorded. */
const program = `import { Pipeline, RunResult } from "@curator/core"
import { NodeCurator } from "@curator/node"
import { Effect } from "effect"
import { pipeline } from "./pipeline.js"

const result = await Effect.runPromise(Pipeline.run(pipeline, { concurrency: 2 }).pipe(Effect.provide(NodeCurator.layer())))
console.log(JSON.stringify({ location: result.location, counts: RunResult.counts(result) }))
`

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    noEmit: true,
    types: ["node"]
  },
  include: ["*.ts"]
}

/** Runs a command in the project; rejects (with its output) when it exits non-zero. */
const inProject = (file: string, args: ReadonlyArray<string>, extraEnv: Record<string, string> = {}) =>
  run(file, args, { cwd: project, env: { ...env, ...extraEnv }, maxBuffer: 16 * 1024 * 1024 })

const rows = (db: string, sql: string): Array<Record<string, unknown>> => {
  const handle = new Database(db, { readonly: true, fileMustExist: true })
  try {
    return handle.prepare(sql).all() as Array<Record<string, unknown>>
  } finally {
    handle.close()
  }
}

beforeAll(async () => {
  await ensureBuilt()
  root = fs.mkdtempSync(path.join(os.tmpdir(), "curator-installable-"))
  const tarballs = path.join(root, "tarballs")
  const prebuilds = path.join(root, "prebuilds")
  project = path.join(root, "project")
  for (const dir of [tarballs, prebuilds, project, path.join(root, "cache")]) fs.mkdirSync(dir)
  for (const name of ["core", "sql", "node"]) {
    await run("npm", ["pack", "--silent", "--pack-destination", tarballs], { cwd: path.join(repoRoot, "packages", name) })
  }
  // The repository's compiled addon, packed as prebuild-install names and unpacks a downloaded one.
  const abi = process.versions.modules
  await run("tar", [
    "-czf",
    path.join(prebuilds, `better-sqlite3-v${sqliteVersion}-node-v${abi}-${process.platform}-${process.arch}.tar.gz`),
    "-C",
    sqliteAddonPackage,
    "build/Release/better_sqlite3.node"
  ])
  fs.writeFileSync(
    path.join(project, "package.json"),
    JSON.stringify({ name: "curator-user", private: true, type: "module", allowScripts: { "better-sqlite3": true } }, null, 2)
  )
  fs.writeFileSync(path.join(project, "pipeline.ts"), pipelineModule)
  fs.writeFileSync(path.join(project, "program.ts"), program)
  fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify(tsconfig, null, 2))
  env = {
    ...process.env,
    npm_config_update_notifier: "false",
    PSNC_CACHE_DIR: path.join(root, "cache"),
    OUT_DIR: path.join(root, "out")
  }
  delete env.NODE_OPTIONS
  delete env.XDG_CACHE_HOME
  const packed = fs.readdirSync(tarballs).map((file) => path.join(tarballs, file))
  const devTools = ["tsx", "typescript", "@types/node"].map((name) => `${name}@${rootDevDependencies[name]}`)
  // prebuild-install reads npm_config_<package>_local_prebuilds (npm 11 warns it does not know that setting, and passes it on).
  const prebuildEnv = { npm_config_better_sqlite3_local_prebuilds: prebuilds }
  await inProject("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...packed], prebuildEnv)
  await inProject("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--save-dev", ...devTools], prebuildEnv)
}, 600_000)

afterAll(() => {
  if (root !== "") fs.rmSync(root, { recursive: true, force: true })
}, 120_000)

/** Each test starts node processes that load Curator (seconds each on a busy 2-core machine). */
const slow = { timeout: 180_000 }

describe("installed from the packed packages into a fresh project", () => {
  it("uses the prebuilt SQLite addon of the same better-sqlite3 version, and installs none of the optional packages", () => {
    expect(manifest(path.join(project, "node_modules/better-sqlite3")).version).toBe(sqliteVersion)
    for (const optional of ["@effect/sql-pg", "pg", "@effect/opentelemetry", "@opentelemetry/sdk-trace-base", "chart.js", "open"]) {
      expect(fs.existsSync(path.join(project, "node_modules", optional)), optional).toBe(false)
    }
  })

  it("type-checks a program against the published declarations", slow, async () => {
    await inProject(path.join(project, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"])
  })

  it("runs a TypeScript program on the library API with the SQLite store", slow, async () => {
    const { stdout } = await inProject(path.join(project, "node_modules/.bin/tsx"), ["program.ts"])
    const printed = JSON.parse(stdout.trim().split("\n").pop()!)
    expect(printed.counts).toMatchObject({ computed: 6, failed: 0 })
    const db: string = printed.location
    expect(path.dirname(db)).toBe(path.join(root, "cache"))
    const results = rows(db, "SELECT idx, status, output_paths FROM index_results ORDER BY idx")
    expect(results.map((row) => [row.idx, row.status])).toEqual([0, 1, 2, 3, 4, 5].map((i) => [i, "completed"]))
    const files = rows(db, "SELECT path FROM output_files ORDER BY idx").map((row) => String(row.path))
    expect(files).toHaveLength(6)
    expect(JSON.parse(fs.readFileSync(files[3]!, "utf8"))).toEqual([{ n: 3, square: 9 }])
  })

  it("runs npx curator run ./pipeline.ts, then npx curator status on its database", slow, async () => {
    const extra = { COUNT: "4", OUT_DIR: path.join(root, "out-cli") }
    const runOut = await inProject("npx", ["curator", "run", "./pipeline.ts", "--quiet", "--json"], extra)
    const summary = JSON.parse(runOut.stdout)
    expect(summary).toMatchObject({ total: 4, completed: 4, failed: 0 })
    const db: string = summary.db_path
    expect(rows(db, "SELECT COUNT(*) AS n FROM index_results WHERE status = 'completed'")).toEqual([{ n: 4 }])
    for (const target of [db, "./pipeline.ts"]) {
      const status = await inProject("npx", ["curator", "status", target, "--json"], extra)
      expect(JSON.parse(status.stdout), target).toMatchObject({ total: 4, completed: 4, failed: 0, db_path: db })
    }
  })

  it("names the package to install when a feature's optional package is missing", slow, async () => {
    const fails = (args: ReadonlyArray<string>) =>
      inProject("npx", ["curator", ...args]).then(
        ({ stdout }) => {
          throw new Error(`curator ${args.join(" ")} succeeded: ${stdout}`)
        },
        (error: { code: number; stderr: string }) => error
      )
    const run = await fails(["run", "./pipeline.ts", "--postgres", "postgresql://curator@127.0.0.1:1/none"])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`curator: --postgres needs the package @effect/sql-pg, which is not installed: npm install "@effect/sql-pg@^0.53.0"\n`)
    const status = await fails(["status", "postgresql://curator@127.0.0.1:1/none#abc"])
    expect(status.code).toBe(2)
    expect(status.stderr).toContain("a PostgreSQL target needs the package @effect/sql-pg")
    // The library's entry point fails to load, naming the package too.
    const imported = await inProject("node", ["-e", "import('@curator/node/postgres').catch((e) => console.log(e.message))"])
    expect(imported.stdout).toContain("Cannot find package '@effect/sql-pg'")
  })

  // A terminal's Ctrl-C signals the whole foreground process group: npx, the `sh -c` npm runs the
  // executable through, and curator. (SIGINT to npx's PID alone stops at that shell, which does not pass it on.)
  it("stops a run on Ctrl-C to npx curator (SIGINT to its process group), leaving no process behind", slow, async () => {
    const out = path.join(root, "out-sigint")
    const extra = { COUNT: "100000", PAUSE_MS: "20", OUT_DIR: out }
    const child = spawn("npx", ["curator", "run", "./pipeline.ts", "--quiet"], {
      cwd: project,
      env: { ...env, ...extra },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true
    })
    const group = -child.pid!
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    // Closed when every process holding its output has ended: npx, and curator, which inherited it.
    const closed = new Promise<void>((resolve) => child.on("close", () => resolve()))
    try {
      // Output files appear: the run is computing.
      for (let waited = 0; !(fs.existsSync(out) && fs.readdirSync(out).length >= 3); waited += 100) {
        if (waited > 120_000) throw new Error(`the run never wrote a file:\n${stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      process.kill(group, "SIGINT")
      await closed
      // curator stopped gracefully and printed its summary (npm itself ends on the signal at once).
      expect(stderr).toContain("SIGINT: stopping")
      expect(stdout, stderr).toContain("stopped by SIGINT")
      expect(fs.readdirSync(out).length).toBeLessThan(100_000)
      const { stdout: processes } = await run("ps", ["-eo", "args"])
      expect(processes.split("\n").filter((line) => line.includes(project))).toEqual([])
    } finally {
      try {
        process.kill(group, "SIGKILL")
      } catch {
        // The group has ended.
      }
    }
  })
})

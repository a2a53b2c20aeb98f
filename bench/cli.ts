/**
 * How fast `curator` starts: each read command (and `--help`) run through
 * the executable on the compiled output (`bin/curator.mjs` → `dist/`,
 * brought up to date first) against a small real database, interleaved
 * with the physical baseline, bare `node -e 0`, `n` times each. Reports
 * per command the median wall time, the median over bare node (the goal is
 * ≤ 300 ms) and the median CPU time (user + system, steadier than wall
 * time on a busy machine).
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const bin = path.join(repoRoot, "packages/node/bin/curator.mjs")

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** `/usr/bin/time` gives the child's CPU time; without it only wall time is reported. */
const gnuTime = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined

interface Sample {
  readonly wallMs: number
  readonly cpuMs: number | undefined
}

/** Runs `node args…` once and times it; a failing command fails the benchmark. */
const timeNode = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Sample => {
  const [file, argv] = gnuTime === undefined
    ? [process.execPath, args]
    : [gnuTime, ["-f", "cpu %U %S", process.execPath, ...args]]
  const start = performance.now()
  const result = spawnSync(file, argv, { cwd: repoRoot, env, encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] })
  const wallMs = performance.now() - start
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} exited ${result.status}: ${result.stderr}`)
  const cpu = /cpu (\S+) (\S+)\s*$/.exec(result.stderr)
  return { wallMs, cpuMs: cpu === null ? undefined : (Number(cpu[1]) + Number(cpu[2])) * 1000 }
}

export const cli = async (n: number) => {
  execFileSync(process.execPath, [path.join(repoRoot, "node_modules/typescript/bin/tsc"), "-b", "tsconfig.build.json"], { cwd: repoRoot })
  execFileSync(process.execPath, [path.join(repoRoot, "packages/node/scripts/bundle.mjs")], { cwd: repoRoot })
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), "curator-bench-cli-"))
  const env: NodeJS.ProcessEnv = { ...process.env, PSNC_CACHE_DIR: cache }
  delete env.NODE_OPTIONS
  try {
    const summary = JSON.parse(
      execFileSync(process.execPath, [bin, "run", "examples/quickstart/pipeline.ts", "--resume", "--quiet", "--json"], {
        cwd: repoRoot,
        env,
        encoding: "utf8"
      })
    )
    const db: string = summary.db_path
    const commands: Record<string, ReadonlyArray<string>> = {
      "--help": ["--help"],
      status: ["status", db],
      failed: ["failed", db],
      workers: ["workers", db],
      logs: ["logs", db],
      outputs: ["outputs", db, "0"],
      "cache list": ["cache", "list"]
    }
    const samples: Record<string, Array<Sample>> = { node: [] }
    for (let round = 0; round < n; round++) {
      samples.node!.push(timeNode(["-e", "0"], env))
      for (const [name, args] of Object.entries(commands)) (samples[name] ??= []).push(timeNode([bin, ...args], env))
    }
    const nodeMs = median(samples.node!.map((sample) => sample.wallMs))
    const figures = Object.fromEntries(
      Object.entries(commands).map(([name]) => {
        const runs = samples[name]!
        const wallMs = median(runs.map((sample) => sample.wallMs))
        const cpu = runs.map((sample) => sample.cpuMs).filter((ms): ms is number => ms !== undefined)
        return [name, {
          wall_ms: Math.round(wallMs),
          over_node_ms: Math.round(wallMs - nodeMs),
          cpu_ms: cpu.length === 0 ? null : Math.round(median(cpu))
        }]
      })
    )
    const nodeCpu = samples.node!.map((sample) => sample.cpuMs).filter((ms): ms is number => ms !== undefined)
    return {
      workload: "cli",
      runs: n,
      baseline: { command: "node -e 0", wall_ms: Math.round(nodeMs), cpu_ms: nodeCpu.length === 0 ? null : Math.round(median(nodeCpu)) },
      goal_over_node_ms: 300,
      load_average_1m: os.loadavg()[0],
      commands: figures
    }
  } finally {
    fs.rmSync(cache, { recursive: true, force: true })
  }
}

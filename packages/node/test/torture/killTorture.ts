/**
 * The kill torture: `curator run --resume` on the crash pipeline, killed
 * with SIGKILL at random moments again and again, resumed each time, then
 * run to the end. After every kill the database and the files are checked
 * against what a user relies on: the database is intact, every index
 * recorded completed has exactly the outputs its sink writes, and none is
 * recorded completed before its sink finished (its final marker exists);
 * at the end no temporary file of a killed writer remains.
 * Used by `KillTorture.test.ts` (the CI size) and `main.ts`
 * (`npm run test:torture`, a larger size).
 */
import Database from "better-sqlite3"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { journalOf, markerOf, outputsOf } from "../fixtures/crashOutputs.js"
import { nodeArgs, repoRoot } from "../cli/curatorProcess.js"

const fixture = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../fixtures/crashPipeline.ts")

export interface Options {
  /** A fresh directory the torture owns (database, outputs, cache). */
  readonly dir: string
  /** Indices of the pipeline. */
  readonly indices: number
  /** SIGKILLs to deliver before the run that goes to the end. */
  readonly kills: number
  /** The backend of each attempt, in turn: e.g. `["fibers"]`, or `["fibers", "fibers", "workers"]`. */
  readonly backends: ReadonlyArray<"fibers" | "workers">
  readonly concurrency: number
  /** Time each index spends in its sink, so that kills find indices in flight. */
  readonly delayMs: number
  /** Seed of the random kill moments, for reproducing a failure. */
  readonly seed: number
  /** Called with a line after each attempt. */
  readonly log?: ((line: string) => void) | undefined
}

/** What the torture found. */
export interface Report {
  readonly indices: number
  readonly kills: number
  /** Kills that landed before the attempt's first index started (start-up, opening, loading the checkpoint). */
  readonly killsBeforeFirstIndex: number
  /** Kills with workers as the backend. */
  readonly killsOnWorkers: number
  /** Attempts that finished by themselves before their kill (only possible once the checkpoint is complete). */
  readonly finishedEarly: number
  /** Indices whose sink started more than once (killed in flight, or finished but not yet recorded). */
  readonly startedMoreThanOnce: number
  /** Indices whose sink finished more than once: work whose record a kill lost. */
  readonly finishedMoreThanOnce: number
  /** Every broken promise found after a kill or at the end; empty when all held. */
  readonly violations: ReadonlyArray<string>
  /** Temporary files of killed writers found in the output folder after a kill (each swept by the next run). */
  readonly temporaryFilesAfterKills: number
  /** Temporary files left in the output folder after the last run: none may remain. */
  readonly temporaryFilesAtEnd: number
  /** `PRAGMA integrity_check` after the last run. */
  readonly integrity: string
  /** Indices recorded completed after the last run. */
  readonly completed: number
  /** Exit code of the last run (0 when it ran to the end). */
  readonly finalExitCode: number | null
  readonly seed: number
  readonly totalSeconds: number
}

/** A small deterministic generator (mulberry32), so a seed reproduces a torture's kill moments. */
const random = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The journal of the crash pipeline, followed as it grows (only the bytes
 * appended since the last look are read): how many sinks started and
 * finished, in all and per index.
 */
class Journal {
  private offset = 0
  private partial = ""
  starts = 0
  ends = 0
  readonly startsOf = new Map<number, number>()
  readonly endsOf = new Map<number, number>()
  constructor(private readonly file: string) {}

  poll(): this {
    if (!fs.existsSync(this.file)) return this
    const fd = fs.openSync(this.file, "r")
    try {
      const size = fs.fstatSync(fd).size
      if (size <= this.offset) return this
      const buffer = Buffer.alloc(size - this.offset)
      fs.readSync(fd, buffer, 0, buffer.length, this.offset)
      this.offset = size
      const lines = (this.partial + buffer.toString("utf8")).split("\n")
      this.partial = lines.pop()!
      for (const line of lines) {
        const [what, index] = line.split(" ")
        const counts = what === "start" ? this.startsOf : this.endsOf
        counts.set(Number(index), (counts.get(Number(index)) ?? 0) + 1)
        if (what === "start") this.starts++
        else this.ends++
      }
      return this
    } finally {
      fs.closeSync(fd)
    }
  }

  /** Resolves once `until` holds of the journal, or the child exited. */
  async waitFor(until: (journal: Journal) => boolean, exited: () => boolean): Promise<void> {
    while (!exited() && !until(this.poll())) await sleep(5)
  }
}

/** The temporary files (`*.tmp`) of interrupted atomic writes under the output folder. */
const temporaryFiles = (outDir: string): Array<string> =>
  fs.readdirSync(outDir, { recursive: true, encoding: "utf8" }).filter((name) => name.endsWith(".tmp"))

/** Checks the database and the files after a run ended (killed or not); returns the completed indices. */
const check = (dbFile: string, outDir: string, when: string, violations: Array<string>) => {
  if (!fs.existsSync(dbFile)) return { completed: new Set<number>(), integrity: "no database yet" }
  const db = new Database(dbFile, { readonly: true, fileMustExist: true })
  try {
    const integrity = String((db.prepare("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check)
    if (integrity !== "ok") violations.push(`${when}: integrity_check says ${integrity}`)
    const rows = db.prepare("SELECT idx, status, output_paths FROM index_results").all() as Array<
      { idx: number; status: string; output_paths: string | null }
    >
    const completed = new Set<number>()
    for (const row of rows) {
      if (row.status !== "completed") {
        violations.push(`${when}: index ${row.idx} is recorded as ${row.status}`)
        continue
      }
      completed.add(row.idx)
      const expected = outputsOf(outDir, row.idx)
      const recorded = JSON.parse(row.output_paths ?? "null")
      if (JSON.stringify(recorded) !== JSON.stringify(expected.map((output) => output.path))) {
        violations.push(`${when}: index ${row.idx} recorded outputs ${row.output_paths}`)
      }
      for (const output of expected) {
        const contents = fs.existsSync(output.path) ? fs.readFileSync(output.path, "utf8") : undefined
        if (contents !== output.contents) {
          violations.push(`${when}: index ${row.idx}: ${output.path} ${contents === undefined ? "is missing" : "holds other contents"}`)
        }
      }
      if (!fs.existsSync(markerOf(outDir, row.idx))) {
        violations.push(`${when}: index ${row.idx} is recorded completed but its sink never finished (no marker)`)
      }
    }
    const recordedFiles = db.prepare("SELECT COUNT(*) AS n FROM output_files").get() as { n: number }
    if (recordedFiles.n !== completed.size * 2) {
      violations.push(`${when}: output_files has ${recordedFiles.n} rows for ${completed.size} completed indices`)
    }
    return { completed, integrity }
  } finally {
    db.close()
  }
}

/** Runs the torture; never throws on a broken promise, reports it in `violations`. */
export const run = async (options: Options): Promise<Report> => {
  const began = performance.now()
  const next = random(options.seed)
  const outDir = path.join(options.dir, "out")
  const dbFile = path.join(options.dir, "checkpoint.db")
  const journal = new Journal(journalOf(outDir))
  fs.mkdirSync(path.join(options.dir, "cache"), { recursive: true })
  fs.mkdirSync(outDir, { recursive: true })
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PSNC_CACHE_DIR: path.join(options.dir, "cache"),
    CURATOR_CRASH_OUT: outDir,
    CURATOR_CRASH_N: String(options.indices),
    CURATOR_CRASH_DELAY_MS: String(options.delayMs)
  }
  delete env.XDG_CACHE_HOME
  delete env.NODE_OPTIONS

  const violations: Array<string> = []
  let kills = 0
  let killsBeforeFirstIndex = 0
  let killsOnWorkers = 0
  let finishedEarly = 0
  let temporaryFilesAfterKills = 0
  let startupMs = 3000

  const attempt = (backend: string): ChildProcess =>
    spawn(
      process.execPath,
      nodeArgs([
        "run", fixture, "--resume", "--quiet", "--json", "--db-file", dbFile,
        "--backend", backend, "--concurrency", String(options.concurrency)
      ]),
      { cwd: repoRoot, env, stdio: ["ignore", "ignore", "pipe"] }
    )

  let completedBefore = check(dbFile, outDir, "before", violations).completed.size
  for (let k = 0; kills < options.kills && k < 2 * options.kills; k++) {
    const backend = options.backends[k % options.backends.length]!
    const child = attempt(backend)
    let stderr = ""
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })))
    let exited = false
    void exit.then(() => (exited = true))
    const spawnedAt = performance.now()
    const { starts, ends } = journal.poll()

    // One kill in five lands during start-up (loading modules, opening and migrating, reading the
    // checkpoint); the others once a random number of sinks finished in this attempt, up to a
    // little more than its share of the work left but never all of it, so that kills spread over
    // the whole run, whatever its speed, and fall at random moments of the writer's flush cycle.
    if (next() < 0.2) {
      await sleep(next() * startupMs)
    } else {
      await journal.waitFor((j) => j.starts > starts, () => exited)
      startupMs = 0.7 * startupMs + 0.3 * (performance.now() - spawnedAt)
      const left = options.indices - completedBefore
      const target = 1 + Math.floor(next() * Math.min(1.4 * left / (options.kills - kills), 0.9 * left))
      await journal.waitFor((j) => j.ends - ends >= target, () => exited)
    }
    const beforeFirstIndex = journal.poll().starts === starts
    child.kill("SIGKILL")
    const ended = await exit
    const when = `after attempt ${k + 1} (${backend}, ${ended.signal ?? `exit ${ended.code}`})`
    const completed = check(dbFile, outDir, when, violations).completed.size
    temporaryFilesAfterKills += temporaryFiles(outDir).length
    if (ended.signal === "SIGKILL") {
      kills++
      if (beforeFirstIndex) killsBeforeFirstIndex++
      if (backend === "workers") killsOnWorkers++
    } else if (ended.code === 0) {
      finishedEarly++
    } else {
      violations.push(`${when}: curator failed before its kill: ${stderr.trim()}`)
      break
    }
    options.log?.(
      `attempt ${k + 1}: ${backend}, ${
        ended.signal === null ? "finished before its kill" : beforeFirstIndex ? "killed before its first index" : "killed mid-run"
      }, ${completed}/${options.indices} completed`
    )
    completedBefore = completed
  }

  const last = attempt(options.backends[0]!)
  let lastStderr = ""
  last.stderr!.setEncoding("utf8").on("data", (chunk: string) => (lastStderr += chunk))
  const finalExitCode = await new Promise<number | null>((resolve) => last.on("exit", (code) => resolve(code)))
  if (finalExitCode !== 0) violations.push(`the last run exited ${finalExitCode}: ${lastStderr.trim()}`)
  const final = check(dbFile, outDir, "at the end", violations)
  const leftover = temporaryFiles(outDir)
  if (leftover.length > 0) violations.push(`at the end: temporary files remain: ${leftover.slice(0, 5).join(", ")}`)
  if (final.completed.size !== options.indices) {
    const missing = Array.from({ length: options.indices }, (_, i) => i).filter((i) => !final.completed.has(i))
    violations.push(`at the end: ${missing.length} indices not completed, e.g. ${missing.slice(0, 5).join(", ")}`)
  }

  journal.poll()
  const moreThanOnce = (counts: Map<number, number>) => [...counts.values()].filter((count) => count > 1).length

  return {
    indices: options.indices,
    kills,
    killsBeforeFirstIndex,
    killsOnWorkers,
    finishedEarly,
    startedMoreThanOnce: moreThanOnce(journal.startsOf),
    finishedMoreThanOnce: moreThanOnce(journal.endsOf),
    violations,
    temporaryFilesAfterKills,
    temporaryFilesAtEnd: leftover.length,
    integrity: final.integrity,
    completed: final.completed.size,
    finalExitCode,
    seed: options.seed,
    totalSeconds: Number(((performance.now() - began) / 1000).toFixed(1))
  }
}

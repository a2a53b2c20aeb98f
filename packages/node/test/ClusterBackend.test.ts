/**
 * The cluster backend end to end, as users run it: three `curator runner`
 * processes on loopback and `curator run --backend cluster` over a fresh
 * PostgreSQL database. One runner is SIGKILLed in the middle of an index;
 * the others finish its work, every index is recorded once, a resumed
 * submission sends only what is not completed, and the records equal those
 * of a single-machine run of the same pipeline. Also the errors users meet.
 */
import type { CheckpointStore } from "@curator/core"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Reactivity from "@effect/experimental/Reactivity"
import { describe, expect, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Exit, Redacted, Scope } from "effect"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Summary } from "../src/cli/commands/Run.js"
import * as PgCheckpointStore from "../src/PgCheckpointStore.js"
import * as SqliteCheckpointStore from "../src/SqliteCheckpointStore.js"
import { curator, makeSandbox, show, start } from "./cli/curator.js"
import { fails } from "./fixtures/clusterPipeline.js"
import { freshDatabase, postgresUrl, skipReason } from "./postgres.js"
import { freePort } from "./helpers.js"

const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "fixtures/clusterPipeline.ts")
const total = 2000
const failing = Array.from({ length: total }, (_, i) => i).filter(fails)
/** The victim hangs in the index after this many; the test then kills it. */
const stallAfter = 20

/** Resolves when `check` passes on the child's stderr so far; rejects if the child exits first or time runs out. */
const waitFor = (child: ChildProcess, what: string, check: (stderr: string) => boolean, timeoutMs = 60_000) =>
  new Promise<void>((resolve, reject) => {
    let stderr = ""
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr:\n${stderr}`)), timeoutMs)
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
      if (check(stderr)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.on("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`${what}: the process exited (${code}) first; stderr:\n${stderr}`))
    })
  })

/** The lines `<pid> <index>` of the fixture's started.log so far. */
const readStarted = (file: string): ReadonlyArray<[number, number]> =>
  fs.existsSync(file)
    ? fs.readFileSync(file, "utf8").trim().split("\n").filter((l) => l !== "").map((l) => l.split(" ").map(Number) as [number, number])
    : []

/** Resolves with the lines of started.log once `until` holds for them. */
const watchStarted = (file: string, until: (lines: ReadonlyArray<[number, number]>) => boolean, timeoutMs = 60_000) =>
  new Promise<ReadonlyArray<[number, number]>>((resolve, reject) => {
    const deadline = Date.now() + timeoutMs
    const poll = () => {
      const lines = readStarted(file)
      if (until(lines)) return resolve(lines)
      if (Date.now() > deadline) return reject(new Error(`timed out watching ${file} (${lines.length} lines)`))
      setTimeout(poll, 20)
    }
    poll()
  })

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.on("exit", () => resolve())))

const withPg = <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(PgClient.make({ url: Redacted.make(url) }), f)).pipe(Effect.provide(Reactivity.layer)))

describe("ClusterBackend: what users get wrong", () => {
  it("--backend cluster without --postgres, or a runner whose database cannot be reached: a clear error, nothing run", async () => {
    const sandbox = makeSandbox()
    try {
      const env = { ...sandbox.env, CURATOR_CLUSTER_N: "4", CURATOR_CLUSTER_OUT: path.join(sandbox.root, "out") }
      const [noPostgres, unreachable] = await Promise.all([
        curator(["run", fixture, "--backend", "cluster"], { env }),
        curator(["runner", fixture, "--postgres", "postgresql://postgres:secret@127.0.0.1:1/none", "--port", String(await freePort())], { env })
      ])
      expect(noPostgres.code, show(noPostgres)).toBe(2)
      expect(noPostgres.stderr).toContain("--backend cluster needs --postgres URL")
      expect(unreachable.code, show(unreachable)).toBe(1)
      expect(unreachable.stderr).toContain("cannot use the cluster's PostgreSQL database at postgresql://postgres@127.0.0.1:1/none")
      expect(unreachable.stderr).not.toContain("secret")
      expect(fs.existsSync(path.join(sandbox.root, "out"))).toBe(false)
    } finally {
      sandbox.remove()
    }
  }, 60_000)

  it.skipIf(postgresUrl === undefined)(
    `a runner of another pipeline refuses the batches: the run stops with the reason${postgresUrl === undefined ? ` (${skipReason})` : ""}`,
    async () => {
      const scope = Effect.runSync(Scope.make())
      const sandbox = makeSandbox()
      let runner: ChildProcess | undefined
      try {
        const url = await Effect.runPromise(Scope.extend(freshDatabase(postgresUrl!), scope))
        const out = path.join(sandbox.root, "out")
        // Another number of indices: another configuration.
        runner = start(["runner", fixture, "--postgres", url, "--host", "127.0.0.1", "--port", String(await freePort())], {
          env: { ...sandbox.env, CURATOR_CLUSTER_N: "10", CURATOR_CLUSTER_OUT: out }
        })
        await waitFor(runner, "the runner", (stderr) => stderr.includes("serving"))
        const run = await curator(["run", fixture, "--backend", "cluster", "--postgres", url, "--quiet"], {
          env: { ...sandbox.env, CURATOR_CLUSTER_N: "20", CURATOR_CLUSTER_OUT: out }
        })
        expect(run.code, show(run)).toBe(1)
        expect(run.stderr).toMatch(/cluster backend: the runner on .* serves a pipeline with configuration hash [0-9a-f]{16}, but the run submits [0-9a-f]{16}; start every runner with the module of the run/)
        expect(fs.existsSync(path.join(out, "started.log"))).toBe(false)
      } finally {
        runner?.kill("SIGTERM")
        if (runner !== undefined) await exited(runner)
        await Effect.runPromise(Scope.close(scope, Exit.void))
        sandbox.remove()
      }
    },
    120_000
  )
})

describe("ClusterBackend", () => {
  it.skipIf(postgresUrl === undefined)(
    `three runners compute ${total} indices; one SIGKILLed mid-index leaves its work to the others; each index is recorded once, as on one machine; resuming sends only what is not completed${
      postgresUrl === undefined ? ` (${skipReason})` : ""
    }`,
    async () => {
      const scope = Effect.runSync(Scope.make())
      const sandbox = makeSandbox()
      const out = path.join(sandbox.root, "cluster-out")
      const env = { ...sandbox.env, CURATOR_CLUSTER_N: String(total), CURATOR_CLUSTER_OUT: out }
      const runners: Array<ChildProcess> = []
      try {
        const url = await Effect.runPromise(Scope.extend(freshDatabase(postgresUrl!), scope))
        // Started together: they race to create the cluster's tables.
        const ports = [await freePort(), await freePort(), await freePort()]
        for (const [k, port] of ports.entries()) {
          const victim = k === 2
          runners.push(start(
            ["runner", fixture, "--postgres", url, "--host", "127.0.0.1", "--port", String(port), "--concurrency", "4"],
            { env: victim ? { ...env, CURATOR_CLUSTER_STALL_AFTER: String(stallAfter) } : env }
          ))
        }
        await Promise.all(runners.map((runner, k) => waitFor(runner, `runner ${k}`, (stderr) => stderr.includes("serving"))))
        const victim = runners[2]!

        const submit = ["run", fixture, "--backend", "cluster", "--postgres", url, "--resume", "--json", "--quiet"]
        const submitted = curator(submit, { env })
        // The victim hangs in its next index: kill it there.
        const startedLog = path.join(out, "started.log")
        const started = await watchStarted(startedLog, (lines) =>
          lines.filter(([pid]) => pid === victim.pid).length > stallAfter)
        victim.kill("SIGKILL")
        const stalled = started.filter(([pid]) => pid === victim.pid)[stallAfter]![1]

        const cluster = await submitted
        // Exit 1: the failing indices failed (and nothing else).
        expect(cluster.code, show(cluster)).toBe(1)
        const clusterSummary = JSON.parse(cluster.stdout) as Summary
        expect(clusterSummary).toMatchObject({ total, completed: total - failing.length, failed: failing.length, backend: "cluster" })
        expect(clusterSummary.failures.map((f) => f.index)).toEqual(failing)

        const schema = PgCheckpointStore.schemaOfFile(clusterSummary.db_path!)
        const rows = await withPg(url, (sql) =>
          sql<{ idx: number; status: string; pid: number }>`
            SELECT r.idx, r.status, w.pid FROM ${sql(schema)}.index_results r
            JOIN ${sql(schema)}.workers w ON w.worker_id = r.worker_id ORDER BY r.idx`)
        // Each index has exactly one record, completed unless it fails, made by a runner.
        expect(rows.map((r) => r.idx)).toEqual(Array.from({ length: total }, (_, i) => i))
        expect(rows.filter((r) => r.status === "error").map((r) => r.idx)).toEqual(failing)
        const runnerPids = new Set(runners.map((r) => r.pid))
        expect(rows.every((r) => runnerPids.has(r.pid))).toBe(true)
        // The index the victim died in was delivered again and finished by another runner.
        const redone = rows[stalled]!
        expect(redone.pid).not.toBe(victim.pid)
        expect(redone.status).toBe(fails(stalled) ? "error" : "completed")
        if (!fails(stalled)) {
          expect(JSON.parse(fs.readFileSync(path.join(out, `${stalled}.json`), "utf8")).pid).toBe(redone.pid)
        }
        // From any machine, `curator workers` lists each runner's workers (pid and host),
        // and `curator status` gives the run's summary.
        const asked = { env: { ...env, PGPASSWORD: new URL(url).password } }
        const [listed, status] = await Promise.all([
          curator(["workers", clusterSummary.db_path!, "--json"], asked),
          curator(["status", clusterSummary.db_path!, "--json"], asked)
        ])
        expect(listed.code, show(listed)).toBe(0)
        expect(status.code, show(status)).toBe(0)
        const workers = JSON.parse(listed.stdout) as Array<{ pid: number; hostname: string }>
        const workerPids = new Set(workers.map((w) => w.pid))
        expect([...workerPids].every((pid) => runnerPids.has(pid))).toBe(true)
        expect(workerPids.has(runners[0]!.pid!) && workerPids.has(runners[1]!.pid!)).toBe(true)
        expect(workers.every((w) => w.hostname === os.hostname())).toBe(true)

        // Submitted again, only what is not completed goes to the runners: the failed indices, once each.
        const before = readStarted(startedLog).length
        const resumed = await curator(submit, { env })
        expect(resumed.code, show(resumed)).toBe(1)
        expect(JSON.parse(resumed.stdout)).toMatchObject({ total, cached: total - failing.length, failed: failing.length })
        const again = readStarted(startedLog).slice(before).map(([, index]) => index)
        expect(again.sort((a, b) => a - b)).toEqual(failing)

        // The same pipeline on one machine records the same outcomes.
        const local = await curator(["run", fixture, "--concurrency", "16", "--json", "--quiet"], { env })
        expect(local.code, show(local)).toBe(1)
        const localSummary = JSON.parse(local.stdout) as Summary
        const comparable = (s: Summary) => ({ total: s.total, completed: s.completed, failed: s.failed, failures: s.failures })
        expect(comparable(clusterSummary)).toEqual(comparable(localSummary))
        const records = (open: Effect.Effect<CheckpointStore.Checkpoint, unknown, Scope.Scope>) =>
          Effect.runPromise(Effect.scoped(Effect.flatMap(open, (c) =>
            Effect.all({ summary: c.summary, outputs: c.completedOutputs, failed: c.failedIndices }))))
        const onCluster = await records(PgCheckpointStore.openSchema(url, schema))
        const onOneMachine = await records(SqliteCheckpointStore.openFile(localSummary.db_path!))
        const counts = (s: typeof onCluster.summary) => [s.total, s.completed, s.failed, s.remaining, s.errors]
        expect(counts(onCluster.summary)).toEqual(counts(onOneMachine.summary))
        expect(counts(JSON.parse(status.stdout))).toEqual(counts(onOneMachine.summary))
        expect(onCluster.outputs).toEqual(onOneMachine.outputs)
        expect(onCluster.failed).toEqual(onOneMachine.failed)
      } finally {
        for (const runner of runners) runner.kill("SIGTERM")
        await Promise.all(runners.map(exited))
        await Effect.runPromise(Scope.close(scope, Exit.void))
        sandbox.remove()
      }
    },
    180_000
  )
})

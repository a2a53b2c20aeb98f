/**
 * `curator` reading a database shaped as the Python reference writes it
 * (raw SQL, see fixtures/referenceDatabase.ts): `status` reports the whole
 * run (3.7 s, 3 processes, 30 worker rows), not the last per-index worker
 * registration; `logs --worker` takes the process labels the reference
 * logs; `metrics --json` / `--csv` alone write to stdout. Reading leaves the
 * file as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as path from "node:path"
import { writeReferenceDatabase, referenceRun } from "../fixtures/referenceDatabase.js"
import { snapshot } from "../helpers.js"
import { curator, limited, makeSandbox, type Result, resultsOf, type Sandbox, show } from "./curator.js"

let sandbox: Sandbox
let database: string
let before: ReturnType<typeof snapshot>
const results: Record<string, Result> = {}

beforeAll(async () => {
  sandbox = makeSandbox()
  database = path.join(sandbox.root, "reference.db")
  writeReferenceDatabase(database)
  before = snapshot(database)
  const read = (key: string, args: ReadonlyArray<string>) => async () => {
    results[key] = await curator(args, { env: sandbox.env })
  }
  await limited(3, [
    read("statusJson", ["status", database, "--json"]),
    read("status", ["status", database]),
    read("logsOfLabel", ["logs", database, "--worker", "ForkServerProcess-2", "--json"]),
    read("logsOfPrefix", ["logs", database, "--worker", "Fork"]),
    read("logsOfNobody", ["logs", database, "--worker", "Nobody"]),
    read("metricsJson", ["metrics", database, "--json"]),
    read("metricsCsv", ["metrics", database, "--csv"]),
    read("workers", ["workers", database])
  ])
}, 300_000)

afterAll(() => sandbox?.remove())

const { ok, result } = resultsOf(results)

describe("curator on a database the Python reference wrote", () => {
  it("status --json: whole-run figures from first start to last record; no misleading latest invocation", () => {
    const status = JSON.parse(ok("statusJson"))
    const completed = referenceRun.indices - referenceRun.failed.length
    expect(status).toMatchObject({ total: 30, completed, failed: 2 })
    expect(status.run).toMatchObject({
      span_s: referenceRun.spanS,
      processes: referenceRun.processes,
      worker_rows: referenceRun.indices,
      invocations: referenceRun.indices
    })
    expect(status.run.rate_per_s).toBeCloseTo(completed / referenceRun.spanS, 6)
    expect(status.latest_invocation).toBeNull()
  })

  it("status: the text names the whole run's span, rate and processes", () => {
    const text = ok("status")
    expect(text).toMatch(/whole run\s+3\.7 s from first start to last record, 7\.57\/s, 30 invocations, 3 processes \(30 worker rows\)/)
    expect(text).toMatch(/latest invocation\s+- \(workers were registered once per index/)
    // No figure of one index (370 ms) passes for the run's elapsed time.
    expect(text).not.toMatch(/^elapsed/m)
    expect(text).toMatch(/avg time\s+370 ms per completed index/)
  })

  it("logs --worker takes a process label recorded only in the logs; a prefix of several, or of none, is exit 2", () => {
    const rows = JSON.parse(ok("logsOfLabel"))
    expect(rows).toHaveLength(10)
    expect(rows.every((row: { worker_id: string }) => row.worker_id === "ForkServerProcess-2")).toBe(true)
    for (const key of ["logsOfPrefix", "logsOfNobody"]) {
      expect(result(key).code, show(result(key))).toBe(2)
      expect(result(key).stderr.trim().split("\n")).toHaveLength(1)
    }
    expect(result("logsOfPrefix").stderr).toContain("give more of the label")
    expect(result("logsOfNobody").stderr).toContain(`"Nobody"`)
  })

  it("metrics --json and --csv alone write every index to stdout", () => {
    const rows = JSON.parse(ok("metricsJson"))
    expect(rows.map((row: { index: number }) => row.index)).toEqual(Array.from({ length: 30 }, (_, i) => i))
    expect(rows[7]).toMatchObject({ status: "error", error: "ValueError: mesh 7 is empty", stages: [] })
    const lines = ok("metricsCsv").trimEnd().split("\n")
    expect(lines[0]).toBe(
      "idx,status,wall_time_ns,peak_memory_bytes,gpu_memory_bytes,worker_id,completed_at,error,stage_0_source_ns,stage_1_sink_ns"
    )
    expect(lines).toHaveLength(31)
    expect(lines[8]).toMatch(/^7,error,370000000,0,,/)
  })

  it("workers lists the invocations, however many", () => {
    expect(ok("workers")).toContain("(the latest 20 of 30 invocations)")
  })

  it("reading left the database byte-for-byte unchanged", () => {
    expect(snapshot(database)).toEqual(before)
  })
})

/**
 * Metrics reports: CSV (one line per index, one column per stage, fields
 * quoted when they need it), an aligned terminal table, and JSON — from
 * fixed metrics and from the metrics of a real run.
 */
import { type CheckpointStore, Filter, Metrics, Pipeline, Sink, Source } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Boom, Live, readCheckpoint } from "./helpers.js"

const metrics: ReadonlyArray<CheckpointStore.IndexMetrics> = [
  {
    index: 0,
    status: "completed",
    completedAt: "2026-01-01T00:00:01.000000+00:00",
    wallTimeNs: 3_500_000,
    peakMemoryBytes: 2 * 2 ** 20,
    gpuMemoryBytes: null,
    workerId: "0123456789abcdef0123456789abcdef",
    error: null,
    stages: [
      { order: 0, name: "Read", wallTimeNs: 1_000_000 },
      { order: 1, name: "Parse", wallTimeNs: 2_000_000 },
      { order: 2, name: "Write", wallTimeNs: 500_000 }
    ]
  },
  {
    index: 1,
    status: "error",
    completedAt: "2026-01-01T00:00:02.000000+00:00",
    wallTimeNs: 1_250_000,
    peakMemoryBytes: null,
    gpuMemoryBytes: null,
    workerId: "fedcba9876543210fedcba9876543210",
    error: "Boom: bad \"row\", at line 3",
    stages: []
  }
]

/** Splits one CSV line into fields, honouring quotes and doubled quotes. */
const csvFields = (line: string): ReadonlyArray<string> => {
  const fields: Array<string> = []
  let field = ""
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!
    if (quoted) {
      if (char === "\"" && line[i + 1] === "\"") {
        field += "\""
        i++
      } else if (char === "\"") quoted = false
      else field += char
    } else if (char === "\"") quoted = true
    else if (char === ",") {
      fields.push(field)
      field = ""
    } else field += char
  }
  fields.push(field)
  return fields
}

describe("Metrics", () => {
  it("toCsv writes a header with one column per stage, then one line per index", () => {
    expect(Metrics.toCsv(metrics)).toBe(
      [
        "idx,status,wall_time_ns,peak_memory_bytes,gpu_memory_bytes,worker_id,completed_at,error,stage_0_Read_ns,stage_1_Parse_ns,stage_2_Write_ns",
        "0,completed,3500000,2097152,,0123456789abcdef0123456789abcdef,2026-01-01T00:00:01.000000+00:00,,1000000,2000000,500000",
        "1,error,1250000,,,fedcba9876543210fedcba9876543210,2026-01-01T00:00:02.000000+00:00,\"Boom: bad \"\"row\"\", at line 3\",,,",
        ""
      ].join("\n")
    )
    const [, , failed] = Metrics.toCsv(metrics).split("\n")
    expect(csvFields(failed!)[7]).toBe("Boom: bad \"row\", at line 3")
    expect(Metrics.toCsv([])).toBe(
      "idx,status,wall_time_ns,peak_memory_bytes,gpu_memory_bytes,worker_id,completed_at,error\n"
    )
  })

  it("toTable aligns a header, a rule and one row per index, in milliseconds and MiB", () => {
    const lines = Metrics.toTable(metrics).split("\n")
    expect(lines).toEqual([
      "idx  status     wall ms  peak MiB  worker    Read ms  Parse ms  Write ms",
      "---  ---------  -------  --------  --------  -------  --------  --------",
      "0    completed     3.50       2.0  01234567     1.00      2.00      0.50",
      "1    error         1.25            fedcba98",
      ""
    ])
  })

  it("toJson writes the metrics as an indented JSON array", () => {
    const json = Metrics.toJson(metrics)
    expect(JSON.parse(json)).toEqual(metrics)
    expect(json.startsWith("[\n  {\n    \"index\": 0,")).toBe(true)
  })

  it.live("reports the metrics of a real run: a line per index, stage columns, a quoted error", () =>
    Effect.gen(function*() {
      const pipeline = Pipeline.from(Source.fromArray("Items", [1, 2])).pipe(
        Pipeline.filter(Filter.mapEffect({
          name: "Check",
          f: (n: number) => n === 2 ? Effect.fail(new Boom({ message: "two, again" })) : Effect.succeed(n)
        })),
        Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/drop/${i}`] }), { resume: true })
      )
      yield* Pipeline.run(pipeline)
      const recorded = yield* readCheckpoint(pipeline, (c) => c.metrics)
      const [header, first, second, end, ...rest] = Metrics.toCsv(recorded).split("\n")
      expect(rest).toEqual([])
      expect(end).toBe("")
      expect(csvFields(header!).slice(8)).toEqual(["stage_0_source_ns", "stage_1_Check_ns", "stage_2_sink_ns"])
      expect(csvFields(first!).slice(0, 2)).toEqual(["0", "completed"])
      expect(csvFields(first!)).toHaveLength(11)
      expect(csvFields(second!).slice(0, 2)).toEqual(["1", "error"])
      expect(csvFields(second!)[7]).toBe("Boom: two, again")
      expect(second).toContain("\"Boom: two, again\"")
      expect(csvFields(second!)).toHaveLength(11)

      const table = Metrics.toTable(recorded).split("\n")
      expect(table).toHaveLength(5)
      expect(table[0]!.split(/\s{2,}/)).toEqual(["idx", "status", "wall ms", "peak MiB", "worker", "source ms", "Check ms", "sink ms"])
      // Aligned: the header, the rule and the completed row (no empty cell at its end) have the same width.
      expect(new Set(table.slice(0, 3).map((line) => line.length)).size).toBe(1)
      expect(JSON.parse(Metrics.toJson(recorded))).toEqual(recorded)
    }).pipe(Effect.provide(Live)))
})

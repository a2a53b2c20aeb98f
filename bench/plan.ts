/**
 * `npm run bench plan [n]`: `Pipeline.plan` over a checkpoint of n indices
 * (default 10⁶; every 250th failed, the rest completed with an input
 * fingerprint each), read from a SQLite file. Reports the plan's own time
 * (reading the checkpoint and deciding: the ≤ 3 s goal at 10⁶), the
 * fingerprint checks apart (one cheap fingerprint per completed index, 32
 * at a time), and the physical floor: the same completed rows scanned by
 * raw better-sqlite3, no objects kept.
 */
import { Effect, Logger } from "effect"
import Database from "better-sqlite3"
import { Pipeline, Plan, Source, Filter, Sink } from "@curator/core"
import { SqliteCheckpointStore } from "@curator/node"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { bulkPipeline, makeBulkDatabase } from "../packages/node/test/fixtures/bulkDatabase.js"
import type { Measurement } from "./measurement.js"

const round = (value: number, digits = 1) => Number(value.toFixed(digits))

/** The bulk pipeline (same configuration, so the same database) whose source has a fingerprint per index. */
const fingerprinted = (n: number, dbDir: string) =>
  Pipeline.from(Source.make({
    name: "Numbers",
    params: { n },
    length: n,
    items: (i) => Effect.succeed([i]),
    fingerprint: (i) => Effect.succeed(`n${i}`)
  })).pipe(
    Pipeline.filter(Filter.map({ name: "Square", f: (x: number) => x * x })),
    Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/bulk/out/${i}.json`] }), { resume: true, dbDir })
  )

export const plan = async (n: number): Promise<Measurement> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "curator-bench-plan-"))
  try {
    const started = performance.now()
    const database = await Effect.runPromise(makeBulkDatabase({ n, written: Math.min(n, 1000), dbDir: dir, logsPerIndex: 0 }))
    // Every completed index gets the fingerprint its source gives now (so none is stale), in bulk.
    const db = new Database(database)
    db.exec(`INSERT OR REPLACE INTO curator_index_inputs (run_id, idx, fingerprint)
      SELECT run_id, idx, 'n' || idx FROM index_results WHERE status = 'completed'`)
    db.close()
    const buildS = (performance.now() - started) / 1000

    // Twice without fingerprints (the plan alone), once with (the checks timed apart).
    const planned = (pipeline: Pipeline.Pipeline<never, never>) =>
      Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const checkpoint = yield* SqliteCheckpointStore.openFile(database)
        return yield* Plan.make(pipeline, checkpoint)
      })).pipe(Effect.provide(Logger.remove(Logger.defaultLogger))))
    const plain = [await planned(bulkPipeline(n, dir)), await planned(bulkPipeline(n, dir))]
    const checked = await planned(fingerprinted(n, dir))
    for (const made of [...plain, checked]) {
      if (made.counts.stale !== 0 || made.counts.run !== 0 || made.counts.skip + made.counts.retry !== n) {
        throw new Error(`unexpected plan: ${Plan.describeCounts(made.counts)}`)
      }
    }

    // The floor: the completed rows the plan reads, scanned by raw better-sqlite3.
    const raw = new Database(database, { readonly: true })
    const floors: Array<number> = []
    for (let k = 0; k < 3; k++) {
      const start = performance.now()
      let count = 0
      for (
        const _ of raw.prepare("SELECT idx, output_paths, completed_at, worker_id FROM index_results WHERE status = 'completed' ORDER BY idx")
          .iterate()
      ) count++
      floors.push(performance.now() - start)
    }
    raw.close()
    const best = Math.min(plain[0]!.planMs, plain[1]!.planMs)
    return {
      workload: "plan",
      n,
      backend: "sqlite",
      seconds: round(best / 1000, 3),
      indices_per_s: Math.round(n / (best / 1000)),
      counts: Plan.describeCounts(checked.counts),
      build_s: round(buildS),
      plan_ms: plain.map((made) => round(made.planMs)).join(" "),
      with_fingerprints_plan_ms: round(checked.planMs),
      fingerprint_checks: checked.checks.count,
      fingerprint_checks_ms: round(checked.checks.wallMs),
      baseline_raw_scan_ms: floors.map((ms) => round(ms)).join(" ")
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

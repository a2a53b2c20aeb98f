/**
 * `bench files`: one small JSON file per index through Curator's JSON sink,
 * beside a plain Node loop doing the same file operations. Runs compiled,
 * in a process of its own (bench/filesRun.ts).
 */
import { Filter, Pipeline, Source } from "@curator/core"
import { FileSink } from "@curator/node"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Measurement } from "./measurement.js"
import { concurrency, round, runOn, temporaryDirectory, timed } from "./overheadPipeline.js"

/**
 * The sink writes one small JSON file per index. Baseline: a plain Node
 * loop doing what the sink does for each index (the same JSON text to a
 * temporary name, then renamed; no fsync, as the sink), with the same
 * number of writes in flight; the two are run alternately, twice each, in
 * this process, and the faster of each pair of runs is kept.
 */
export const files = async (n: number): Promise<Measurement> => {
  const dbDir = temporaryDirectory("files")
  const label = (r: { id: number; value: number }) => ({ ...r, label: `r${r.id}` })
  const curator = async (round: number, verify?: "size" | "content") => {
    const outDir = path.join(dbDir, `out-${round}${verify === undefined ? "" : `-${verify}`}`)
    const pipeline = Pipeline.from(
      Source.make({ name: "Records", params: { n, round }, length: n, items: (i) => Effect.succeed([{ id: i, value: i * 0.5 }]) })
    ).pipe(
      Pipeline.filter(Filter.map({ name: "Label", f: label })),
      Pipeline.write(FileSink.json({ dir: outDir })),
      Pipeline.withOptions({ dbDir, ...(verify === undefined ? {} : { verifyOutputs: verify }) })
    )
    const cpuBefore = process.cpuUsage()
    const seconds = await timed(runOn(pipeline))
    const cpu = process.cpuUsage(cpuBefore)
    const written = fs.readdirSync(outDir).length
    if (written !== n) throw new Error(`the sink wrote ${written} files, expected ${n}`)
    // The process's CPU time too: on a shared machine it moves less than the wall time.
    cpuSeconds[verify ?? "none"].push((cpu.user + cpu.system) / 1e6)
    return seconds
  }
  const cpuSeconds = { none: [] as Array<number>, size: [] as Array<number>, content: [] as Array<number> }
  const plain = async (round: number) => {
    const outDir = path.join(dbDir, `plain-${round}`)
    fs.mkdirSync(outDir, { recursive: true })
    const started = performance.now()
    let next = 0
    const lane = async () => {
      while (next < n) {
        const i = next++
        const file = path.join(outDir, `${String(i).padStart(6, "0")}.json`)
        const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
        await fs.promises.writeFile(temporary, JSON.stringify([label({ id: i, value: i * 0.5 })], null, 2) + "\n")
        await fs.promises.rename(temporary, file)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, lane))
    return (performance.now() - started) / 1000
  }
  // Alternated: Curator, the plain loop, and Curator recording each output's size (`verifyOutputs: "size"`)
  // and its size and xxh64 (`"content"`, which the sink measures from the bytes it writes).
  const curatorRuns: Array<number> = []
  const plainRuns: Array<number> = []
  const sizedRuns: Array<number> = []
  const verifiedRuns: Array<number> = []
  for (let round = 0; round < 2; round++) {
    curatorRuns.push(await curator(round))
    plainRuns.push(await plain(round))
    sizedRuns.push(await curator(round, "size"))
    verifiedRuns.push(await curator(round, "content"))
  }
  fs.rmSync(dbDir, { recursive: true, force: true })
  const seconds = Math.min(...curatorRuns)
  const baseline = Math.min(...plainRuns)
  return {
    workload: "files",
    n,
    backend: "fibers",
    concurrency,
    seconds: round(seconds),
    indices_per_s: Math.round(n / seconds),
    goal_ratio: 0.95,
    baseline: "a plain Node loop: the same JSON, temporary file then rename, same writes in flight",
    baseline_indices_per_s: Math.round(n / baseline),
    ratio: round(baseline / seconds),
    runs_s: curatorRuns.map((s) => round(s)).join(" "),
    baseline_runs_s: plainRuns.map((s) => round(s)).join(" "),
    with_size_runs_s: sizedRuns.map((s) => round(s)).join(" "),
    size_ratio: round(Math.min(...sizedRuns) / seconds, 3),
    with_size_hash_runs_s: verifiedRuns.map((s) => round(s)).join(" "),
    size_hash_goal_ratio: 1.1,
    size_hash_ratio: round(Math.min(...verifiedRuns) / seconds, 3),
    cpu_s: cpuSeconds.none.map((s) => round(s)).join(" "),
    with_size_cpu_s: cpuSeconds.size.map((s) => round(s)).join(" "),
    with_size_hash_cpu_s: cpuSeconds.content.map((s) => round(s)).join(" "),
    size_hash_cpu_ratio: round(Math.min(...cpuSeconds.content) / Math.min(...cpuSeconds.none), 3)
  }
}

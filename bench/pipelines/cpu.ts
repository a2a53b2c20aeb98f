/**
 * A CPU-bound pipeline for the `cpu` benchmark: each index burns about 25 ms
 * of CPU in a filter. A module, so the worker-thread backend can load it.
 */
import { Filter, Pipeline, Sink, Source } from "@curator/core"
import { Effect } from "effect"

/** Spins for about `ms` milliseconds of CPU and returns something derived from the work. */
const burn = (seed: number, ms: number): number => {
  const until = performance.now() + ms
  let x = seed
  while (performance.now() < until) {
    for (let i = 0; i < 10_000; i++) x = (x * 1_103_515_245 + 12_345) % 2_147_483_648
  }
  return x
}

const n = Number(process.env.CURATOR_BENCH_CPU_N ?? 40)

export const pipeline = Pipeline.from(
  Source.make({ name: "Seeds", params: { n }, length: n, items: (i) => Effect.succeed([i]) })
).pipe(
  Pipeline.filter(Filter.map({ name: "Burn", params: { ms: 25 }, f: (seed: number) => burn(seed, 25) })),
  Pipeline.write(Sink.drain<number>({ name: "NoWrite", pathOf: (i) => [`/dev/null/${i}`] }))
)

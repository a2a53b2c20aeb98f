/**
 * The `overhead` pipeline as a module, so the worker-thread backend can load
 * it: N indices of one item, a pass-through filter, a sink that writes
 * nothing.
 */
import { Filter, Pipeline, Sink, Source } from "@curator/core"
import { Effect } from "effect"

const n = Number(process.env.CURATOR_BENCH_OVERHEAD_N ?? 10_000)

export const pipeline = Pipeline.from(
  Source.make({ name: "Numbers", params: { n }, length: n, items: (i) => Effect.succeed([i]) })
).pipe(
  Pipeline.filter(Filter.map({ name: "PassThrough", f: (x: number) => x })),
  Pipeline.write(Sink.drain<number>({ name: "NoWrite", pathOf: (i) => [`/dev/null/${i}`] }))
)

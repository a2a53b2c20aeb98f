/**
 * The per-index fast paths keep each stage's context: on the items path
 * (context switched per stage) every stage sees its own `CurrentStage` and
 * the index, and the caller's context is back once the index ends, whether
 * it succeeded or failed; on the stream path a plain filter run inline is
 * still timed as its own stage.
 */
import { Filter, Pipeline, Sink, Source } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { CurrentIndex, CurrentStage } from "../src/internal/context.js"
import { makeComputeIndex } from "../src/internal/computeIndex.js"
import { Boom } from "./helpers.js"

/** What a stage sees of the context: its stage's name and the index. */
const seen = (into: Array<string>) =>
  Effect.map(
    Effect.all([Effect.serviceOption(CurrentStage), Effect.serviceOption(CurrentIndex)]),
    ([stage, current]) => void into.push(`${Option.getOrElse(Option.map(stage, (s) => s.name), () => "-")}@${Option.getOrElse(Option.map(current, (c) => c.index), () => "-")}`)
  )

const itemsPipeline = (into: Array<string>) =>
  Pipeline.from(Source.make({ name: "Src", length: 3, items: (i) => Effect.as(seen(into), [i]) })).pipe(
    Pipeline.filter(Filter.map({ name: "Plain", f: (n: number) => n + 1 })),
    Pipeline.filter(Filter.mapEffect({
      name: "Eff",
      f: (n: number) => Effect.zipRight(seen(into), n === 3 ? Effect.fail(new Boom({ message: "three" })) : Effect.succeed(n))
    })),
    Pipeline.write(Sink.fromItems({ name: "Out", write: (_: ReadonlyArray<number>, i) => Effect.as(seen(into), [`/out/${i}`]) })),
    Pipeline.withOptions({ trackMetrics: false, trackMemory: false })
  )

describe("stage context on the fast paths", () => {
  it.effect("items path: each stage sees itself and the index; the caller's context is back after a success and a failure", () =>
    Effect.gen(function*() {
      const into: Array<string> = []
      const compute = makeComputeIndex(itemsPipeline(into), { tracing: false, memory: undefined })
      const first = yield* compute(0, "w")
      expect(first._tag).toBe("Success")
      yield* seen(into)
      const second = yield* compute(2, "w")
      expect(second._tag).toBe("Failure")
      yield* seen(into)
      expect(into).toEqual(["Src@0", "Eff@0", "Out@0", "-@-", "Src@2", "Eff@2", "-@-"])
    }))

  it.live("stream path: a plain filter run inline is timed as its own stage, the source's time is its own", () =>
    Effect.gen(function*() {
      const busy = (ms: number) => {
        const until = performance.now() + ms
        while (performance.now() < until) { /* the filter's own work */ }
      }
      const pipeline = Pipeline.from(
        Source.make({ name: "Slow", length: 1, read: () => Stream.fromEffect(Effect.as(Effect.sleep(30), 1)) })
      ).pipe(
        Pipeline.filter(Filter.map({ name: "Busy", f: (n: number) => (busy(20), n) })),
        Pipeline.write(Sink.make({ name: "Drain", write: (items: Stream.Stream<number>) => Effect.as(Stream.runDrain(items), ["/x"]) })),
        Pipeline.withOptions({ trackMetrics: false, trackMemory: false })
      )
      const computed = yield* makeComputeIndex(pipeline, { tracing: false, memory: undefined })(0, "w")
      if (computed._tag !== "Success") throw new Error(computed.message)
      const [source, filter, sink] = computed.stages.map((s) => s.wallTimeNs / 1e6)
      // Lower bounds only: each stage holds at least its own work, none holds the other's.
      expect(source).toBeGreaterThanOrEqual(25)
      expect(filter).toBeGreaterThanOrEqual(20)
      expect(sink).toBeGreaterThanOrEqual(0)
      expect(source! + filter! + sink!).toBeLessThanOrEqual(computed.wallTimeNs / 1e6 + 0.001)
    }))
})

/**
 * The per-index fast paths keep each stage's context: on the items path
 * (context switched per stage) every stage sees its own `CurrentStage` and
 * the index, and the caller's context is back once the index ends, whether
 * it succeeded or failed; on the stream path a plain filter run inline is
 * still timed as its own stage. A failure names the stage it happened in,
 * on both paths, traced or not.
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

  /**
   * Index 0 fails in the source, 1 in the plain filter (a throw), 2 in the
   * effectful or stream filter, 3 in the sink after its input ended; 4
   * succeeds. Stage orders: source 0, Plain 1, Check 2, Out 3.
   */
  const failAt = (index: number, where: number) => {
    if (index === where) throw new Boom({ message: `index ${index}` })
  }
  const failing = (path: "items" | "streams") => {
    const source = path === "items"
      ? Source.make({ name: "Src", length: 5, items: (i) => Effect.suspend(() => (failAt(i, 0), Effect.succeed([i]))) })
      : Source.make({ name: "Src", length: 5, read: (i) => Stream.suspend(() => (failAt(i, 0), Stream.make(i))) })
    const check = path === "items"
      ? Filter.mapEffect({ name: "Check", f: (n: number) => (n === 2 ? Effect.fail(new Boom({ message: "two" })) : Effect.succeed(n)) })
      : Filter.make({
        name: "Check",
        apply: (items: Stream.Stream<number>) =>
          Stream.mapEffect(items, (n) => (n === 2 ? Effect.fail(new Boom({ message: "two" })) : Effect.succeed(n)))
      })
    const sink = path === "items"
      ? Sink.fromItems({ name: "Out", write: (_: ReadonlyArray<number>, i) => Effect.suspend(() => (failAt(i, 3), Effect.succeed([`/out/${i}`]))) })
      : Sink.make({
        name: "Out",
        write: (items: Stream.Stream<number>, i) => Effect.zipRight(Stream.runDrain(items), Effect.suspend(() => (failAt(i, 3), Effect.succeed([`/out/${i}`]))))
      })
    return Pipeline.from(source).pipe(
      Pipeline.filter(Filter.map({ name: "Plain", f: (n: number) => (failAt(n, 1), n) })),
      Pipeline.filter(check),
      Pipeline.write(sink),
      Pipeline.withOptions({ trackMetrics: false, trackMemory: false })
    )
  }

  for (const path of ["items", "streams"] as const) {
    for (const tracing of [false, true]) {
      it.effect(`${path} path${tracing ? ", traced" : ""}: a failure carries the order of the stage it failed in`, () =>
        Effect.gen(function*() {
          const compute = makeComputeIndex(failing(path), { tracing, memory: undefined })
          const outcomes = yield* Effect.forEach([0, 1, 2, 3, 4], (i) => compute(i, "w"))
          expect(outcomes.map((o) => (o._tag === "Failure" ? o.stage : "ok"))).toEqual([0, 1, 2, 3, "ok"])
        }))
    }
  }
})

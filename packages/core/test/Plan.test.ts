/**
 * `Pipeline.plan`: the decision and reason of each requested index against
 * the checkpoint a resumed run would use, in the requested order, running
 * no stage and recording nothing.
 */
import { Pipeline, Plan, Sink, Source } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Schedule } from "effect"
import { Live, makeProbe } from "./helpers.js"

/** A service the source's fingerprint reads: the version of each input, as a catalogue would give it. */
class Catalogue extends Context.Tag("test/Catalogue")<Catalogue, { readonly versionOf: (index: number) => number }>() {}

describe("Plan", () => {
  it.effect("skip (when and by whom), retry (the error), run (never recorded), in the requested order; no stage runs", () =>
    Effect.gen(function*() {
      const probe = makeProbe({ length: 6, failing: [2], resume: true })
      yield* Pipeline.run(probe.pipeline, { indices: [0, 1, 2] })
      const before = { ...probe.counts }
      const plan = yield* Pipeline.plan(probe.pipeline, { indices: [5, 2, -6, 1] })
      expect(probe.counts).toEqual(before)
      expect(plan.counts).toEqual({ skip: 2, run: 1, retry: 1, stale: 0 })
      expect(plan.decisions.map((d) => [d.index, Plan.actionOf(d)])).toEqual([[5, "run"], [2, "retry"], [0, "skip"], [1, "skip"]])
      expect(Plan.reasonOf(plan.decisions[1]!)).toMatch(/^failed at \S+ after 1 attempt \(transient\): Boom: index 2 is bad$/)
      expect(Plan.reasonOf(plan.decisions[2]!)).toMatch(/^completed at \S+ by worker [0-9a-f]{32}$/)
      expect(Plan.reasonOf(plan.decisions[0]!)).toBe("never recorded")
      expect(Plan.toJson(plan.decisions[1]!)).toMatchObject({ index: 2, action: "retry", error: "Boom: index 2 is bad", attempts: 1 })
      // A plan records nothing: the next run still computes what it said.
      const result = yield* Pipeline.run(probe.pipeline)
      expect(result.outcomes.filter((o) => o._tag === "Completed" && !o.cached).map((o) => o.index)).toEqual([3, 4, 5])
    }).pipe(Effect.provide(Live)))

  it.effect("retry says how many attempts the failure took, as the failure policy recorded them", () =>
    Effect.gen(function*() {
      let tries = 0
      const pipeline = Pipeline.from(Source.make({
        name: "Flaky",
        length: 2,
        items: (index) => index === 1 ? Effect.sync(() => tries++).pipe(Effect.zipRight(Effect.fail(new Error("flaky")))) : Effect.succeed([index])
      })).pipe(
        Pipeline.write(Sink.drain({ name: "Note", pathOf: (index) => [`/out/${index}`] })),
        Pipeline.withFailurePolicy({ retry: Schedule.recurs(2), quarantineAfter: 0 }),
        Pipeline.withOptions({ resume: true })
      )
      yield* Pipeline.run(pipeline)
      expect(tries).toBe(3)
      const plan = yield* Pipeline.plan(pipeline)
      const retry = plan.decisions[1]!
      expect(retry).toMatchObject({ _tag: "Retry", attempts: 3, failureClass: "transient" })
      expect(Plan.reasonOf(retry)).toMatch(/^failed at \S+ after 3 attempts \(transient\): Error: flaky$/)
      expect(Plan.toJson(retry)).toMatchObject({ action: "retry", attempts: 3, failureClass: "transient" })
    }).pipe(Effect.provide(Live)))

  it.effect("a fingerprint that needs the pipeline's services: a changed input is stale in the plan and computed again by the run", () =>
    Effect.gen(function*() {
      const versions = [1, 1, 1, 1]
      let computed: Array<number> = []
      const pipeline = Pipeline.from(Source.make({
        name: "Catalogued",
        length: 4,
        items: (index) => Effect.sync(() => [index]),
        fingerprint: (index) => Effect.map(Catalogue, (catalogue) => `item ${index} v${catalogue.versionOf(index)}`)
      })).pipe(
        Pipeline.write(Sink.drain({ name: "Note", pathOf: (index) => (computed.push(index), [`/out/${index}`]) })),
        Pipeline.provide(Layer.succeed(Catalogue, { versionOf: (index) => versions[index]! })),
        Pipeline.withOptions({ resume: true })
      )
      yield* Pipeline.run(pipeline)
      expect(computed).toEqual([0, 1, 2, 3])
      versions[2] = 2
      const plan = yield* Pipeline.plan(pipeline)
      expect(plan.decisions.filter((d) => d._tag !== "Skip").map((d) => [d.index, Plan.reasonOf(d)])).toEqual([
        [2, "its input changed (fingerprint item 2 v1 → item 2 v2)"]
      ])
      computed = []
      const result = yield* Pipeline.run(pipeline)
      expect(computed).toEqual([2])
      expect(result.redone).toEqual([2])
    }).pipe(Effect.provide(Live)))

  it.effect("bad indices are refused as a run refuses them", () =>
    Effect.gen(function*() {
      const probe = makeProbe({ length: 3, resume: true })
      const error = yield* Effect.flip(Pipeline.plan(probe.pipeline, { indices: [3] }))
      expect(error._tag).toBe("InvalidRunOptions")
    }).pipe(Effect.provide(Live)))
})

/**
 * `Pipeline.plan`: the decision and reason of each requested index against
 * the checkpoint a resumed run would use, in the requested order, running
 * no stage and recording nothing.
 */
import { Pipeline, Plan } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Live, makeProbe } from "./helpers.js"

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
      expect(Plan.reasonOf(plan.decisions[1]!)).toMatch(/^failed at \S+: Boom: index 2 is bad$/)
      expect(Plan.reasonOf(plan.decisions[2]!)).toMatch(/^completed at \S+ by worker [0-9a-f]{32}$/)
      expect(Plan.reasonOf(plan.decisions[0]!)).toBe("never recorded")
      expect(Plan.toJson(plan.decisions[1]!)).toMatchObject({ index: 2, action: "retry", error: "Boom: index 2 is bad" })
      // A plan records nothing: the next run still computes what it said.
      const result = yield* Pipeline.run(probe.pipeline)
      expect(result.outcomes.filter((o) => o._tag === "Completed" && !o.cached).map((o) => o.index)).toEqual([3, 4, 5])
    }).pipe(Effect.provide(Live)))

  it.effect("bad indices are refused as a run refuses them", () =>
    Effect.gen(function*() {
      const probe = makeProbe({ length: 3, resume: true })
      const error = yield* Effect.flip(Pipeline.plan(probe.pipeline, { indices: [3] }))
      expect(error._tag).toBe("InvalidRunOptions")
    }).pipe(Effect.provide(Live)))
})

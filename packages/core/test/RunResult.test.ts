/**
 * Run results: outcomes in the requested order, and the helpers that
 * summarise them (paths per index, counts of computed, cached and failed).
 */
import { Pipeline, RunResult } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect } from "effect"
import { Live, makeProbe } from "./helpers.js"

describe("RunResult", () => {
  it("paths and counts summarise outcomes; isCompleted and isFailed tell them apart", () => {
    const outcomes: ReadonlyArray<RunResult.Outcome<string>> = [
      RunResult.completed(4, ["/a"], false),
      RunResult.failed(1, "Boom: no", Cause.fail("no")),
      RunResult.completed(0, ["/b", "/c"], true),
      RunResult.completed(2, [], false)
    ]
    const result: RunResult.RunResult<string> = { outcomes, location: undefined, configHash: "h", redone: [] }
    expect(RunResult.paths(result)).toEqual([["/a"], undefined, ["/b", "/c"], []])
    expect(RunResult.counts(result)).toEqual({ computed: 2, cached: 1, failed: 1 })
    expect(outcomes.map(RunResult.isCompleted)).toEqual([true, false, true, true])
    expect(outcomes.map(RunResult.isFailed)).toEqual([false, true, false, false])
  })

  it.effect("a run's result names its configuration and database, with cached outcomes on resume", () =>
    Effect.gen(function*() {
      const probe = makeProbe({ length: 4, failing: [3] })
      const first = yield* Pipeline.run(probe.pipeline, { indices: [3, 1] })
      expect(first.configHash).toBe(probe.pipeline.configHash)
      expect(first.location).toBe(`memory:/${probe.pipeline.configHash.slice(0, 16)}.db`)
      expect(RunResult.counts(first)).toEqual({ computed: 1, cached: 0, failed: 1 })
      const second = yield* Pipeline.run(probe.pipeline)
      expect(RunResult.counts(second)).toEqual({ computed: 2, cached: 1, failed: 1 })
      expect(RunResult.paths(second)).toEqual([probe.pathsOf(0), probe.pathsOf(1), probe.pathsOf(2), undefined])
    }).pipe(Effect.provide(Live)))

  it("IndexFailed carries the index, the message and the cause", () => {
    const error = new RunResult.IndexFailed({ index: 7, message: "Boom: x", cause: Cause.fail("x") })
    expect(error).toMatchObject({ _tag: "IndexFailed", index: 7, message: "Boom: x" })
    expect(error).toBeInstanceOf(Error)
  })
})

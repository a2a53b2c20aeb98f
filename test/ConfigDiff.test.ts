/**
 * Configuration diffs instead of silent fresh starts: settings of a run
 * (backend, concurrency, log level, progress, verification) never enter the
 * configuration hash, so changing them resumes the same database; a changed
 * parameter does, and a resumed run that starts afresh beside a database of
 * the same pipeline warns, naming it, its completed count and the
 * parameters that differ.
 */
import { Backend, Filter, Pipeline, Sink, Source } from "@curator/core"
import { ConfigDiff, SqliteCheckpointStore } from "@curator/node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const make = (n: number, threshold: number, dbDir: string) =>
  Pipeline.from(Source.make({ name: "Numbers", params: { n }, length: n, items: (i) => Effect.succeed([i]) })).pipe(
    Pipeline.filter(Filter.keep({ name: "AtLeast", params: { threshold }, predicate: (x: number) => x >= threshold })),
    Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/nowhere/${i}`] })),
    Pipeline.withOptions({ resume: true, dbDir })
  )

const withDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "curator-diff-"))),
    body,
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

describe("configuration diffs", () => {
  it.live("backend, concurrency, log level, progress and verification never enter the hash: the same database resumes", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const pipeline = make(6, 2, dir)
        const first = yield* Pipeline.run(pipeline, { concurrency: 1, logLevel: "Debug" }).pipe(Effect.provide(Backend.layerSequential))
        const events: Array<string> = []
        expect(Pipeline.withOptions(pipeline, { verifyOutputs: "content" }).configHash).toBe(pipeline.configHash)
        const again = Pipeline.withOptions(pipeline, { trackMemory: false })
        expect(again.configHash).toBe(pipeline.configHash)
        const second = yield* Pipeline.run(again, { concurrency: 3, logLevel: "Warning", onProgress: (e) => events.push(e._tag) }).pipe(
          Effect.provide(Backend.layerFibers)
        )
        expect(second.location).toBe(first.location)
        expect(second.outcomes.every((o) => o._tag === "Completed" && o.cached)).toBe(true)
        expect(events[0]).toBe("RunStarted")
        expect(make(6, 3, dir).configHash).not.toBe(pipeline.configHash)
      }).pipe(Effect.provide(Layer.merge(SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger))))
    ))

  it.live("a resumed run starting afresh beside a database of the same pipeline names it, its progress and what differs", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void lines.push(String(message))))
        const run = (pipeline: Pipeline.Pipeline) =>
          Pipeline.run(pipeline).pipe(Effect.provide(Layer.mergeAll(Backend.layerFibers, SqliteCheckpointStore.layer(), capture)))
        const original = yield* run(make(6, 2, dir))
        yield* run(make(4, 9, dir)) // another shape of parameters, farther away
        lines.length = 0
        yield* run(make(6, 3, dir))
        const warning = lines.find((line) => line.startsWith("no database of this configuration"))
        expect(warning, lines.join("\n")).toBeDefined()
        expect(warning).toContain(`The nearest, ${original.location}, holds the same source, filters and sink with 6 indices completed`)
        expect(warning).toContain("filters[0].params.threshold: 2 → 3")
        expect(warning).not.toContain("source.params.n")
        // Resuming where it is: no warning.
        lines.length = 0
        yield* run(make(6, 3, dir))
        expect(lines.filter((line) => line.startsWith("no database"))).toEqual([])
      })
    ))

  it("diff lists changed, added and removed parameters by path", () => {
    const a = JSON.stringify({ source: { name: "S", params: { n: 1, x: [1, 2] } }, filters: [{ name: "F", params: { t: 1 } }] })
    const b = JSON.stringify({ source: { name: "S", params: { n: 2, x: [1] } }, filters: [{ name: "F", params: { t: 1, u: true } }] })
    expect(ConfigDiff.diff(a, b).map(ConfigDiff.formatChange)).toEqual([
      "source.params.n: 1 → 2",
      "source.params.x[1]: 2 → (absent)",
      "filters[0].params.u: (absent) → true"
    ])
    expect(ConfigDiff.diff(a, a)).toEqual([])
  })
})

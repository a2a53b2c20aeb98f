/**
 * A hand-written `CheckpointStore` injected as a layer: the pipeline opens
 * it, asks it what is done, skips what it reports completed (returning the
 * paths it reports), and records everything else through it.
 */
import { Backend, CheckpointStore, IndexSet, Pipeline, Provenance } from "@curator/core"
import { NodeHost } from "@curator/node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { makeProbe, outcomesOf } from "./CheckpointStoreContract.js"

/** One call the pipeline made on the store or its checkpoint. */
type Call =
  | { readonly _tag: "open"; readonly request: CheckpointStore.OpenRequest }
  | { readonly _tag: "completedIndexSet" }
  | { readonly _tag: "registerWorker"; readonly workerId: string }
  | { readonly _tag: "indexStarted"; readonly workerId: string; readonly index: number }
  | { readonly _tag: "recordSuccess"; readonly index: number; readonly paths: ReadonlyArray<string> }
  | { readonly _tag: "recordFailure"; readonly index: number; readonly error: string }
  | { readonly _tag: "appendLogs"; readonly count: number }
  | { readonly _tag: "flush" }

/**
 * A store over `layerMemory` that records every call in `calls`, and
 * pretends that the indices of `pretend` are completed with the given paths.
 */
const recordingStore = (
  calls: Array<Call>,
  pretend: ReadonlyMap<number, ReadonlyArray<string>> = new Map()
): Layer.Layer<CheckpointStore.CheckpointStore> =>
  Layer.effect(
    CheckpointStore.CheckpointStore,
    Effect.map(CheckpointStore.CheckpointStore, (inner) => ({
      open: (request) =>
        Effect.map(
          Effect.zipRight(Effect.sync(() => calls.push({ _tag: "open", request })), inner.open(request)),
          (checkpoint): CheckpointStore.Checkpoint => {
            const record = (call: Call) => Effect.sync(() => void calls.push(call))
            return {
              ...checkpoint,
              completedIndexSet: Effect.zipRight(
                record({ _tag: "completedIndexSet" }),
                Effect.map(checkpoint.completedIndexSet, (done) => IndexSet.fromIndices([...done, ...pretend.keys()]))
              ),
              // The pretended completions come with the first page of records (what a resumed run reads).
              recordedPage: (query) =>
                Effect.map(checkpoint.recordedPage(query), (page) =>
                  query?.after !== undefined ? page : {
                    ...page,
                    rows: [
                      ...page.rows,
                      ...[...pretend].map(([index, paths]) => ({
                        index,
                        paths,
                        completedAt: "2026-01-01T00:00:00.000000",
                        workerId: null,
                        fingerprint: null,
                        outputChecks: []
                      }))
                    ].sort((a, b) => a.index - b.index)
                  }),
              registerWorker: (worker) =>
                Effect.zipRight(record({ _tag: "registerWorker", workerId: worker.workerId }), checkpoint.registerWorker(worker)),
              indexStarted: (workerId, index, at) =>
                Effect.zipRight(record({ _tag: "indexStarted", workerId, index }), checkpoint.indexStarted(workerId, index, at)),
              recordSuccess: (success) =>
                Effect.zipRight(
                  record({ _tag: "recordSuccess", index: success.index, paths: success.paths }),
                  checkpoint.recordSuccess(success)
                ),
              recordFailure: (failure) =>
                Effect.zipRight(
                  record({ _tag: "recordFailure", index: failure.index, error: failure.error }),
                  checkpoint.recordFailure(failure)
                ),
              appendLogs: (entries) =>
                Effect.zipRight(record({ _tag: "appendLogs", count: entries.length }), checkpoint.appendLogs(entries)),
              flush: Effect.zipRight(record({ _tag: "flush" }), checkpoint.flush)
            }
          }
        )
    }))
  ).pipe(Layer.provide(CheckpointStore.layerMemory))

const provideStore = (store: Layer.Layer<CheckpointStore.CheckpointStore>) =>
  Effect.provide(Layer.mergeAll(store, Backend.layerFibers, NodeHost.layer, Logger.remove(Logger.defaultLogger)))

const tagsOf = (calls: ReadonlyArray<Call>) => calls.map((call) => call._tag)

describe("a custom CheckpointStore", () => {
  it.live("is consulted: indices it reports completed are not run and come back cached with its paths", () => {
    const calls: Array<Call> = []
    const pretend = new Map([[0, ["/elsewhere/zero.parquet"]], [2, ["/elsewhere/two-a.parquet", "/elsewhere/two-b.parquet"]]])
    const probe = makeProbe({ length: 5, resume: true })
    return Effect.gen(function*() {
      const result = yield* Pipeline.run(Pipeline.withOptions(probe.pipeline, { dbDir: "/custom/dir" }), { concurrency: 2 })
      expect(outcomesOf(result)).toEqual([
        { index: 0, cached: true, paths: ["/elsewhere/zero.parquet"] },
        { index: 1, cached: false, paths: probe.pathsOf(1) },
        { index: 2, cached: true, paths: ["/elsewhere/two-a.parquet", "/elsewhere/two-b.parquet"] },
        { index: 3, cached: false, paths: probe.pathsOf(3) },
        { index: 4, cached: false, paths: probe.pathsOf(4) }
      ])
      expect(probe.counts).toEqual({ source: 3, filter: 3, sink: 3 })

      const opens = calls.filter((call) => call._tag === "open")
      expect(opens).toEqual([{
        _tag: "open",
        request: {
          configHash: probe.pipeline.configHash,
          configJson: Provenance.canonicalJson(probe.pipeline.config),
          totalIndices: 5,
          resume: true,
          dbFile: undefined,
          dbDir: "/custom/dir",
          runDir: process.cwd()
        }
      }])
      expect(result.location).toBe(`memory:/custom/dir/${probe.pipeline.configHash.slice(0, 16)}.db`)
      const started = calls.flatMap((call) => call._tag === "indexStarted" ? [call.index] : [])
      const recorded = calls.flatMap((call) => call._tag === "recordSuccess" ? [call.index] : [])
      expect(started.sort()).toEqual([1, 3, 4])
      expect(recorded.sort()).toEqual([1, 3, 4])
    }).pipe(provideStore(recordingStore(calls, pretend)))
  })

  it.live("is called in order: open, completed lookup, workers, each index started then recorded, flush at the end", () => {
    const calls: Array<Call> = []
    const probe = makeProbe({ length: 4, failing: [2], resume: true })
    return Effect.gen(function*() {
      yield* Pipeline.run(probe.pipeline, { concurrency: 2 })
      const tags = tagsOf(calls)
      expect(tags.slice(0, 2)).toEqual(["open", "completedIndexSet"])
      expect(tags.filter((tag) => tag === "registerWorker")).toHaveLength(2)
      expect(tags.filter((tag) => tag === "flush")).toHaveLength(1)
      const lastRecord = Math.max(tags.lastIndexOf("recordSuccess"), tags.lastIndexOf("recordFailure"))
      expect(tags.indexOf("flush")).toBeGreaterThan(lastRecord)
      for (const index of [0, 1, 2, 3]) {
        const start = calls.findIndex((call) => call._tag === "indexStarted" && call.index === index)
        const end = calls.findIndex((call) =>
          (call._tag === "recordSuccess" || call._tag === "recordFailure") && call.index === index
        )
        expect(start).toBeGreaterThan(-1)
        expect(end).toBeGreaterThan(start)
        const worker = (calls[start] as Extract<Call, { _tag: "indexStarted" }>).workerId
        const registered = calls.findIndex((call) => call._tag === "registerWorker" && call.workerId === worker)
        expect(registered).toBeGreaterThan(-1)
        expect(registered).toBeLessThan(start)
      }
      expect(calls.filter((call) => call._tag === "recordFailure")).toEqual([
        { _tag: "recordFailure", index: 2, error: "Boom: index 2 is bad" }
      ])
      // Captured logs reach the store too.
      expect(calls.some((call) => call._tag === "appendLogs" && call.count > 0)).toBe(true)
    }).pipe(provideStore(recordingStore(calls)))
  })

  it.live("with resume: false, the store is opened but its completions are not consulted", () => {
    const calls: Array<Call> = []
    const probe = makeProbe({ length: 3, resume: false })
    return Effect.gen(function*() {
      const result = yield* Pipeline.run(probe.pipeline)
      expect(outcomesOf(result).every((o) => "cached" in o && !o.cached)).toBe(true)
      expect(probe.counts.sink).toBe(3)
      expect(tagsOf(calls)).toContain("open")
      expect(tagsOf(calls)).not.toContain("completedIndexSet")
    }).pipe(provideStore(recordingStore(calls, new Map([[0, ["/pretend/0"]]]))))
  })

  it.live("with trackMetrics: false, the store is never opened", () => {
    const calls: Array<Call> = []
    const probe = makeProbe({ length: 3, resume: true })
    return Effect.gen(function*() {
      const result = yield* Pipeline.run(Pipeline.withOptions(probe.pipeline, { trackMetrics: false }))
      expect(result.location).toBeUndefined()
      expect(probe.counts.sink).toBe(3)
      expect(calls).toEqual([])
    }).pipe(provideStore(recordingStore(calls, new Map([[0, ["/pretend/0"]]]))))
  })

  it.live("a store that cannot open fails the run with its CheckpointError before any index runs", () => {
    const probe = makeProbe({ length: 3, resume: true })
    const refusing = Layer.succeed(CheckpointStore.CheckpointStore, {
      open: () =>
        Effect.fail(new CheckpointStore.CheckpointError({ reason: "ReadOnly", location: "vault:", message: "vault: is sealed" }))
    })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Pipeline.run(probe.pipeline))
      expect(error).toBeInstanceOf(CheckpointStore.CheckpointError)
      expect(error).toMatchObject({ reason: "ReadOnly", location: "vault:", message: "vault: is sealed" })
      expect(probe.counts).toEqual({ source: 0, filter: 0, sink: 0 })
    }).pipe(provideStore(refusing))
  })
})

/**
 * Pipelines: building them, and running them — result order under
 * concurrency, the concurrency limit, failure isolation and `failFast`,
 * interruption, per-stage times, resuming from the checkpoint, running
 * without one, and streaming large indices without collecting them.
 */
import { Backend, CheckpointStore, Filter, Host, Pipeline, Provenance, RunOptions, RunResult, Sink, Source } from "@curator/core"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Deferred, Duration, Effect, Either, Exit, Fiber, Layer, Logger, Option, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Boom, Live, makeGauge, makeProbe, outcomesOf, range, readCheckpoint, Sequential, sorted, testHost } from "./helpers.js"

describe("Pipeline", () => {
  describe("building", () => {
    it("records the configuration of source, filters in order, and sink", () => {
      const pipeline = Pipeline.from(Source.fromArray("Words", ["a", "b"])).pipe(
        Pipeline.filter(Filter.map({ name: "Upper", params: { locale: "en" }, f: (s: string) => s.toUpperCase() })),
        Pipeline.filter(Filter.map({ name: "Length", f: (s: string) => s.length })),
        Pipeline.write(Sink.drain({ name: "Drop", params: { dir: "/dev/null" }, pathOf: () => [] }))
      )
      expect(pipeline.config).toEqual({
        // An in-memory list is identified by its content.
        source: { name: "Words", params: { length: 2, sha256: Provenance.sha256Hex(JSON.stringify(["a", "b"])) } },
        filters: [{ name: "Upper", params: { locale: "en" } }, { name: "Length", params: {} }],
        sink: { name: "Drop", params: { dir: "/dev/null" } }
      })
      expect(pipeline.configHash).toMatch(/^[0-9a-f]{64}$/)
      expect(pipeline.options).toEqual(Pipeline.defaultOptions)
      expect(Pipeline.isPipeline(pipeline)).toBe(true)
      expect(Pipeline.isPipeline(pipeline.config)).toBe(false)
    })

    it("is immutable: attaching a filter or changing options returns a new value", () => {
      const builder = Pipeline.from(Source.fromArray("Items", [1, 2, 3]))
      const filtered = builder.pipe(Pipeline.filter(Filter.map({ name: "Inc", f: (n: number) => n + 1 })))
      expect(builder.filters).toHaveLength(0)
      expect(filtered.filters.map((f) => f.name)).toEqual(["Inc"])

      const pipeline = Pipeline.write(filtered, Sink.drain({ name: "Drop", pathOf: () => [] }), { resume: true })
      expect(pipeline.options).toEqual({ ...Pipeline.defaultOptions, resume: true })
      const changed = Pipeline.withOptions(pipeline, { trackMemory: false, dbDir: "/tmp/db" })
      expect(changed.options).toEqual({ ...Pipeline.defaultOptions, resume: true, trackMemory: false, dbDir: "/tmp/db" })
      expect(pipeline.options.trackMemory).toBe(true)
      expect(changed.config).toEqual(pipeline.config)
    })

    it.effect("runs data-first and data-last alike", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 3, resume: false })
        const first = yield* Pipeline.run(probe.pipeline, { indices: [2] })
        const last = yield* probe.pipeline.pipe(Pipeline.run({ indices: [1] }))
        expect(outcomesOf(first)).toEqual([{ index: 2, cached: false, paths: probe.pathsOf(2) }])
        expect(outcomesOf(last)).toEqual([{ index: 1, cached: false, paths: probe.pathsOf(1) }])
      }).pipe(Effect.provide(Live)))
  })

  describe("result order", () => {
    it.live("outcomes come back in the requested order, whatever order the indices finish in", () =>
      Effect.gen(function*() {
        const delays = [40, 5, 25, 60, 10, 30, 0, 15]
        const finished: Array<number> = []
        const pipeline = Pipeline.from(Source.make({
          name: "Uneven",
          params: { delays },
          length: delays.length,
          read: (index) => Stream.fromEffect(Effect.as(Effect.sleep(Duration.millis(delays[index]!)), index))
        })).pipe(
          Pipeline.write(Sink.make({
            name: "Finish",
            write: (items: Stream.Stream<number>, index) =>
              Effect.as(Effect.zipRight(Stream.runDrain(items), Effect.sync(() => finished.push(index))), [`/out/${index}`])
          }))
        )
        const all = yield* Pipeline.run(pipeline, { concurrency: 4 })
        expect(all.outcomes.map((o) => [o.index, o._tag])).toEqual(range(0, 8).map((i) => [i, "Completed"]))
        expect(RunResult.paths(all)).toEqual(range(0, 8).map((i) => [`/out/${i}`]))
        // The indices really did finish out of order.
        expect(finished).not.toEqual(range(0, 8))
        expect(sorted(finished)).toEqual(range(0, 8))

        finished.length = 0
        const chosen = yield* Pipeline.run(pipeline, { concurrency: 4, indices: [3, 0, 2] })
        expect(chosen.outcomes.map((o) => [o.index, o._tag])).toEqual([[3, "Completed"], [0, "Completed"], [2, "Completed"]])
        expect(RunResult.paths(chosen)).toEqual([["/out/3"], ["/out/0"], ["/out/2"]])
        // All three started at once and finished by their delays: 25, 40, 60 ms.
        expect(finished).toEqual([2, 0, 3])
      }).pipe(Effect.provide(Live)))
  })

  describe("concurrency", () => {
    const cases: ReadonlyArray<readonly [string, number | "all"]> = [["1", 1], ["3", 3], ["\"all\"", "all"]]
    for (const [label, concurrency] of cases) {
      it.live(`concurrency ${label} keeps exactly that many indices in flight`, () =>
        Effect.gen(function*() {
          const limit = Either.getOrThrow(RunOptions.resolveConcurrency(concurrency, 4))
          const gauge = makeGauge()
          const length = limit * 3
          const pipeline = Pipeline.from(Source.fromArray("Items", range(0, length))).pipe(
            Pipeline.filter(Filter.mapEffect({
              name: "Slow",
              f: (n: number) => gauge.track(Effect.as(Effect.sleep("15 millis"), n))
            })),
            Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/drop/${i}`] }))
          )
          const result = yield* Pipeline.run(pipeline, { concurrency })
          expect(RunResult.counts(result)).toEqual({ computed: length, cached: 0, failed: 0 })
          expect(gauge.max()).toBe(limit)
          expect(gauge.current()).toBe(0)
        }).pipe(Effect.provide(Live)))
    }
  })

  describe("failures", () => {
    class NoMessage extends Data.TaggedError("NoMessage")<{ readonly reason: string }> {}

    for (const streamed of [false, true]) {
      it.effect(`a failing index does not stop the others and records "<Tag>: <message>" (${streamed ? "streams" : "arrays"})`, () =>
        Effect.gen(function*() {
          let written = 0
          const check = (n: number): Effect.Effect<number, Boom | NoMessage> => {
            if (n === 2) return Effect.fail(new Boom({ message: "index 2 is bad" }))
            if (n === 5) return Effect.fail(new NoMessage({ reason: "unknown" }))
            return Effect.succeed(n)
          }
          const parse = (n: number) => {
            if (n === 4) throw new Error("cannot parse 4")
            return n
          }
          const pipeline = Pipeline.from(Source.fromArray("Items", range(0, 7))).pipe(
            Pipeline.filter(
              streamed
                ? Filter.make({ name: "Check", apply: (items: Stream.Stream<number>) => Stream.mapEffect(items, check) })
                : Filter.mapEffect({ name: "Check", f: check })
            ),
            Pipeline.filter(Filter.map({ name: "Parse", f: parse })),
            Pipeline.write(Sink.fromItems({
              name: "Count",
              write: (_: ReadonlyArray<number>, index) =>
                Effect.sync(() => {
                  written++
                  return [`/out/${index}`]
                })
            }), { resume: true })
          )
          const result = yield* Pipeline.run(pipeline, { concurrency: 2 })
          expect(outcomesOf(result)).toEqual([
            { index: 0, cached: false, paths: ["/out/0"] },
            { index: 1, cached: false, paths: ["/out/1"] },
            { index: 2, failed: "Boom: index 2 is bad" },
            { index: 3, cached: false, paths: ["/out/3"] },
            { index: 4, failed: "Error: cannot parse 4" },
            { index: 5, failed: "NoMessage: {\"reason\":\"unknown\"}" },
            { index: 6, cached: false, paths: ["/out/6"] }
          ])
          expect(written).toBe(4)

          // The typed failure and the defect keep their causes.
          const [two, four] = [result.outcomes[2]!, result.outcomes[4]!]
          if (two._tag !== "Failed" || four._tag !== "Failed") throw new Error("expected failures")
          const failure = Cause.failureOption(two.cause)
          expect(Option.isSome(failure) && failure.value instanceof Boom).toBe(true)
          expect(Cause.isDie(four.cause)).toBe(true)
          expect(Option.map(Cause.dieOption(four.cause), (defect) => (defect as Error).message)).toEqual(Option.some("cannot parse 4"))

          const failed = yield* readCheckpoint(pipeline, (c) => c.failedIndices)
          expect(failed).toEqual(
            new Map([[2, "Boom: index 2 is bad"], [4, "Error: cannot parse 4"], [5, "NoMessage: {\"reason\":\"unknown\"}"]])
          )
        }).pipe(Effect.provide(Live)))
    }

    it.effect("with failFast the run fails with IndexFailed for the failed index, and later indices do not run", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 6, failing: [2] })
        const error = yield* Effect.flip(Pipeline.run(probe.pipeline, { failFast: true }))
        expect(error).toBeInstanceOf(RunResult.IndexFailed)
        const indexFailed = error as RunResult.IndexFailed
        expect(indexFailed.index).toBe(2)
        expect(indexFailed.message).toBe("Boom: index 2 is bad")
        expect(Option.map(Cause.failureOption(indexFailed.cause), (e) => (e as Boom).message)).toEqual(Option.some("index 2 is bad"))
        expect(probe.counts).toEqual({ source: 3, filter: 3, sink: 2 })

        const recorded = yield* readCheckpoint(probe.pipeline, (c) =>
          Effect.all({ completed: c.completedIndices, failed: c.failedIndices, remaining: c.remainingIndices }))
        expect(sorted(recorded.completed)).toEqual([0, 1])
        expect(recorded.failed).toEqual(new Map([[2, "Boom: index 2 is bad"]]))
        expect(recorded.remaining).toEqual([3, 4, 5])
      }).pipe(Effect.provide(Sequential)))

    it.effect("without failFast the same run completes with the failure among its outcomes", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 6, failing: [2] })
        const result = yield* Pipeline.run(probe.pipeline, { failFast: false })
        expect(RunResult.counts(result)).toEqual({ computed: 5, cached: 0, failed: 1 })
        expect(result.outcomes.filter(RunResult.isFailed).map((o) => o.index)).toEqual([2])
        expect(RunResult.paths(result)[2]).toBeUndefined()
        expect(probe.counts.sink).toBe(5)
      }).pipe(Effect.provide(Sequential)))

    it.live("with failFast on several lanes the run still fails with the failed index", () =>
      Effect.gen(function*() {
        const pipeline = Pipeline.from(Source.fromArray("Items", range(0, 8))).pipe(
          Pipeline.filter(Filter.mapEffect({
            name: "Check",
            f: (n: number) =>
              n === 3
                ? Effect.fail(new Boom({ message: "three" }))
                : Effect.as(Effect.sleep(n > 3 ? "1 second" : "1 millis"), n)
          })),
          Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/drop/${i}`] }))
        )
        const started = performance.now()
        const error = yield* Effect.flip(Pipeline.run(pipeline, { concurrency: 3, failFast: true }))
        expect(error).toMatchObject({ _tag: "IndexFailed", index: 3, message: "Boom: three" })
        // The slow indices in flight on other lanes were interrupted, not awaited.
        expect(performance.now() - started).toBeLessThan(500)
      }).pipe(Effect.provide(Live)))
  })

  describe("interruption", () => {
    it.live("an interrupted run stops promptly and records no index whose sink did not finish", () =>
      Effect.gen(function*() {
        let slow = true
        const sinkStarted = new Set<number>()
        const sinkFinished = new Set<number>()
        const twoFinished = yield* Deferred.make<void>()
        const pipeline = Pipeline.from(Source.make({
          name: "Items",
          length: 8,
          read: (index) => Stream.make(index)
        })).pipe(
          Pipeline.write(Sink.make({
            name: "Flagging",
            write: (items: Stream.Stream<number>, index) =>
              Effect.gen(function*() {
                sinkStarted.add(index)
                yield* Stream.runDrain(items)
                yield* Effect.sleep(slow && index >= 2 ? "10 seconds" : "2 millis")
                // The very end of the sink.
                sinkFinished.add(index)
                if (sinkFinished.size === 2) yield* Deferred.succeed(twoFinished, undefined)
                return [`/out/${index}`]
              })
          }), { resume: true })
        )
        const fiber = yield* Effect.fork(Pipeline.run(pipeline, { concurrency: 2 }))
        yield* Deferred.await(twoFinished)
        // Let indices 0 and 1 be recorded and indices 2 and 3 enter their sinks.
        yield* Effect.sleep("30 millis")
        expect(sorted(sinkStarted)).toEqual([0, 1, 2, 3])

        const interruptedAt = performance.now()
        const exit = yield* Fiber.interrupt(fiber)
        expect(performance.now() - interruptedAt).toBeLessThan(500)
        expect(Exit.isInterrupted(exit)).toBe(true)

        const recorded = yield* readCheckpoint(pipeline, (c) =>
          Effect.all({ completed: c.completedIndices, failed: c.failedIndices }))
        expect(sorted(sinkFinished)).toEqual([0, 1])
        expect(sorted(recorded.completed)).toEqual([0, 1])
        expect([...recorded.completed].every((index) => sinkFinished.has(index))).toBe(true)
        expect(recorded.failed.size).toBe(0)

        // A resumed run computes only what the interruption left undone.
        slow = false
        sinkStarted.clear()
        const resumed = yield* Pipeline.run(pipeline, { concurrency: 2 })
        expect(RunResult.counts(resumed)).toEqual({ computed: 6, cached: 2, failed: 0 })
        expect(sorted(sinkStarted)).toEqual(range(2, 8))
      }).pipe(Effect.provide(Live)))
  })

  describe("graceful stop", () => {
    it.effect("after `stop`, no index starts; those in flight finish and are recorded; the rest are NotRun and run next time", () =>
      Effect.gen(function*() {
        const sinkStarted = new Set<number>()
        const twoInFlight = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const stop = yield* Deferred.make<void>()
        const stopSeen = yield* Deferred.make<void>()
        const pipeline = Pipeline.from(Source.make({ name: "Items", length: 8, items: (index) => Effect.succeed([index]) })).pipe(
          Pipeline.write(Sink.fromItems({
            name: "Held",
            write: (_: ReadonlyArray<number>, index) =>
              Effect.gen(function*() {
                sinkStarted.add(index)
                if (sinkStarted.size === 2) yield* Deferred.succeed(twoInFlight, undefined)
                yield* Deferred.await(release)
                return [`/out/${index}`]
              })
          }), { resume: true })
        )
        // The run marks itself stopping in the same step as this stop effect ends, so once
        // `stopSeen` is done the run has seen the stop, before the indices in flight finish.
        const fiber = yield* Effect.fork(Pipeline.run(pipeline, {
          concurrency: 2,
          stop: Effect.zipRight(Deferred.await(stop), Deferred.succeed(stopSeen, undefined))
        }))
        yield* Deferred.await(twoInFlight)
        yield* Deferred.succeed(stop, undefined)
        yield* Deferred.await(stopSeen)
        yield* Deferred.succeed(release, undefined)
        const result = yield* Fiber.join(fiber)

        expect(sorted(sinkStarted)).toEqual([0, 1])
        expect(result.outcomes.map((o) => o._tag)).toEqual(["Completed", "Completed", ...Array(6).fill("NotRun")])
        expect(RunResult.notRunIndices(result)).toEqual(range(2, 8))
        const recorded = yield* readCheckpoint(pipeline, (c) => Effect.all({ completed: c.completedIndices, logs: c.logs() }))
        expect(sorted(recorded.completed)).toEqual([0, 1])
        expect(recorded.logs.map((line) => line.message)).toContain("run stopped: 2 completed (0 from the checkpoint), 0 failed, 6 not run")

        sinkStarted.clear()
        const resumed = yield* Pipeline.run(pipeline, { concurrency: 2 })
        expect(RunResult.counts(resumed)).toEqual({ computed: 6, cached: 2, failed: 0 })
        expect(sorted(sinkStarted)).toEqual(range(2, 8))
      }).pipe(Effect.provide(Live)))

    it.effect("a stop that never comes changes nothing", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 5 })
        const result = yield* Pipeline.run(probe.pipeline, { concurrency: 2, stop: Effect.never })
        expect(RunResult.counts(result)).toEqual({ computed: 5, cached: 0, failed: 0 })
        expect(RunResult.notRunIndices(result)).toEqual([])
      }).pipe(Effect.provide(Live)))
  })

  describe("stage times", () => {
    for (const streamed of [false, true]) {
      it.live(`each stage's time is its own, and they sum to the index's wall time (${streamed ? "streams" : "arrays"})`, () =>
        Effect.gen(function*() {
          // What each stage really slept, measured inside the stage, per index:
          // the truth the recorded times are checked against, whatever the load
          // of the machine does to timers.
          const slept = new Map<number, { read: number; think: number; write: number }>()
          const sleep = (index: number, stage: "read" | "think" | "write", ms: number) =>
            Effect.suspend(() => {
              const started = performance.now()
              return Effect.map(Effect.sleep(Duration.millis(ms)), () => {
                const entry = slept.get(index) ?? { read: 0, think: 0, write: 0 }
                slept.set(index, { ...entry, [stage]: performance.now() - started })
              })
            })
          const source = streamed
            ? Source.make({ name: "Read", length: 2, read: (index) => Stream.fromEffect(Effect.as(sleep(index, "read", 120), index)) })
            : Source.make({ name: "Read", length: 2, items: (index) => Effect.as(sleep(index, "read", 120), [index]) })
          const think = (n: number) => Effect.as(sleep(n, "think", 80), n)
          const filter = streamed
            ? Filter.make({ name: "Think", apply: (items: Stream.Stream<number>) => Stream.mapEffect(items, think) })
            : Filter.mapEffect({ name: "Think", f: think })
          const sink = streamed
            ? Sink.make({
              name: "Write",
              write: (items: Stream.Stream<number>, index) =>
                Effect.zipRight(Stream.runDrain(items), Effect.as(sleep(index, "write", 160), [`/out/${index}`]))
            })
            : Sink.fromItems({
              name: "Write",
              write: (_: ReadonlyArray<number>, index) => Effect.as(sleep(index, "write", 160), [`/out/${index}`])
            })
          const pipeline = Pipeline.from(source).pipe(Pipeline.filter(filter), Pipeline.write(sink, { resume: true }))
          // A first run without metrics warms the code up; the second is measured.
          yield* Pipeline.run(Pipeline.withOptions(pipeline, { trackMetrics: false }), { concurrency: 2 })
          yield* Pipeline.run(pipeline, { concurrency: 2 })

          const metrics = yield* readCheckpoint(pipeline, (c) => c.metrics)
          expect(metrics.map((m) => [m.index, m.status])).toEqual([[0, "completed"], [1, "completed"]])
          // Streams cost Effect's scheduler a few milliseconds per index, which
          // chain subtraction adds to the stage that ran them (mostly the sink);
          // a loaded machine adds more. The slack stays below the shortest
          // stage (80 ms), so a stage's time filed under another still fails.
          const slack = streamed ? 50 : 40
          for (const m of metrics) {
            // As the reference records them: the source and the sink by role, filters by name.
            expect(m.stages.map((s) => [s.order, s.name])).toEqual([[0, "source"], [1, "Think"], [2, "sink"]])
            const [read, think, write] = m.stages.map((s) => s.wallTimeNs / 1e6)
            const truth = slept.get(m.index)!
            const checks: ReadonlyArray<readonly [string, number, number, number]> = [
              ["Read", read!, truth.read, 120],
              ["Think", think!, truth.think, 80],
              ["Write", write!, truth.write, 160]
            ]
            for (const [stage, recorded, actual, requested] of checks) {
              // Never less than the stage slept (timers never fire more than a
              // millisecond or so early), and not much more.
              expect({ stage, atLeastRequested: recorded >= requested - 3 }).toEqual({ stage, atLeastRequested: true })
              expect({ stage, recorded, close: recorded >= actual - 2 && recorded <= actual + slack }).toEqual({
                stage,
                recorded,
                close: true
              })
            }
            const wall = m.wallTimeNs! / 1e6
            expect(Math.abs(read! + think! + write! - wall)).toBeLessThanOrEqual(30)
          }
        }).pipe(Effect.provide(Live)))
    }
  })

  describe("resume", () => {
    it.effect("with resume, a second run returns cached outcomes and runs no stage; failures run again", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 5, failing: [2] })
        const first = yield* Pipeline.run(probe.pipeline, { concurrency: 2 })
        expect(RunResult.counts(first)).toEqual({ computed: 4, cached: 0, failed: 1 })
        expect(probe.counts).toEqual({ source: 5, filter: 5, sink: 4 })

        // Index 2 still fails: it alone runs again.
        const second = yield* Pipeline.run(probe.pipeline, { concurrency: 2 })
        expect(outcomesOf(second)).toEqual([
          { index: 0, cached: true, paths: probe.pathsOf(0) },
          { index: 1, cached: true, paths: probe.pathsOf(1) },
          { index: 2, failed: "Boom: index 2 is bad" },
          { index: 3, cached: true, paths: probe.pathsOf(3) },
          { index: 4, cached: true, paths: probe.pathsOf(4) }
        ])
        expect(probe.counts).toEqual({ source: 6, filter: 6, sink: 4 })

        // Fixed, it succeeds, and the success replaces the failure.
        probe.failing.clear()
        const third = yield* Pipeline.run(probe.pipeline, { concurrency: 2 })
        expect(outcomesOf(third)).toEqual(range(0, 5).map((index) => ({ index, cached: index !== 2, paths: probe.pathsOf(index) })))
        expect(probe.counts).toEqual({ source: 7, filter: 7, sink: 5 })
        const recorded = yield* readCheckpoint(probe.pipeline, (c) =>
          Effect.all({ completed: c.completedIndices, failed: c.failedIndices }))
        expect(recorded.failed.size).toBe(0)
        expect(sorted(recorded.completed)).toEqual(range(0, 5))

        // Everything is done: nothing runs at all.
        const fourth = yield* Pipeline.run(probe.pipeline, { concurrency: 2 })
        expect(RunResult.counts(fourth)).toEqual({ computed: 0, cached: 5, failed: 0 })
        expect(probe.counts).toEqual({ source: 7, filter: 7, sink: 5 })
        expect(fourth.location).toBe(first.location)
      }).pipe(Effect.provide(Live)))

    it.scoped("with verifyOutputs, a completed index whose recorded file is missing is computed again and counted as redone", () =>
      Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "curator-verify-"))),
          (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
        )
        const written: Array<number> = []
        const pipeline = Pipeline.from(Source.make({ name: "Items", length: 4, items: (index) => Effect.succeed([index]) })).pipe(
          Pipeline.write(Sink.fromItems({
            name: "Files",
            params: { dir },
            write: (_: ReadonlyArray<number>, index) =>
              Effect.sync(() => {
                written.push(index)
                // Index 3 writes nothing: with no recorded output, it has nothing to lose.
                if (index === 3) return []
                const file = path.join(dir, `${index}.txt`)
                fs.writeFileSync(file, `index ${index}\n`)
                return [file]
              })
          }), { resume: true })
        )
        yield* Pipeline.run(pipeline)
        fs.rmSync(path.join(dir, "2.txt"))
        written.length = 0

        // Trusted as recorded: nothing runs, and index 2's missing file goes unnoticed.
        const trusting = yield* Pipeline.run(pipeline)
        expect(RunResult.counts(trusting)).toEqual({ computed: 0, cached: 4, failed: 0 })
        expect(trusting.redone).toEqual([])

        const verified = yield* Pipeline.run(Pipeline.withOptions(pipeline, { verifyOutputs: true }))
        expect(written).toEqual([2])
        expect(verified.redone).toEqual([2])
        expect(outcomesOf(verified).map((o) => [o.index, "cached" in o && o.cached])).toEqual([[0, true], [1, true], [2, false], [3, true]])
        expect(fs.readFileSync(path.join(dir, "2.txt"), "utf8")).toBe("index 2\n")
        const logs = yield* readCheckpoint(pipeline, (c) => c.logs({ minLevel: 30 }))
        expect(logs.map((line) => line.message)).toEqual([
          `index 2 is recorded completed but its output ${path.join(dir, "2.txt")} is missing; computing it again`
        ])
      }).pipe(Effect.provide(Live), Effect.provide(NodeFileSystem.layer)))

    it.effect("without resume, every run recomputes every index, each in a fresh database", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 4, resume: false })
        const first = yield* Pipeline.run(probe.pipeline)
        const second = yield* Pipeline.run(probe.pipeline)
        for (const result of [first, second]) {
          expect(outcomesOf(result)).toEqual(range(0, 4).map((index) => ({ index, cached: false, paths: probe.pathsOf(index) })))
        }
        expect(probe.counts).toEqual({ source: 8, filter: 8, sink: 8 })
        expect(first.location).not.toBe(second.location)
        expect(first.configHash).toBe(probe.pipeline.configHash)
      }).pipe(Effect.provide(Live)))
  })

  describe("without metrics", () => {
    it.effect("trackMetrics: false runs every index without opening the store", () =>
      Effect.gen(function*() {
        const probe = makeProbe({ length: 3, failing: [1] })
        const NoStore = Layer.succeed(CheckpointStore.CheckpointStore, {
          open: () => Effect.die(new Error("the store must not be opened"))
        })
        const pipeline = Pipeline.withOptions(probe.pipeline, { trackMetrics: false })
        const run = Pipeline.run(pipeline).pipe(
          Effect.provide(Layer.mergeAll(Backend.layerFibers, NoStore, Logger.remove(Logger.defaultLogger)))
        )
        const first = yield* run
        expect(first.location).toBeUndefined()
        expect(outcomesOf(first)).toEqual([
          { index: 0, cached: false, paths: probe.pathsOf(0) },
          { index: 1, failed: "Boom: index 1 is bad" },
          { index: 2, cached: false, paths: probe.pathsOf(2) }
        ])
        // With no checkpoint, resume has nothing to skip.
        yield* run
        expect(probe.counts).toEqual({ source: 6, filter: 6, sink: 4 })
      }))

    it.effect("peak memory is read only when metrics are recorded", () =>
      Effect.gen(function*() {
        let reads = 0
        const counting: Host.HostInfo = {
          ...testHost,
          memory: { current: () => (reads += 1, 0), sample: () => (reads += 1, 0) }
        }
        const probe = makeProbe({ length: 3 })
        const runWith = (trackMetrics: boolean) =>
          Pipeline.run(Pipeline.withOptions(probe.pipeline, { trackMetrics })).pipe(
            Effect.provide(Layer.mergeAll(
              Backend.layerFibers,
              CheckpointStore.layerMemory,
              Layer.succeed(Host.Host, counting),
              Logger.remove(Logger.defaultLogger)
            ))
          )
        yield* runWith(false)
        expect(reads).toBe(0)
        yield* runWith(true)
        expect(reads).toBeGreaterThan(0)
      }))
  })

  describe("large indices", () => {
    it.effect("200,000 items stream through a filter into a counting sink, never collected", () =>
      Effect.gen(function*() {
        const count = 200_000
        let produced = 0
        let maxAhead = 0
        const pipeline = Pipeline.from(Source.make({
          name: "Many",
          params: { count },
          length: 1,
          read: () =>
            Stream.range(1, count).pipe(Stream.mapChunks((chunk) => {
              produced += chunk.length
              return chunk
            }))
        })).pipe(
          Pipeline.filter(Filter.map({ name: "Double", f: (n: number) => n * 2 })),
          Pipeline.write(Sink.make({
            name: "Count",
            write: (items: Stream.Stream<number>) =>
              Stream.runFold(items, { seen: 0, sum: 0 }, (acc, n) => {
                // How far the source ran ahead of the sink: a chunk or so, not everything.
                maxAhead = Math.max(maxAhead, produced - acc.seen)
                return { seen: acc.seen + 1, sum: acc.sum + n }
              }).pipe(Effect.map((acc) => [`seen=${acc.seen}`, `sum=${acc.sum}`]))
          }))
        )
        const result = yield* Pipeline.run(pipeline)
        expect(RunResult.paths(result)).toEqual([[`seen=${count}`, `sum=${count * (count + 1)}`]])
        expect(produced).toBe(count)
        expect(maxAhead).toBeGreaterThan(0)
        expect(maxAhead).toBeLessThanOrEqual(count / 10)
      }).pipe(Effect.provide(Live)))
  })

  describe("checkpoint", () => {
    it.effect("opens the stable checkpoint a resumed run records into", () =>
      Effect.gen(function*() {
        const pipeline = Pipeline.from(Source.fromArray("Letters", ["a", "b", "c"])).pipe(
          Pipeline.write(Sink.drain<string>({ name: "Paths", pathOf: (i) => [`/out/${i}`] })),
          Pipeline.withOptions({ resume: true })
        )
        yield* Pipeline.run(pipeline, { indices: [0, 2] })
        const checkpoint = yield* Pipeline.checkpoint(pipeline)
        expect(yield* checkpoint.completedIndices).toEqual(new Set([0, 2]))
        expect(yield* checkpoint.remainingIndices).toEqual([1])
        expect((yield* checkpoint.summary).total).toBe(3)
      }).pipe(Effect.scoped, Effect.provide(Live)))
  })
})

/**
 * Log capture: logs of a run — from stages and from Curator itself — are
 * stored with the reference's numeric levels, the logging component, and the
 * worker and index they ran for.
 */
import { Filter, LogCapture, Pipeline, Sink, Source } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, LogLevel } from "effect"
import { Boom, hex32, Live, readCheckpoint } from "./helpers.js"

const chatty = Pipeline.from(Source.fromArray("Items", [0, 1, 2])).pipe(
  Pipeline.filter(Filter.mapEffect({
    name: "Chatty",
    f: (n: number) =>
      Effect.logInfo(`processing ${n}`).pipe(
        Effect.zipRight(Effect.logDebug(`detail ${n}`)),
        Effect.zipRight(Effect.logWarning(`custom ${n}`).pipe(Effect.annotateLogs(LogCapture.loggerNameKey, "my.logger"))),
        Effect.zipRight(n === 2 ? Effect.fail(new Boom({ message: "two" })) : Effect.succeed(n))
      )
  })),
  Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/drop/${i}`] }), { resume: true })
)

describe("LogCapture", () => {
  it("levelOf maps Effect's levels to the reference's numbers and names (Trace, which Python lacks, to 5)", () => {
    const levels = [LogLevel.Fatal, LogLevel.Error, LogLevel.Warning, LogLevel.Info, LogLevel.Debug, LogLevel.Trace]
    expect(levels.map(LogCapture.levelOf)).toEqual([
      { level: 50, name: "CRITICAL" },
      { level: 40, name: "ERROR" },
      { level: 30, name: "WARNING" },
      { level: 20, name: "INFO" },
      { level: 10, name: "DEBUG" },
      { level: 5, name: "TRACE" }
    ])
  })

  it.effect("stage logs are stored under the stage's name (or their own), with worker and index", () =>
    Effect.gen(function*() {
      yield* Pipeline.run(chatty, { concurrency: 2 })
      const logs = yield* readCheckpoint(chatty, (c) => c.logs())
      const ofIndex1 = logs.filter((l) => l.index === 1).map((l) => [l.loggerName, l.levelName, l.level, l.message])
      expect(ofIndex1).toEqual([
        ["Chatty", "INFO", 20, "processing 1"],
        ["my.logger", "WARNING", 30, "custom 1"]
      ])
      for (const line of logs.filter((l) => l.index !== null)) expect(line.workerId).toMatch(hex32)
      // Curator's own lines: the start and the end.
      const own = logs.filter((l) => l.loggerName === LogCapture.frameworkLogger)
      expect(own.map((l) => [l.levelName, l.index, l.message.split(":")[0]])).toEqual([
        ["INFO", null, "run started"],
        ["INFO", null, "run finished"]
      ])
      // The failed index's line is the stage's it failed in.
      expect(logs.filter((l) => l.level === 40).map((l) => [l.loggerName, l.index, l.message])).toEqual([
        ["Chatty", 2, "index 2 failed: Boom: two"]
      ])
    }).pipe(Effect.provide(Live)))

  it.effect("logLevel lowers the threshold of what is stored", () =>
    Effect.gen(function*() {
      yield* Pipeline.run(chatty, { logLevel: "Debug", indices: [0] })
      const logs = yield* readCheckpoint(chatty, (c) => c.logs({ index: 0 }))
      expect(logs.map((l) => [l.levelName, l.message])).toEqual([
        ["INFO", "processing 0"],
        ["DEBUG", "detail 0"],
        ["WARNING", "custom 0"]
      ])
    }).pipe(Effect.provide(Live)))
})

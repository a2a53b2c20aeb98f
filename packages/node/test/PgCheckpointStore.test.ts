/**
 * PostgreSQL checkpoints beyond the shared contract (`test/CheckpointStore.test.ts`):
 * processes opening one configuration at once, and the errors a user meets
 * with a wrong server or location. Each test has a fresh database.
 */
import { CheckpointStore, Pipeline, Provenance } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as PgCheckpointStore from "../src/PgCheckpointStore.js"
import { makeProbe } from "./helpers.js"
import { freshDatabase, postgresUrl, skipReason } from "./postgres.js"

const skip = postgresUrl === undefined
const named = (name: string) => (skip ? `${name} (${skipReason})` : name)

const requestOf = (pipeline: Pipeline.Any): CheckpointStore.OpenRequest => ({
  configHash: pipeline.configHash,
  configJson: Provenance.canonicalJson(pipeline.config),
  totalIndices: 4,
  resume: true,
  runDir: process.cwd()
})

describe("PgCheckpointStore", () => {
  it.scoped.skipIf(skip)(named("stores opening one configuration at once (separate pools, as separate processes) share one schema"), () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase(postgresUrl!)
      const { pipeline } = makeProbe(4, "together")
      const opened = yield* Effect.all(
        Array.from({ length: 4 }, () =>
          Effect.flatMap(CheckpointStore.CheckpointStore, (store) => store.open(requestOf(pipeline))).pipe(
            Effect.provide(PgCheckpointStore.layer({ url }))
          )),
        { concurrency: "unbounded" }
      )
      expect(new Set(opened.map((c) => c.location))).toEqual(new Set([PgCheckpointStore.locationOf(url, pipeline.configHash.slice(0, 16))]))
      // One configuration row, seen alike through each.
      const summaries = yield* Effect.forEach(opened, (c) => c.summary)
      expect(summaries.map((s) => [s.total, s.completed, s.config_hash])).toEqual(opened.map(() => [4, 0, pipeline.configHash]))
    }))

  it.scoped.skipIf(skip)(named("an unreachable server, a missing schema or an unusable name is a typed error that says what to do"), () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase(postgresUrl!)
      const { pipeline } = makeProbe(4, "errors")
      const unreachable = yield* Effect.flip(
        Effect.flatMap(CheckpointStore.CheckpointStore, (store) => store.open(requestOf(pipeline))).pipe(
          Effect.provide(PgCheckpointStore.layer({ url: "postgresql://postgres:wrong@127.0.0.1:1/nowhere" }))
        )
      )
      expect(unreachable.reason).toBe("StorageFailure")
      expect(unreachable.message).toContain("cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1/nowhere")
      expect(unreachable.message).not.toContain("wrong")

      const missing = yield* Effect.flip(PgCheckpointStore.openSchema(url, "0123456789abcdef"))
      expect(missing.reason).toBe("NotFound")
      expect(missing.message).toContain("run a pipeline into it first")

      const badName = yield* Effect.flip(
        Effect.flatMap(CheckpointStore.CheckpointStore, (store) => store.open({ ...requestOf(pipeline), dbFile: "/tmp/my run.db" })).pipe(
          Effect.provide(PgCheckpointStore.layer({ url }))
        )
      )
      expect(badName.reason).toBe("StorageFailure")
      expect(badName.message).toContain("cannot name a PostgreSQL schema")
    }))
})

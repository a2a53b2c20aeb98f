/**
 * Where checkpoint databases go: dbFile, then dbDir, then PSNC_CACHE_DIR,
 * then $XDG_CACHE_HOME/psnc, then ~/.cache/psnc. The environment is given
 * through a ConfigProvider, never by changing process.env.
 */
import { Backend, type CheckpointStore, Pipeline } from "@curator/core"
import { DatabaseLocation, SqliteCheckpointStore } from "@curator/node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { makeProbe, tempDir } from "./helpers.js"

const configHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

const request = (options: Partial<CheckpointStore.OpenRequest> = {}): CheckpointStore.OpenRequest => ({
  configHash,
  configJson: "{}",
  totalIndices: 1,
  resume: true,
  runDir: "/work",
  ...options
})

/** Runs `effect` with exactly these environment variables visible to `Config`. */
const withEnv = (env: Record<string, string>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.withConfigProvider(effect, ConfigProvider.fromMap(new Map(Object.entries(env))))

const everything = {
  PSNC_CACHE_DIR: "/env/psnc-cache",
  XDG_CACHE_HOME: "/env/xdg",
  HOME: "/env/home"
}

describe("DatabaseLocation", () => {
  describe("resolvePath", () => {
    it.effect("dbFile wins over dbDir and every variable, and is used as it is (made absolute)", () =>
      Effect.gen(function*() {
        expect(yield* DatabaseLocation.resolvePath(request({ dbFile: "/data/exact.sqlite", dbDir: "/data/dir" })))
          .toBe("/data/exact.sqlite")
        expect(yield* DatabaseLocation.resolvePath(request({ dbFile: "relative/run.db", resume: false })))
          .toBe(path.resolve("relative/run.db"))
      }).pipe(withEnv(everything)))

    it.effect("dbDir wins over every variable", () =>
      Effect.gen(function*() {
        expect(yield* DatabaseLocation.resolvePath(request({ dbDir: "/data/dir" }))).toBe("/data/dir/0123456789abcdef.db")
        expect(yield* DatabaseLocation.resolvePath(request({ dbDir: "rel" }))).toBe(path.resolve("rel", "0123456789abcdef.db"))
      }).pipe(withEnv(everything)))

    it.effect("PSNC_CACHE_DIR wins over XDG_CACHE_HOME and HOME", () =>
      Effect.gen(function*() {
        expect(yield* DatabaseLocation.resolvePath(request())).toBe("/env/psnc-cache/0123456789abcdef.db")
      }).pipe(withEnv(everything)))

    it.effect("$XDG_CACHE_HOME/psnc wins over HOME", () =>
      Effect.gen(function*() {
        expect(yield* DatabaseLocation.resolvePath(request())).toBe("/env/xdg/psnc/0123456789abcdef.db")
      }).pipe(withEnv({ XDG_CACHE_HOME: "/env/xdg", HOME: "/env/home" })))

    it.effect("$HOME/.cache/psnc when nothing else is set", () =>
      Effect.gen(function*() {
        expect(yield* DatabaseLocation.resolvePath(request())).toBe("/env/home/.cache/psnc/0123456789abcdef.db")
      }).pipe(withEnv({ HOME: "/env/home" })))

    it.effect("a fresh database is named {hash16}_{epoch microseconds}.db from the Clock", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(1_795_919_446_719)
        const fresh = yield* DatabaseLocation.resolvePath(request({ resume: false, dbDir: "/data" }))
        expect(fresh).toBe("/data/0123456789abcdef_1795919446719000.db")
        expect(path.basename(fresh)).toMatch(/^[0-9a-f]{16}_\d{16,17}\.db$/)
        // resume ignores the time: the same name on every run.
        expect(yield* DatabaseLocation.resolvePath(request({ resume: true, dbDir: "/data" }))).toBe("/data/0123456789abcdef.db")
      }).pipe(withEnv(everything)))
  })

  describe("cacheDirectory", () => {
    it.effect("follows PSNC_CACHE_DIR > XDG_CACHE_HOME/psnc > HOME/.cache/psnc > the OS home", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
          [everything, "/env/psnc-cache"],
          [{ XDG_CACHE_HOME: "/env/xdg", HOME: "/env/home" }, "/env/xdg/psnc"],
          [{ HOME: "/env/home" }, "/env/home/.cache/psnc"],
          [{}, path.join(os.homedir(), ".cache", "psnc")],
          [{ PSNC_CACHE_DIR: "relative/cache" }, path.resolve("relative/cache")]
        ]
        for (const [env, expected] of cases) {
          expect(yield* withEnv(env)(DatabaseLocation.cacheDirectory), JSON.stringify(env)).toBe(expected)
        }
      }))

    it.effect("an empty variable counts as unset", () =>
      Effect.gen(function*() {
        expect(yield* withEnv({ PSNC_CACHE_DIR: "", XDG_CACHE_HOME: "/env/xdg" })(DatabaseLocation.cacheDirectory))
          .toBe("/env/xdg/psnc")
        expect(yield* withEnv({ PSNC_CACHE_DIR: "", XDG_CACHE_HOME: "", HOME: "/env/home" })(DatabaseLocation.cacheDirectory))
          .toBe("/env/home/.cache/psnc")
      }))
  })

  describe("a run on the default store", () => {
    const Live = Layer.mergeAll(SqliteCheckpointStore.layer(), Backend.layerFibers, Logger.remove(Logger.defaultLogger))

    it.live("puts its database in PSNC_CACHE_DIR, creating the directory", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const cache = path.join(dir, "cache", "psnc")
        const probe = makeProbe(3)
        const result = yield* Pipeline.run(Pipeline.withOptions(probe.pipeline, { resume: true })).pipe(
          withEnv({ PSNC_CACHE_DIR: cache, XDG_CACHE_HOME: path.join(dir, "xdg"), HOME: path.join(dir, "home") })
        )
        expect(result.location).toBe(path.join(cache, `${probe.pipeline.configHash.slice(0, 16)}.db`))
        expect(fs.statSync(result.location!).isFile()).toBe(true)
        expect(fs.readdirSync(dir).sort()).toEqual(["cache"])
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("creates a missing nested dbDir", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbDir = path.join(dir, "a", "b", "c")
        const probe = makeProbe(2)
        const result = yield* Pipeline.run(Pipeline.withOptions(probe.pipeline, { resume: false, dbDir })).pipe(
          withEnv({ PSNC_CACHE_DIR: path.join(dir, "unused") })
        )
        expect(path.dirname(result.location!)).toBe(dbDir)
        expect(fs.statSync(result.location!).isFile()).toBe(true)
        expect(fs.existsSync(path.join(dir, "unused"))).toBe(false)
      }).pipe(Effect.scoped, Effect.provide(Live)))

    it.live("creates the missing directory of a dbFile", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const dbFile = path.join(dir, "x", "y", "run.db")
        const result = yield* Pipeline.run(Pipeline.withOptions(makeProbe(2).pipeline, { dbFile }))
        expect(result.location).toBe(dbFile)
        expect(fs.statSync(dbFile).isFile()).toBe(true)
      }).pipe(withEnv({ PSNC_CACHE_DIR: "/nonexistent/never-used" }), Effect.scoped, Effect.provide(Live)))
  })
})

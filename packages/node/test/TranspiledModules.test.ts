/**
 * A TypeScript pipeline module for a worker pool is transpiled once, in the
 * parent (internal/transpiledModules.ts), and served to the threads by their
 * module hook instead of tsx in each thread. What must hold: the graph
 * covers the module's own TypeScript imports (`./helper.js` written for
 * `helper.ts`), Curator's sources when running from them — also from a
 * module outside the project, which finds `@curator/core` from Curator's
 * package — and never installed packages; a `.ts` file Node would load as
 * CommonJS is left to tsx; and a pool really runs such a module on two
 * threads, with `import.meta.url` still the file's own.
 */
import { Pipeline, RunResult } from "@curator/core"
import { SqliteCheckpointStore, WorkerBackend } from "@curator/node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { transpile } from "../src/internal/transpiledModules.js"
import { tempDir } from "./helpers.js"

const nodeSrc = fileURLToPath(new URL("../src/", import.meta.url))

/** A pipeline module outside the project (`type: module`) importing a TypeScript helper as `./helper.js`. */
const writeModule = (dir: string, outDir: string) => {
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }))
  fs.writeFileSync(
    path.join(dir, "helper.ts"),
    `export const helperUrl: string = import.meta.url\nexport const triple = (x: number): number => x * 3\n`
  )
  fs.writeFileSync(
    path.join(dir, "pipeline.ts"),
    `import { Filter, Pipeline, Sink, Source } from "@curator/core"
import { Effect } from "effect"
import * as fs from "node:fs"
import { threadId } from "node:worker_threads"
import { helperUrl, triple } from "./helper.js"
const outDir: string = ${JSON.stringify(outDir)}
export const pipeline = Pipeline.from(
  Source.make({ name: "N", params: {}, length: 6, items: (i: number) => Effect.succeed([i]) })
).pipe(
  Pipeline.filter(Filter.map({
    name: "Triple",
    params: {},
    f: (x: number) => {
      const value = { x, tripled: triple(x), helperUrl, threadId }
      fs.writeFileSync(outDir + "/" + x + ".json", JSON.stringify(value))
      return value
    }
  })),
  Pipeline.write(Sink.drain<{ x: number }>({ name: "NoWrite", pathOf: (index: number) => [outDir + "/" + index + ".json"] }))
)
`
  )
}

describe("TypeScript transpiled once for a worker pool", () => {
  it.scoped("the graph: the module's TypeScript and Curator's sources, no installed package; CommonJS TypeScript left to tsx", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("curator-transpile-")
      writeModule(dir, dir)
      const cjs = path.join(dir, "cjs")
      fs.mkdirSync(cjs)
      fs.writeFileSync(path.join(cjs, "package.json"), JSON.stringify({ type: "commonjs" }))
      fs.writeFileSync(path.join(cjs, "old.ts"), `export const old: number = 1\n`)
      const graph = yield* Effect.promise(() =>
        transpile([path.join(dir, "pipeline.ts"), path.join(cjs, "old.ts")], ["@curator/source"], nodeSrc)
      )
      expect(graph).toBeDefined()
      const urls = Object.keys(graph!.sources)
      const module = pathToFileURL(path.join(dir, "pipeline.ts")).href
      const helper = pathToFileURL(path.join(dir, "helper.ts")).href
      expect(urls).toContain(module)
      expect(urls).toContain(helper)
      expect(graph!.sources[helper]).not.toMatch(/: number/)
      expect(graph!.resolutions[`${module}\0./helper.js`]).toBe(helper)
      // Found from Curator's package (the module's folder has no node_modules), as its sources.
      expect(graph!.resolutions[`${module}\0@curator/core`]).toMatch(/packages\/core\/src\/index\.ts$/)
      expect(urls.every((url) => !url.includes("/node_modules/"))).toBe(true)
      expect(urls).not.toContain(pathToFileURL(path.join(cjs, "old.ts")).href)
    }))

  it.scopedLive("a pool of 2 threads runs a TypeScript module outside the project that imports its own TypeScript", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("curator-transpile-pool-")
      const dbDir = yield* tempDir("curator-transpile-db-")
      const outDir = path.join(dir, "out")
      fs.mkdirSync(outDir)
      writeModule(dir, outDir)
      const module = path.join(dir, "pipeline.ts")
      const { pipeline } = yield* Effect.promise(() => import(pathToFileURL(module).href))
      const result = yield* Pipeline.run(Pipeline.withOptions(pipeline as Pipeline.Pipeline<never, never>, { dbDir }), {
        concurrency: 2
      }).pipe(
        Effect.provide(WorkerBackend.layer({ module, threads: 2 })),
        Effect.provide(Layer.merge(SqliteCheckpointStore.layer(), Logger.remove(Logger.defaultLogger)))
      )
      expect(RunResult.counts(result)).toEqual({ computed: 6, cached: 0, failed: 0 })
      const written = fs.readdirSync(outDir).map((name) => JSON.parse(fs.readFileSync(path.join(outDir, name), "utf8")))
      expect(written.map((w) => w.tripled).sort((a, b) => a - b)).toEqual([0, 3, 6, 9, 12, 15])
      // Computed in the threads, with the helper at its own URL.
      expect(written.every((w) => w.threadId !== 0)).toBe(true)
      expect(new Set(written.map((w) => w.helperUrl))).toEqual(new Set([pathToFileURL(path.join(dir, "helper.ts")).href]))
    }), 120_000)
})

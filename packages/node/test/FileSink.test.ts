/**
 * File sinks and the temporary files of writers killed mid-write: the next
 * run of a sink removes those of its own directory and name pattern whose
 * process is dead, and leaves alone every other file, and the temporary
 * file of a writer that is still alive.
 */
import { Backend, CheckpointStore, Pipeline, Source } from "@curator/core"
import { FileSink } from "@curator/node"
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "./helpers.js"

/** Starts a node process that creates `file` as a half-written temporary file named with its own pid, then waits. */
const startWriter = (dir: string) =>
  Effect.promise(() =>
    new Promise<{ readonly pid: number; readonly file: string; readonly kill: () => Promise<void> }>((resolve, reject) => {
      const child = spawn(process.execPath, [
        "-e",
        `const f = require("node:path").join(${JSON.stringify(dir)}, "000001.json." + process.pid + ".k1ll3d.tmp");
         require("node:fs").writeFileSync(f, "[half"); console.log(f); setInterval(() => {}, 1000)`
      ], { stdio: ["ignore", "pipe", "inherit"] })
      child.on("error", reject)
      child.stdout.setEncoding("utf8").once("data", (line: string) =>
        resolve({
          pid: child.pid!,
          file: line.trim(),
          kill: () =>
            new Promise((done) => {
              child.once("exit", () => done())
              child.kill("SIGKILL")
            })
        }))
    })
  )

const runSink = (dir: string) =>
  Pipeline.run(
    Pipeline.withOptions(
      Pipeline.from(Source.make({ name: "Numbers", length: 3, items: (index) => Effect.succeed([index]) })).pipe(
        Pipeline.write(FileSink.json<number>({ dir }))
      ),
      { trackMetrics: false }
    )
  ).pipe(Effect.provide(Layer.mergeAll(CheckpointStore.layerMemory, Backend.layerFibers, Logger.remove(Logger.defaultLogger))))

describe("FileSink: temporary files of killed writers", () => {
  it.scoped("the next run removes a killed writer's temporary file, and nothing else", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const killed = yield* startWriter(dir)
      const alive = yield* startWriter(dir)
      yield* Effect.addFinalizer(() => Effect.promise(alive.kill))
      yield* Effect.promise(killed.kill)
      // Files that are not this sink's temporary files, or not in its directory.
      const others = [
        path.join(dir, "notes.tmp"),
        path.join(dir, "000002.json.tmp"),
        path.join(dir, "nested", `000003.json.${killed.pid}.abc.tmp`)
      ]
      for (const file of others) {
        fs.mkdirSync(path.dirname(file), { recursive: true })
        fs.writeFileSync(file, "keep")
      }
      expect(fs.existsSync(killed.file)).toBe(true)

      const result = yield* runSink(dir)

      expect(result.outcomes.map((outcome) => outcome._tag)).toEqual(["Completed", "Completed", "Completed"])
      expect(fs.existsSync(killed.file), "the killed writer's temporary file").toBe(false)
      expect(fs.existsSync(alive.file), "the live writer's temporary file").toBe(true)
      for (const file of others) expect(fs.existsSync(file), file).toBe(true)
      expect(fs.readdirSync(dir).filter((name) => name.endsWith(".json")).sort()).toEqual(["000000.json", "000001.json", "000002.json"])
    }), 30_000)
})

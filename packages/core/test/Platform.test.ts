/**
 * Core runs on any platform: no module of `@curator/core` imports a Node
 * built-in. Host facts, hashing and files come through services
 * (`Host`, `@effect/platform`'s `FileSystem`) or portable libraries.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const sources = path.resolve(import.meta.dirname, "../src")

const filesUnder = (dir: string): ReadonlyArray<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(path.join(dir, entry.name)) : entry.name.endsWith(".ts") ? [path.join(dir, entry.name)] : []
  )

describe("platform-free core", () => {
  it("no core source imports a node: module (or a Node built-in by its bare name)", () => {
    const files = filesUnder(sources)
    expect(files.length).toBeGreaterThan(10)
    const builtIn = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)["'](node:[^"']+|fs|os|path|crypto|v8|worker_threads|child_process|url)(?:\/[^"']*)?["']/
    const offenders = files.filter((file) => builtIn.test(fs.readFileSync(file, "utf8"))).map((file) => path.relative(sources, file))
    expect(offenders).toEqual([])
  })

  it("no core source reads the process (pid, working directory, environment) directly", () => {
    const offenders = filesUnder(sources)
      .filter((file) => /\bprocess\.(pid|cwd|env|memoryUsage|hrtime)\b/.test(fs.readFileSync(file, "utf8")))
      .map((file) => path.relative(sources, file))
    expect(offenders).toEqual([])
  })
})

/**
 * The dashboard page's files: its own HTML, script and style sheet, and
 * Chart.js from the package's dependencies, read once when the server
 * starts and served from memory by fixed names (no path from a request is
 * ever opened).
 */
import { Effect } from "effect"
import * as fs from "node:fs/promises"
import { createRequire } from "node:module"
import * as path from "node:path"
import { packageDir } from "../packageDir.js"

/** A file served by the dashboard. */
export interface Asset {
  readonly contentType: string
  readonly body: Uint8Array
}

const pageDirectory = path.join(packageDir(), "dashboard")

/**
 * Chart.js's self-contained browser build, next to the entry point its
 * package exports. Chart.js is an optional package of `@curator/node`, needed
 * by the dashboard only: without it, the error says what to install.
 */
const chartJsFile = () => {
  let entry: string
  try {
    entry = createRequire(path.join(packageDir(), "package.json")).resolve("chart.js")
  } catch {
    throw new Error("the dashboard needs the package chart.js, which is not installed: npm install chart.js@4")
  }
  return path.join(path.dirname(entry), "chart.umd.min.js")
}

/** Reads every asset, by the URL path it is served at; a missing file is a defect of the installation. */
export const load: Effect.Effect<ReadonlyMap<`/${string}`, Asset>> = Effect.promise(async () => {
  const files: ReadonlyArray<readonly [`/${string}`, string, string]> = [
    ["/", path.join(pageDirectory, "index.html"), "text/html; charset=utf-8"],
    ["/dashboard.js", path.join(pageDirectory, "dashboard.js"), "text/javascript; charset=utf-8"],
    ["/dashboard.css", path.join(pageDirectory, "dashboard.css"), "text/css; charset=utf-8"],
    ["/chart.umd.min.js", chartJsFile(), "text/javascript; charset=utf-8"]
  ]
  return new Map(
    await Promise.all(files.map(async ([url, file, contentType]) => [url, { contentType, body: await fs.readFile(file) }] as const))
  )
})

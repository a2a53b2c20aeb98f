#!/usr/bin/env node
/**
 * The `curator` executable. It runs the command line in this very process
 * — no child to pass signals to or to leave running if this process is
 * killed — from the compiled JavaScript: `npm run build` makes it, and in
 * the repository `npm ci` runs that build (`prepare`).
 *
 * Commands start from the bundle (`dist/bundle/curator.js`, a few files
 * instead of hundreds: Node 20 has no compile cache, and loading every
 * module file separately costs a second). `run` and `runner` load the
 * user's pipeline module, which imports `@curator/core` and `effect` from
 * `node_modules`: they start from `dist/bin.js`, so that the pipeline and
 * the code running it are the same modules (and worker threads find their
 * entry file). A bundle older than the compiled output (`tsc -b` ran since)
 * is not used.
 *
 * A checkout that was never built has no `dist/`: then the TypeScript
 * sources run, still in this process, through tsx (`source.mjs`) and the
 * `@curator/source` export condition (slower to start: every start compiles).
 */
import { existsSync, statSync } from "node:fs"
import { register } from "node:module"

const built = new URL("../dist/bin.js", import.meta.url)
const bundle = new URL("../dist/bundle/curator.js", import.meta.url)

/** Modification time in ms, or undefined when the file is missing. */
const mtime = (url) => {
  try {
    return statSync(url).mtimeMs
  } catch {
    return undefined
  }
}

/** The bundle is usable when it exists and no package was compiled after it. */
const bundleFresh = () => {
  const bundled = mtime(bundle)
  if (bundled === undefined) return false
  return ["../dist/.tsbuildinfo", "../../core/dist/.tsbuildinfo", "../../sql/dist/.tsbuildinfo"]
    .every((file) => (mtime(new URL(file, import.meta.url)) ?? 0) <= bundled)
}

const runsPipelines = process.argv.slice(2).some((arg) => arg === "run" || arg === "runner")

if (!runsPipelines && bundleFresh()) {
  await import(bundle.href)
} else if (existsSync(built)) {
  await import(built.href)
} else {
  await import("./source.mjs")
  // What `node --conditions=@curator/source` would do: the workspace packages resolve to their sources.
  const condition = `export const resolve = (specifier, context, next) =>
    next(specifier, { ...context, conditions: [...context.conditions, "@curator/source"] })`
  register(`data:text/javascript,${encodeURIComponent(condition)}`)
  await import(new URL("../src/bin.ts", import.meta.url).href)
}

#!/usr/bin/env node
/**
 * The `curator` executable. It runs the command line in this very process
 * — no child to pass signals to or to leave running if this process is
 * killed — from the compiled JavaScript: `npm run build` makes it, and in
 * the repository `npm ci` runs that build (`prepare`).
 *
 * Commands start from a bundle (`scripts/bundle.mjs`): loading every
 * module file separately costs a second. The read commands run the
 * CommonJS bundle from V8's cached code of it (`codeCache.mjs`: Node 20
 * has no compile cache of its own); the commands that import other modules
 * at run time (a pipeline module, tsx, `open`) cannot run in that script
 * and start from the ES module bundle (`dist/bundle/curator.js`). `run`
 * and `runner` load the user's pipeline module, which imports
 * `@curator/core` and `effect` from `node_modules`: they start from
 * `dist/bin.js`, so that the pipeline and the code running it are the same
 * modules (and worker threads find their entry file). A bundle older than
 * the compiled output (`tsc -b` ran since) is not used.
 *
 * A checkout that was never built has no `dist/`: then the TypeScript
 * sources run, still in this process, through tsx (`source.mjs`) and the
 * `@curator/source` export condition (slower to start: every start compiles).
 */
import { existsSync, statSync } from "node:fs"
import { register } from "node:module"
import { fileURLToPath } from "node:url"

const built = new URL("../dist/bin.js", import.meta.url)
const bundle = new URL("../dist/bundle/curator.js", import.meta.url)
const cachedBundle = new URL("../dist/bundle/curator.cjs", import.meta.url)

/** Modification time in ms, or undefined when the file is missing. */
const mtime = (url) => {
  try {
    return statSync(url).mtimeMs
  } catch {
    return undefined
  }
}

/** A bundle is usable when it exists and no package was compiled after it. */
const fresh = (bundle) => {
  const bundled = mtime(bundle)
  if (bundled === undefined) return false
  return ["../dist/.tsbuildinfo", "../../core/dist/.tsbuildinfo", "../../sql/dist/.tsbuildinfo"]
    .every((file) => (mtime(new URL(file, import.meta.url)) ?? 0) <= bundled)
}

const args = process.argv.slice(2)
const runsPipelines = args.some((arg) => arg === "run" || arg === "runner")
// (A target may be a pipeline module: `curator status ./pipeline.ts`.)
const importsModules = args.some((arg) => ["dashboard", "diff", "gather", "plan"].includes(arg) || /\.[cm]?[jt]sx?$/.test(arg))

if (!runsPipelines && !importsModules && fresh(cachedBundle)) {
  const { runCached } = await import("./codeCache.mjs")
  runCached(fileURLToPath(cachedBundle))
} else if (!runsPipelines && fresh(bundle)) {
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

#!/usr/bin/env node
/**
 * The `curator` executable. It runs the command line in this very process
 * — no child to pass signals to or to leave running if this process is
 * killed — from the compiled JavaScript (`dist/bin.js`): `npm run build`
 * makes it, and in the repository `npm ci` runs that build (`prepare`).
 *
 * A checkout that was never built has no `dist/`: then the TypeScript
 * sources run, still in this process, through tsx (`source.mjs`) and the
 * `@curator/source` export condition (slower to start: every start compiles).
 */
import { existsSync } from "node:fs"
import { register } from "node:module"

const built = new URL("../dist/bin.js", import.meta.url)

if (existsSync(built)) {
  await import(built.href)
} else {
  await import("./source.mjs")
  // What `node --conditions=@curator/source` would do: the workspace packages resolve to their sources.
  const condition = `export const resolve = (specifier, context, next) =>
    next(specifier, { ...context, conditions: [...context.conditions, "@curator/source"] })`
  register(`data:text/javascript,${encodeURIComponent(condition)}`)
  await import(new URL("../src/bin.ts", import.meta.url).href)
}

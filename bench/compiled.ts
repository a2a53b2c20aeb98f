/**
 * Bench scripts run as compiled JavaScript against Curator's `dist`, so a
 * figure measures Curator rather than tsx (whose loader costs ~170 MB of
 * RSS and 3–4× the module-loading time, and whose keep-names helper was
 * ~15% of `bench overhead`'s untracked profile): a TypeScript file of
 * `bench/` is compiled with esbuild (tsx's) into
 * `node_modules/.cache/curator-bench/`, where `@curator/*` resolve to their
 * `dist`. Build it first: `npx tsc -b tsconfig.build.json`.
 */
import { spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const out = path.join(root, "node_modules", ".cache", "curator-bench")

/**
 * The compiled copy of `file` (a path relative to `bench/`), made now. The
 * bench files it imports (relative imports) are compiled into it, since
 * they would not resolve from the cache; packages stay imports, resolved
 * from the cache as from `bench/` (`@curator/*` to their `dist`).
 */
export const compiled = (file: string): string => {
  const dist = path.join(root, "packages", "node", "dist", "index.js")
  if (!fs.existsSync(dist)) throw new Error(`${dist} is missing: build Curator first (npx tsc -b tsconfig.build.json)`)
  const esbuild = createRequire(createRequire(import.meta.url).resolve("tsx/package.json"))("esbuild") as {
    buildSync: (options: Record<string, unknown>) => unknown
  }
  const target = path.join(out, file.replace(/\.ts$/, ".mjs"))
  esbuild.buildSync({
    entryPoints: [path.join(root, "bench", file)],
    outfile: target,
    bundle: true,
    packages: "external",
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "error"
  })
  return target
}

/**
 * Runs a compiled script (see {@link compiled}) in a process of its own and
 * returns the JSON lines it prints. Its other lines (Curator's log lines of
 * each run's start and end) and its stderr pass through; a script that
 * fails throws with its stderr.
 */
export const runScript = (script: string, args: ReadonlyArray<string>): ReadonlyArray<Record<string, unknown>> => {
  const child = spawnSync(process.execPath, [script, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 1 << 24
  })
  if (child.status !== 0) throw new Error(`bench ${path.basename(script)} ${args.join(" ")} failed: ${child.stderr}`)
  process.stderr.write(child.stderr)
  const lines = child.stdout.trim().split("\n")
  for (const line of lines) if (!line.startsWith("{")) console.log(line)
  return lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>)
}

/** `file` (a path relative to `bench/`) compiled now and run by {@link runScript}. */
export const runCompiled = (file: string, args: ReadonlyArray<string>): ReadonlyArray<Record<string, unknown>> =>
  runScript(compiled(file), args)

/**
 * Bundles the `curator` executable's read commands into a few files
 * (`dist/bundle/`), after `tsc -b` compiled `dist/`. Node 20 has no module
 * compile cache, and loading the hundreds of ESM files `effect`,
 * `@effect/cli` and the packages are made of costs over a second before any
 * command runs; esbuild (maintained, the bundler tsx already brings) joins
 * and tree-shakes them. What a command loads on demand (PostgreSQL, the
 * cluster, the dashboard) stays in chunks of its own (`splitting`); native
 * and optional packages stay outside, resolved at run time as before.
 *
 * `bin/curator.mjs` uses the bundle when it is at least as new as the
 * compiled output, and otherwise `dist/bin.js`.
 */
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8"))
const outdir = path.join(packageDir, "dist", "bundle")

// Native addons, and the optional packages whose absence a command reports by name.
const external = [
  "better-sqlite3",
  "msgpackr-extract",
  "pg-native",
  "cpu-features",
  "bufferutil",
  "utf-8-validate",
  ...Object.keys(manifest.peerDependencies ?? {}),
  "pg",
  "@opentelemetry/*"
]

const mtime = (file) => {
  try {
    return fs.statSync(file).mtimeMs
  } catch {
    return undefined
  }
}

// Up to date (no package compiled since the last bundle): nothing to do, unless asked with --force.
const bundled = mtime(path.join(outdir, "curator.js"))
const compiled = ["node", "core", "sql"].map((name) => mtime(path.join(packageDir, "..", name, "dist", ".tsbuildinfo")) ?? Infinity)
if (!process.argv.includes("--force") && bundled !== undefined && compiled.every((time) => time <= bundled)) process.exit(0)

fs.rmSync(outdir, { recursive: true, force: true })
await esbuild.build({
  entryPoints: { curator: path.join(packageDir, "dist", "bin.js") },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external,
  logLevel: "warning",
  legalComments: "none",
  // Some dependencies are CommonJS and call `require`: give the ESM bundle one.
  banner: { js: "import { createRequire as __curatorRequire } from \"node:module\"; const require = __curatorRequire(import.meta.url);" }
})

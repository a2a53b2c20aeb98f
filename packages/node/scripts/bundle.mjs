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
 * The read commands start from a second, CommonJS bundle (`curator.cjs`)
 * with a V8 code cache beside it (`curator.cjs.cache`): Node 20 caches no
 * compiled ES module, but `vm.Script` takes a script's cached code, which
 * saves compiling the bundle on every start. The cache is made here, by
 * running `curator --help` once with `CURATOR_CODE_CACHE=write`; a cache
 * that another Node version refuses is made again by the next start that
 * may write it (`bin/codeCache.mjs`).
 *
 * `bin/curator.mjs` uses the bundles when they are at least as new as the
 * compiled output, and otherwise `dist/bin.js`.
 */
import { execFileSync } from "node:child_process"
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

/** What both bundles are built with: the compiled executable, its dependencies in, native and optional packages out. */
const common = {
  entryPoints: { curator: path.join(packageDir, "dist", "bin.js") },
  outdir,
  bundle: true,
  platform: "node",
  target: "node20",
  external,
  logLevel: "warning",
  legalComments: "none"
}

fs.rmSync(outdir, { recursive: true, force: true })
await esbuild.build({
  ...common,
  splitting: true,
  format: "esm",
  // Some dependencies are CommonJS and call `require`: give the ESM bundle one.
  banner: { js: "import { createRequire as __curatorRequire } from \"node:module\"; const require = __curatorRequire(import.meta.url);" }
})

/**
 * What the read commands never load, left out of their bundle: the modules
 * only `run`, `runner` and `dashboard` import (they start from the other
 * bundle or `dist/`), each replaced by a module that says so if reached.
 */
const notForReadCommands = {
  name: "not-for-read-commands",
  setup(build) {
    build.onResolve({ filter: /^\.\.\/\.\.\/(ClusterBackend|ClusterRunner|Dashboard|WorkerBackend)\.js$/ }, (args) =>
      args.kind === "dynamic-import" ? { path: args.path, namespace: "not-for-read-commands" } : undefined
    )
    build.onLoad({ filter: /.*/, namespace: "not-for-read-commands" }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not in the read commands' bundle`)})`,
      loader: "js"
    }))
  }
}

// The read commands' bundle: one CommonJS file (what `vm.Script` can cache),
// whose `import.meta.url` is the file's own URL as in the ES module build.
await esbuild.build({
  ...common,
  plugins: [notForReadCommands],
  outExtension: { ".js": ".cjs" },
  format: "cjs",
  define: { "import.meta.url": "__curatorModuleUrl" },
  banner: { js: "var __curatorModuleUrl = require(\"node:url\").pathToFileURL(__filename).href;" }
})
execFileSync(process.execPath, [path.join(packageDir, "bin", "curator.mjs"), "--help"], {
  env: { ...process.env, CURATOR_CODE_CACHE: "write" },
  stdio: "ignore"
})

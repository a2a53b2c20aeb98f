/**
 * Bench scripts run as compiled JavaScript against Curator's `dist`, so a
 * figure measures Curator rather than tsx (whose loader costs ~170 MB of
 * RSS and 3–4× the module-loading time): a TypeScript file of `bench/` is
 * transpiled with esbuild (tsx's) into `node_modules/.cache/curator-bench/`,
 * where `@curator/*` resolve to their `dist`. Build it first:
 * `npx tsc -b tsconfig.build.json`.
 */
import { createRequire } from "node:module"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const out = path.join(root, "node_modules", ".cache", "curator-bench")

/** The compiled copy of `file` (a path relative to `bench/`), made now. */
export const compiled = (file: string): string => {
  const dist = path.join(root, "packages", "node", "dist", "index.js")
  if (!fs.existsSync(dist)) throw new Error(`${dist} is missing: build Curator first (npx tsc -b tsconfig.build.json)`)
  const esbuild = createRequire(createRequire(import.meta.url).resolve("tsx/package.json"))("esbuild") as {
    transformSync: (source: string, options: Record<string, unknown>) => { code: string }
  }
  const source = path.join(root, "bench", file)
  const target = path.join(out, file.replace(/\.ts$/, ".mjs"))
  fs.mkdirSync(path.dirname(target), { recursive: true })
  const { code } = esbuild.transformSync(fs.readFileSync(source, "utf8"), {
    loader: "ts",
    format: "esm",
    platform: "node",
    target: "node20",
    sourcefile: source
  })
  fs.writeFileSync(target, code)
  return target
}

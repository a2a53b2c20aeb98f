/**
 * TypeScript transpiled once for a pool of worker threads. Registering tsx
 * in each thread made every thread transpile, and made every module it
 * loads — effect's hundreds of JavaScript files too — go through tsx's
 * resolution: 3–4× the time of loading the same graph without it. Instead
 * the parent finds the TypeScript files reachable from the thread's entry
 * and the pipeline module (stopping at installed packages), transpiles each
 * once with esbuild, and hands the threads the JavaScript and the
 * resolution of each import of a TypeScript file; the threads' module hook
 * (internal/moduleImport.ts) serves them at their own URLs, so
 * `import.meta.url`, relative imports and package resolution stay as they
 * were. esbuild is the one tsx depends on, so it is there whenever tsx is;
 * without it (or when the graph cannot be built) the threads register tsx
 * as before.
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

/** JavaScript by the file URL of its TypeScript source, and the URL each import of a TypeScript file resolves to. */
export interface Transpiled {
  readonly sources: Readonly<Record<string, string>>
  /** Keyed by `${importer URL}\0${specifier}`. */
  readonly resolutions: Readonly<Record<string, string>>
}

export const typeScript = /\.[cm]?tsx?$/

/** esbuild's JavaScript API as this module uses it (esbuild is not a dependency of Curator: tsx's is used). */
interface Esbuild {
  readonly build: (options: Record<string, unknown>) => Promise<{
    readonly metafile: {
      readonly inputs: Record<string, { readonly imports: ReadonlyArray<{ readonly path: string; readonly original?: string; readonly external?: boolean }> }>
    }
  }>
  readonly transform: (source: string, options: Record<string, unknown>) => Promise<{ readonly code: string }>
}

const loadEsbuild = async (): Promise<Esbuild | undefined> => {
  try {
    const fromTsx = createRequire(createRequire(import.meta.url).resolve("tsx/package.json"))
    return (await import(pathToFileURL(fromTsx.resolve("esbuild")).href)) as Esbuild
  } catch {
    return undefined
  }
}

/** Whether Node loads this TypeScript file as an ES module (`.mts`, or `.ts` in a package of type "module"); others stay with tsx. */
const isEsModule = (file: string): boolean => {
  if (/\.mtsx?$/.test(file)) return true
  if (/\.ctsx?$/.test(file)) return false
  for (let dir = path.dirname(file);; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json")
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, "utf8")).type === "module"
      } catch {
        return false
      }
    }
    if (path.dirname(dir) === dir) return false
  }
}

/**
 * Transpiles the TypeScript reachable from `entries` (absolute paths), as
 * Node resolves it with `conditions`. Undefined when esbuild is missing or
 * the graph cannot be built (the threads then use tsx, which reports why).
 */
export const transpile = async (
  entries: ReadonlyArray<string>,
  conditions: ReadonlyArray<string>,
  /** Where a bare import not found from its importer is resolved again (Curator's own package, as the threads' hook does). */
  fallbackDir: string
): Promise<Transpiled | undefined> => {
  const typeScriptEntries = entries.filter((entry) => typeScript.test(entry) && fs.existsSync(entry))
  if (typeScriptEntries.length === 0) return undefined
  const esbuild = await loadEsbuild()
  if (esbuild === undefined) return undefined
  const root = path.parse(typeScriptEntries[0]!).root
  let metafile: Awaited<ReturnType<Esbuild["build"]>>["metafile"]
  try {
    metafile = (await esbuild.build({
      entryPoints: [...typeScriptEntries],
      absWorkingDir: root,
      outdir: path.join(root, "curator-transpile-unused"),
      bundle: true,
      write: false,
      metafile: true,
      format: "esm",
      platform: "node",
      conditions: [...conditions],
      logLevel: "silent",
      plugins: [{
        name: "installed-packages-external",
        setup: (build: {
          onResolve: (
            options: { filter: RegExp },
            callback: (args: Record<string, unknown>) => Promise<Record<string, unknown> | undefined>
          ) => void
          resolve: (specifier: string, options: Record<string, unknown>) => Promise<{ path: string; errors: ReadonlyArray<unknown> }>
        }) => {
          // A bare import is followed only when it resolves to TypeScript
          // outside node_modules (a workspace package's sources); anything
          // else Node loads itself. Not found from its importer, it is
          // looked for from Curator's package, as the threads' hook does.
          build.onResolve({ filter: /^[^./]/ }, async (args) => {
            if (args.pluginData === "again") return undefined
            const specifier = args.path as string
            if (specifier.startsWith("node:")) return { path: specifier, external: true }
            const resolveFrom = (resolveDir: unknown) =>
              build.resolve(specifier, { kind: args.kind, importer: args.importer, resolveDir, pluginData: "again" })
            let resolved = await resolveFrom(args.resolveDir)
            if (resolved.errors.length > 0) resolved = await resolveFrom(fallbackDir)
            const followed = resolved.errors.length === 0 && typeScript.test(resolved.path) &&
              !resolved.path.includes(`${path.sep}node_modules${path.sep}`)
            return followed ? { path: resolved.path } : { path: specifier, external: true }
          })
        }
      }]
    })).metafile
  } catch {
    return undefined
  }
  const sources: Record<string, string> = {}
  const resolutions: Record<string, string> = {}
  const served = (file: string) => typeScript.test(file) && isEsModule(file)
  for (const [input, { imports }] of Object.entries(metafile.inputs)) {
    const file = path.resolve(root, input)
    if (!served(file)) continue
    const url = pathToFileURL(file).href
    const source = fs.readFileSync(file, "utf8")
    sources[url] = (await esbuild.transform(source, {
      loader: file.endsWith("x") ? "tsx" : "ts",
      format: "esm",
      platform: "node",
      target: `node${process.versions.node.split(".")[0]}`,
      sourcefile: file,
      sourcemap: "inline"
    })).code
    for (const imported of imports) {
      const target = path.resolve(root, imported.path)
      if (imported.external === true || imported.original === undefined || !served(target)) continue
      resolutions[`${url}\0${imported.original}`] = pathToFileURL(target).href
    }
  }
  return { sources, resolutions }
}

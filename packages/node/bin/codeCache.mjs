/**
 * Runs a CommonJS bundle from V8's cached code of it, as Node 20's own
 * loader cannot: `vm.Script` compiles the file with the cache beside it
 * (`<file>.cache`), so a start deserializes the compiled bundle instead of
 * parsing and compiling 4 MB of JavaScript.
 *
 * The cache is made by `scripts/bundle.mjs` (`CURATOR_CODE_CACHE=write`);
 * `CURATOR_CODE_CACHE=report` says whether a start used it.
 * V8 refuses a cache made by another version or with other flags; the
 * script then compiles as usual, and the cache is made again at exit when
 * the package directory can be written (one atomic rename, so concurrent
 * starts never read half a file).
 *
 * The bundle is read as Latin-1: esbuild escapes every non-ASCII character
 * of strings and identifiers, so only comments could hold one, and a
 * one-byte string is read and hashed faster than decoded UTF-8.
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as vm from "node:vm"

/** Runs the bundle at `filename` as Node would run a CommonJS module. */
export const runCached = (filename) => {
  const cacheFile = `${filename}.cache`
  let cachedData
  try {
    cachedData = fs.readFileSync(cacheFile)
  } catch {
    cachedData = undefined
  }
  const source = fs.readFileSync(filename, "latin1")
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename,
    cachedData
  })
  const stale = cachedData === undefined || script.cachedDataRejected === true
  // CURATOR_CODE_CACHE=report: say on stderr whether this start used the cache (for a slow start, and the tests).
  if (process.env.CURATOR_CODE_CACHE === "report") {
    process.stderr.write(`code cache: ${cachedData === undefined ? "missing" : stale ? "refused" : "used"}\n`)
  }
  if (process.env.CURATOR_CODE_CACHE === "write" || stale) {
    process.once("exit", () => {
      const temporary = `${cacheFile}.${process.pid}.tmp`
      try {
        fs.writeFileSync(temporary, script.createCachedData())
        fs.renameSync(temporary, cacheFile)
      } catch {
        // A read-only installation starts without the cache; nothing else depends on it.
        fs.rmSync(temporary, { force: true })
      }
    })
  }
  const module = { exports: {} }
  script.runInThisContext()(module.exports, createRequire(filename), module, filename, path.dirname(filename))
}

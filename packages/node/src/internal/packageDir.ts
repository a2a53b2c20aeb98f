/**
 * The directory of the `@curator/node` package, found by resolving its own
 * `package.json` (a self-reference through its `exports`) rather than by a
 * path relative to the calling module: the same code runs from `src/`,
 * from `dist/` and from the bundled executable (`dist/bundle/`), which sit
 * at different depths.
 */
import { createRequire } from "node:module"
import * as path from "node:path"

/** The package's directory (where its `package.json`, `dashboard/` and `dist/` are). */
export const packageDir = (): string =>
  path.dirname(createRequire(import.meta.url).resolve("@curator/node/package.json"))

/** The package's manifest, or `undefined` when it cannot be read. */
export const manifest = (): Record<string, any> | undefined => {
  try {
    return createRequire(import.meta.url)("@curator/node/package.json")
  } catch {
    return undefined
  }
}

/**
 * Where the `curator` command line's sources are and how node runs them, for
 * anything that starts `curator` as a subprocess: the command-line tests
 * (`curator.ts`) and the standalone kill torture (`npm run test:torture`).
 * No test framework is imported here, so a plain script can use it.
 */
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))

/** The repository's root. */
export const repoRoot = path.resolve(here, "../../../..")

/** The command line's entry in the sources. */
export const binSource = path.resolve(here, "../../src/bin.ts")

/** The `curator` executable of the package. */
export const binScript = path.resolve(here, "../../bin/curator.mjs")

/** The fixture pipelines (`pipeline`, `failing`, `notAPipeline`). */
export const fixture = path.resolve(here, "../fixtures/cliPipelines.ts")

/** What `bin/curator.mjs` imports first to run the sources: tsx, after the dependencies. */
const sourceLoader = pathToFileURL(path.resolve(here, "../../bin/source.mjs")).href

/** The node arguments that run `curator` from the sources, as `bin/curator.mjs` does. */
export const nodeArgs = (args: ReadonlyArray<string>): Array<string> => [
  "--conditions=@curator/source",
  "--import",
  sourceLoader,
  binSource,
  ...args
]

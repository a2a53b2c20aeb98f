/**
 * A temporary directory handed to a test fixture through an environment
 * variable (the fixture reads it when it is imported, and so do the threads
 * and runners that load it): made now, removed and the variable restored
 * after the file's tests.
 */
import { afterAll } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const scratchInEnv = (prefix: string, variable: string): string => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  const previous = process.env[variable]
  process.env[variable] = scratch
  afterAll(() => {
    fs.rmSync(scratch, { recursive: true, force: true })
    if (previous === undefined) delete process.env[variable]
    else process.env[variable] = previous
  })
  return scratch
}

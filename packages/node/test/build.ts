/**
 * Brings the packages' compiled output (`dist/`) up to date with the
 * sources, for the tests that run what users run — the packed packages and
 * the `curator` executable — rather than the sources. `tsc -b` is
 * incremental (about a second when nothing changed); a lock directory keeps
 * two test files from building at once.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const lock = path.join(repoRoot, "node_modules", ".cache", "curator-build.lock")

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Takes the lock, waiting for another test process's build; a lock its dead owner left is taken over. */
const acquire = async (): Promise<void> => {
  fs.mkdirSync(path.dirname(lock), { recursive: true })
  for (;;) {
    try {
      fs.mkdirSync(lock)
      fs.writeFileSync(path.join(lock, "pid"), String(process.pid))
      return
    } catch {
      const owner = Number(fs.readFileSync(path.join(lock, "pid"), { encoding: "utf8", flag: "a+" }))
      if (owner > 0 && !alive(owner)) fs.rmSync(lock, { recursive: true, force: true })
      else await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
}

/** Runs `tsc -b tsconfig.build.json` at the repository's root, then the executable's bundle, under the lock. */
export const ensureBuilt = async (): Promise<void> => {
  await acquire()
  try {
    execFileSync(process.execPath, [path.join(repoRoot, "node_modules/typescript/bin/tsc"), "-b", "tsconfig.build.json"], {
      cwd: repoRoot,
      stdio: "pipe"
    })
    // The executable's bundle (`npm run build` makes it too); it skips itself when up to date.
    execFileSync(process.execPath, [path.join(repoRoot, "packages/node/scripts/bundle.mjs")], { cwd: repoRoot, stdio: "pipe" })
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

/** The repository's root. */
export { repoRoot }

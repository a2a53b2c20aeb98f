/**
 * `npm run test:torture [indices] [kills] [seed]`: the kill torture at a
 * large size (default 10,000 indices, 50 kills, one attempt in three on
 * worker threads), in a temporary directory removed afterwards. Prints the
 * report as JSON; exits 1 if any promise was broken.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as KillTorture from "./killTorture.js"

const [indices = 10_000, kills = 50, seed = Date.now() % 1_000_000] = process.argv.slice(2).map(Number)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "curator-torture-"))
const removeDir = () => fs.rmSync(dir, { recursive: true, force: true })
// Ctrl-C reaches the curator process under test too; leave no temporary files behind.
process.once("SIGINT", () => {
  removeDir()
  process.exit(130)
})
try {
  const report = await KillTorture.run({
    dir,
    indices,
    kills,
    seed,
    backends: ["fibers", "fibers", "workers"],
    concurrency: 4,
    delayMs: 4,
    log: (line) => process.stderr.write(`${line}\n`)
  })
  process.stdout.write(JSON.stringify(report, null, 2) + "\n")
  process.exitCode = report.violations.length === 0 && report.kills >= Math.min(kills, 20) ? 0 : 1
} finally {
  removeDir()
}

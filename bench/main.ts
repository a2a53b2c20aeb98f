/**
 * `npm run bench [workload] [n]`: runs one workload (or all of them) and
 * prints one JSON line per workload.
 */
import { workloads } from "./workloads.js"

const [name, size] = process.argv.slice(2)
const names = name === undefined ? Object.keys(workloads) : [name]

for (const workload of names) {
  const entry = workloads[workload as keyof typeof workloads]
  if (entry === undefined) {
    console.error(`unknown workload "${workload}"; choose one of: ${Object.keys(workloads).join(", ")}`)
    process.exit(2)
  }
  const n = size === undefined ? entry.defaultN : Number(size)
  if (!Number.isSafeInteger(n) || n <= 0) {
    console.error(`n must be a positive integer, got "${size}"`)
    process.exit(2)
  }
  // A workload with several variants prints one line per variant.
  const measured = await entry.run(n)
  for (const line of Array.isArray(measured) ? measured : [measured]) console.log(JSON.stringify(line))
}

/**
 * One process for `bench cpu`'s pool-start figures, run as compiled
 * JavaScript against Curator's `dist` (bench/compiled.ts): the time to start
 * a pool of 2 threads loading MODULE (wall and this process's CPU, threads
 * included), and the floor: 2 bare threads that only import MODULE (a
 * TypeScript one through tsx, as a pipeline must be loaded somehow).
 *
 *   node poolStart.mjs pool|floor MODULE
 */
import { WorkerBackend } from "@curator/node"
import { Effect } from "effect"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"

const [mode, module] = process.argv.slice(2) as [string, string]
const started = performance.now()
const cpuAtStart = process.cpuUsage()

const figures = () => {
  const cpu = process.cpuUsage(cpuAtStart)
  return JSON.stringify({ seconds: (performance.now() - started) / 1000, cpu_seconds: (cpu.user + cpu.system) / 1e6 })
}

if (mode === "pool") {
  // Measured before the scope closes the threads.
  console.log(await Effect.runPromise(Effect.scoped(Effect.map(WorkerBackend.make({ module, threads: 2 }), figures))))
} else {
  const tsx = module.endsWith(".ts") ? import.meta.resolve("tsx/esm/api") : undefined
  const load = tsx === undefined
    ? `import(${JSON.stringify(pathToFileURL(module).href)})`
    : `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(pathToFileURL(module).href)}) })`
  await Promise.all([0, 1].map(() =>
    new Promise<void>((resolve, reject) => {
      const worker = new Worker(`${load}.then(() => import("node:worker_threads")).then((wt) => wt.parentPort.postMessage(0))`, {
        eval: true
      })
      worker.once("message", () => void worker.terminate().then(() => resolve()))
      worker.once("error", reject)
    })
  ))
  console.log(figures())
}

import { availableParallelism } from "node:os"
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // Each package's own tests, the cross-package tests in test/, and the
    // cluster tests, run last (packages/node/vitest.cluster.config.ts).
    projects: ["packages/*", "test", "packages/node/vitest.cluster.config.ts"],
    // Vitest runs one file at a time on a 2-core machine (its default is a
    // worker per core but one). Most files spend their time waiting on
    // threads, runner processes, a browser and timers, so two at once halve
    // the wait there: measured on 2 cores, 751 s → 584 s for the suite.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    minWorkers: 1
  }
})

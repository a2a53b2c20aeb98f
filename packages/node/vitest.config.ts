import { defineProject } from "vitest/config"

export default defineProject({
  ssr: { resolve: { conditions: ["@curator/source"] } },
  // The cluster tests are a project of their own (vitest.cluster.config.ts).
  test: { name: "node", include: ["test/**/*.test.ts"], exclude: ["test/ClusterBackend.test.ts"] }
})

import { defineProject } from "vitest/config"

// The cluster tests start several runner processes at once: they run after
// every other project (groupOrder 1), so that their load cannot starve the
// timing-sensitive tests of the others on a small CI machine.
export default defineProject({
  ssr: { resolve: { conditions: ["@curator/source"] } },
  test: { name: "node-cluster", include: ["test/ClusterBackend.test.ts"], sequence: { groupOrder: 1 } }
})

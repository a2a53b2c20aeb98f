import { defineProject } from "vitest/config"

export default defineProject({
  ssr: { resolve: { conditions: ["@curator/source"] } },
  test: { name: "formats", include: ["test/**/*.test.ts"] }
})

import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: ["packages/*", "bench", "examples"],
    reporters: ["default", "./scripts/plain-summary.ts"]
  }
})

import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The JSON report feeds the one-line summary of .ci/run.
    reporters: ["default", "json"],
    outputFile: { json: ".vitest-report.json" }
  }
})

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["./tests/support/global-setup.mjs"],
    setupFiles: ["./tests/support/yield-between-tests.mjs"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ["default", "./tests/support/summary-reporter.mjs"],
  },
});

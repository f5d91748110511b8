import { defineConfig } from "vitest/config";

// The suite StrykerJS runs against each mutant: the in-process tests. Tests that spawn the writer as a
// child process (process, cli) are left out: coverage cannot see into a child, and they are slow.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/process.test.ts", "test/cli.test.ts", "**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

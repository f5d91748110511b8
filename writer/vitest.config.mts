import { defineConfig } from "vitest/config";

// The writer's own suite: pure Node, local HTTP servers on loopback and child processes only.
// Tests that spawn a process and kill it need more than the default 5 s on a shared 2-core machine.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

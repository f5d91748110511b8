import { defineConfig } from "vitest/config";

// The chaos suite (`npm run test:chaos`, `scripts/chaos.sh`): the built writer against a real influxd
// under faults. One scenario at a time: each kills and freezes processes and measures memory and time.
export default defineConfig({
  test: {
    include: ["test/chaos/**/*.chaos.ts"],
    testTimeout: 150_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});

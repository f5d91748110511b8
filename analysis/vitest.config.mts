import { defineConfig } from "vitest/config";

// The analysis package's own suite: pure Node (pattern keys, aggregation, configuration, rendering).
// Its tests against a real influxd and a real Chromium live in the root integration suite.
export default defineConfig({
  test: {
    projects: [{ test: { name: "unit", include: ["test/**/*.test.ts"] } }],
  },
});

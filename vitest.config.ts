import { defineConfig } from "vitest/config";

// Suites: `unit` needs nothing but Node; `integration` and `e2e` need a real influxd (and the
// real Pulumi engine for e2e) on PATH, provided by scripts/install-tools.sh; `homeassistant` needs
// influxd and a real Home Assistant (`hass`, from scripts/install-homeassistant.sh).
export default defineConfig({
  test: {
    projects: [
      // Declaring a program under mocks serialises every dynamic provider: seconds on a busy machine.
      { test: { name: "unit", include: ["test/unit/**/*.test.ts", "policy/**/*.test.ts"], hookTimeout: 60_000 } },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      // The writer image in a real Docker engine; scripts/ci-docker.sh builds the image and runs it.
      {
        test: {
          name: "docker",
          include: ["test/docker/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      // A real Home Assistant (scripts/install-homeassistant.sh) and a real influxd.
      {
        test: {
          name: "homeassistant",
          include: ["test/homeassistant/**/*.test.ts"],
          testTimeout: 900_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

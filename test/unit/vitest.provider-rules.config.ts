import { defineConfig } from "vitest/config";

// The tests StrykerJS runs against mutants of the provider's check/diff rules (stryker.provider.config.json).
export default defineConfig({
  test: {
    include: ["test/unit/provider-check.test.ts", "test/unit/provider-diff.test.ts"],
  },
});

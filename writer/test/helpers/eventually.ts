import { vi } from "vitest";

/** Polls until the expectation holds; generous, because the machine running the tests may be busy. */
export const eventually = <T>(check: () => T | Promise<T>) => vi.waitFor(check, { timeout: 10_000, interval: 10 });

/** Retry timing: the jitter window of each attempt, its bounds, `Retry-After`, and `sleep`'s clean-up. */
import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_RETRY, MAX_RETRY_AFTER_MS, retryDelayMs, sleep } from "../src/backoff";

const policy = { baseMs: 1000, maxMs: 60_000 };
const at = (value: number) => () => value;

describe("retryDelayMs", () => {
  it.each([
    // attempt, random, delay: the window of attempt n is [ceiling/2, ceiling], ceiling = min(max, base·2^(n-1)).
    [1, 0, 500],
    [1, 1, 1000],
    [1, 0.5, 750],
    [2, 0, 1000],
    [2, 1, 2000],
    [3, 0.25, 2500],
    [7, 1, 60_000],
    [7, 0, 30_000],
    [50, 0, 30_000],
    // An attempt below 1 counts as the first.
    [0, 1, 1000],
    [-3, 0, 500],
  ])("attempt %d with random %d waits %d ms", (attempt, random, delay) => {
    expect(retryDelayMs(attempt, policy, undefined, at(random))).toBe(delay);
  });

  it.each([
    // Retry-After, random, delay: the server's wait plus up to 10 % jitter, capped at 15 minutes.
    [5000, 0, 5000],
    [5000, 1, 5500],
    [5000, 0.5, 5250],
    [0, 1, 0],
    [MAX_RETRY_AFTER_MS * 4, 0, MAX_RETRY_AFTER_MS],
    [MAX_RETRY_AFTER_MS * 4, 1, MAX_RETRY_AFTER_MS * 1.1],
  ])("Retry-After %d ms with random %d waits %d ms, whatever the attempt", (retryAfter, random, delay) => {
    expect(retryDelayMs(1, policy, retryAfter, at(random))).toBeCloseTo(delay, 6);
    expect(retryDelayMs(40, policy, retryAfter, at(random))).toBeCloseTo(delay, 6);
  });

  it("caps Retry-After at 15 minutes and the default backoff at 1 s to 60 s", () => {
    expect(MAX_RETRY_AFTER_MS).toBe(900_000);
    expect(DEFAULT_RETRY).toEqual({ baseMs: 1000, maxMs: 60_000 });
  });

  it("uses Math.random for the jitter by default, inside the attempt's window", () => {
    for (let i = 0; i < 50; i++) {
      const delay = retryDelayMs(3, policy);
      expect(delay).toBeGreaterThanOrEqual(2000);
      expect(delay).toBeLessThanOrEqual(4000);
      const after = retryDelayMs(3, policy, 10_000);
      expect(after).toBeGreaterThanOrEqual(10_000);
      expect(after).toBeLessThanOrEqual(11_000);
    }
  });
});

describe("sleep", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("resolves after its time and not before", async () => {
    vi.useFakeTimers();
    let done = false;
    const slept = sleep(1000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await slept;
    expect(done).toBe(true);
  });

  it("an abort ends it at once and leaves no timer behind", async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    let done = false;
    const slept = sleep(60_000, controller.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    controller.abort();
    await slept;
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("an already aborted signal ends it at once, with no timer and no listener", async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    controller.abort();
    await sleep(60_000, controller.signal);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("a sleep that runs out leaves no listener on a long-lived signal", async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const slept = sleep(100, controller.signal);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    await slept;
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });
});

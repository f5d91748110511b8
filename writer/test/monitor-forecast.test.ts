import { describe, expect, it } from "vitest";
import {
  type BucketForecast,
  DAY_MS,
  fitRate,
  forecastBucket,
  forecastDisk,
  type Observation,
} from "../src/monitor/forecast";

const NOW = Date.parse("2026-06-01T00:00:00Z");
const GB = 1e9;
const MB = 1e6;

/** Samples every `everyHours` over `days` up to NOW, valued by `f(daysAgo)`. */
function series(days: number, everyHours: number, f: (daysAgo: number) => number): Observation[] {
  const out: Observation[] = [];
  for (let h = days * 24; h >= 0; h -= everyHours) out.push({ at: NOW - h * 3_600_000, value: f(h / 24) });
  return out;
}

describe("fitRate", () => {
  it.each([
    { name: "steady growth of 10 MB/day", obs: series(7, 1, (ago) => 1 * GB - ago * 10 * MB), perDay: 10 * MB },
    { name: "no growth", obs: series(7, 1, () => 500 * MB), perDay: 0 },
    { name: "shrinking by 50 MB/day", obs: series(3, 6, (ago) => 2 * GB + ago * 50 * MB), perDay: -50 * MB },
    // A plateau saws: one shard group (7 d) of data is dropped when it expires and refilled as data comes in.
    {
      name: "sawtooth at the retention plateau, whole cycles",
      obs: series(14, 1, (ago) => 3 * GB + ((7 - (ago % 7)) / 7) * 100 * MB),
      perDay: 0,
      tolerance: 4 * MB,
    },
  ])("$name", ({ obs, perDay, tolerance }) => {
    const rate = fitRate(obs, { now: NOW, windowDays: 14 });
    expect(rate.ok).toBe(true);
    if (rate.ok) expect(Math.abs(rate.perDay - perDay)).toBeLessThanOrEqual(tolerance ?? 1);
  });

  it("uses only the window's samples", () => {
    // Flat for weeks, then 1 GB/day over the last two days: a 2-day window sees only the new rate.
    const obs = series(30, 2, (ago) => (ago > 2 ? 1 * GB : 1 * GB + (2 - ago) * GB));
    const rate = fitRate(obs, { now: NOW, windowDays: 2 });
    expect(rate).toMatchObject({ ok: true });
    if (rate.ok) expect(rate.perDay).toBeCloseTo(GB, -3);
  });

  it.each([
    { name: "no samples", obs: [], reason: "0 samples in the last 7 d (need 3)" },
    { name: "one sample", obs: [{ at: NOW, value: 5 }], reason: "1 sample in the last 7 d (need 3)" },
    {
      name: "samples outside the window",
      obs: series(30, 24, () => 1).filter((o) => o.at < NOW - 8 * DAY_MS),
      reason: "0 samples in the last 7 d (need 3)",
    },
    {
      name: "three samples in ten minutes",
      obs: [0, 5, 10].map((m) => ({ at: NOW - m * 60_000, value: m })),
      reason: "samples span 0.2 h (need 1.0 h)",
    },
  ])("too few samples: $name", ({ obs, reason }) => {
    expect(fitRate(obs, { now: NOW, windowDays: 7 })).toEqual({ ok: false, samples: expect.any(Number), reason });
  });
});

describe("forecastBucket", () => {
  const ok = (perDay: number) => ({ ok: true as const, perDay, samples: 100, spanDays: 7 });
  it.each([
    {
      name: "steady growth of a young raw bucket: grows until a year plus a shard group of data",
      state: {
        bytes: 3 * GB,
        retentionSeconds: 365 * 86_400,
        shardGroupSeconds: 7 * 86_400,
        oldestPointAt: NOW - 100 * DAY_MS,
        growth: ok(30 * MB),
      },
      expected: { trend: "growing", atRetention: false, daysToSettle: 272, settledBytes: 3 * GB + 272 * 30 * MB },
    },
    {
      name: "a bucket at its retention plateau settles where it is",
      state: {
        bytes: 11 * GB,
        retentionSeconds: 365 * 86_400,
        shardGroupSeconds: 7 * 86_400,
        oldestPointAt: NOW - 369 * DAY_MS,
        growth: ok(0.2 * MB),
      },
      expected: { trend: "steady", atRetention: true, daysToSettle: 0, settledBytes: 11 * GB },
    },
    {
      name: "a rollup keeps growing long after the raw bucket stopped",
      state: {
        bytes: 1 * GB,
        retentionSeconds: 2555 * 86_400,
        shardGroupSeconds: 90 * 86_400,
        oldestPointAt: NOW - 400 * DAY_MS,
        growth: ok(2 * MB),
      },
      expected: { trend: "growing", atRetention: false, daysToSettle: 2245, settledBytes: 1 * GB + 2245 * 2 * MB },
    },
    {
      name: "no growth",
      state: {
        bytes: 200 * MB,
        retentionSeconds: 90 * 86_400,
        shardGroupSeconds: 86_400,
        oldestPointAt: NOW - 5 * DAY_MS,
        growth: ok(0),
      },
      expected: { trend: "steady", atRetention: false, daysToSettle: 0, settledBytes: 200 * MB },
    },
    {
      name: "shrinking after a retention cut: settles at the current size, not at zero",
      state: {
        bytes: 4 * GB,
        retentionSeconds: 30 * 86_400,
        shardGroupSeconds: 86_400,
        oldestPointAt: NOW - 31 * DAY_MS,
        growth: ok(-300 * MB),
      },
      expected: { trend: "shrinking", atRetention: true, daysToSettle: 0, settledBytes: 4 * GB },
    },
    {
      name: "infinite retention never settles",
      state: {
        bytes: 1 * GB,
        retentionSeconds: 0,
        shardGroupSeconds: 7 * 86_400,
        oldestPointAt: NOW - 10 * DAY_MS,
        growth: ok(MB),
      },
      expected: { trend: "growing", atRetention: false, daysToSettle: undefined, settledBytes: Infinity },
    },
    {
      name: "too few samples",
      state: {
        bytes: 1 * GB,
        retentionSeconds: 86_400,
        shardGroupSeconds: 3_600,
        growth: { ok: false as const, samples: 1, reason: "1 sample in the last 7 d (need 3)" },
      },
      expected: { trend: "unknown", settledBytes: undefined, reason: "1 sample in the last 7 d (need 3)" },
    },
  ])("$name", ({ state, expected }) => {
    const forecast = forecastBucket({ name: "b", ...state }, NOW);
    // Every named key, `undefined` ones included (toMatchObject would want them present).
    for (const [key, value] of Object.entries(expected)) {
      const actual = forecast[key as keyof typeof forecast];
      if (typeof value === "number" && Number.isFinite(value)) expect(actual, key).toBeCloseTo(value, 0);
      else expect(actual, key).toEqual(value);
    }
  });
});

describe("forecastDisk", () => {
  const bucket = (
    name: string,
    bytesPerDay: number | undefined,
    daysToSettle: number | undefined,
    trend: BucketForecast["trend"] = "growing",
  ): BucketForecast => ({
    name,
    bytes: 0,
    bytesPerDay,
    daysToSettle,
    trend,
    atRetention: false,
  });

  it("steady growth: fills at used + rate × days", () => {
    const forecast = forecastDisk({ capacityBytes: 100 * GB, usedBytes: 40 * GB }, [bucket("raw", 1 * GB, 365)], NOW);
    expect(forecast).toMatchObject({
      verdict: "fills",
      daysUntilFull: 60,
      fillsAt: NOW + 60 * DAY_MS,
      usedPercent: 40,
      bytesPerDay: GB,
    });
  });

  it("a bucket that settles before the disk fills leaves the others to fill it more slowly", () => {
    // raw: 1 GB/day for 10 more days; rollup: 0.5 GB/day for ever. Day 10: 30 + 15 = 45 GB; then 0.5 GB/day → 100 GB on day 120.
    const forecast = forecastDisk(
      { capacityBytes: 100 * GB, usedBytes: 30 * GB },
      [bucket("raw", 1 * GB, 10), bucket("hourly", 0.5 * GB, undefined)],
      NOW,
    );
    expect(forecast.verdict).toBe("fills");
    expect(forecast.daysUntilFull).toBeCloseTo(120, 9);
    expect(forecast.neededBytes).toBe(Infinity);
  });

  it("every bucket at its plateau: never, with the headroom", () => {
    const forecast = forecastDisk(
      { capacityBytes: 100 * GB, usedBytes: 60 * GB },
      [bucket("raw", 0.01 * GB, 0, "steady"), bucket("hourly", 0.1 * GB, 100)],
      NOW,
    );
    expect(forecast).toMatchObject({
      verdict: "never",
      neededBytes: 70 * GB,
      headroomBytes: 30 * GB,
      bytesPerDay: 0.1 * GB,
    });
    expect(forecast.daysUntilFull).toBeUndefined();
  });

  it("no growth: never, the free space is the headroom", () => {
    expect(
      forecastDisk({ capacityBytes: 10 * GB, usedBytes: 2 * GB }, [bucket("raw", 0, 0, "steady")], NOW),
    ).toMatchObject({
      verdict: "never",
      headroomBytes: 8 * GB,
      bytesPerDay: 0,
    });
  });

  it("shrinking buckets do not give space back in the forecast", () => {
    expect(
      forecastDisk({ capacityBytes: 10 * GB, usedBytes: 9 * GB }, [bucket("raw", -1 * GB, 0, "shrinking")], NOW),
    ).toMatchObject({ verdict: "never", headroomBytes: 1 * GB });
  });

  it("too few samples: counted as not growing and named", () => {
    expect(
      forecastDisk(
        { capacityBytes: 10 * GB, usedBytes: 1 * GB },
        [bucket("raw", undefined, undefined, "unknown")],
        NOW,
      ),
    ).toMatchObject({
      verdict: "never",
      unknownBuckets: ["raw"],
    });
  });

  it("a full disk fills now", () => {
    expect(forecastDisk({ capacityBytes: 10 * GB, usedBytes: 10 * GB }, [], NOW)).toMatchObject({
      verdict: "fills",
      daysUntilFull: 0,
      usedPercent: 100,
    });
  });
});

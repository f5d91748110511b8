import { describe, expect, it } from "vitest";
import { type AlertInput, AlertTracker, evaluateAlerts } from "../src/monitor/alerts";
import { AlertThresholdsSchema } from "../src/monitor/config";
import type { DiskForecast } from "../src/monitor/forecast";
import type { TaskSample } from "../src/monitor/tasks";

const NOW = Date.parse("2026-06-01T00:00:00Z");
const thresholds = AlertThresholdsSchema.parse({});
const disk = (usedPercent: number, daysUntilFull?: number): DiskForecast => ({
  capacityBytes: 100,
  usedBytes: usedPercent,
  usedPercent,
  bytesPerDay: 1,
  neededBytes: 200,
  verdict: daysUntilFull === undefined ? "never" : "fills",
  daysUntilFull,
  fillsAt: daysUntilFull === undefined ? undefined : NOW + daysUntilFull * 86_400_000,
  headroomBytes: daysUntilFull === undefined ? 10 : undefined,
  unknownBuckets: [],
});
const task = (overrides: Partial<TaskSample>): TaskSample => ({
  id: "t",
  name: "rollup-hourly",
  status: "active",
  offsetSeconds: 300,
  consecutiveFailures: 0,
  targetBucket: "hourly",
  ...overrides,
});
const noRate = { ok: false as const, samples: 0, reason: "none" };
const input = (overrides: Partial<AlertInput>): AlertInput => ({ buckets: [], tasks: [], ...overrides });

describe("evaluateAlerts (default thresholds)", () => {
  it("defaults are the documented ones", () => {
    expect(thresholds).toEqual({
      diskUsedPercent: 85,
      daysUntilFull: 30,
      taskFailedRuns: 1,
      taskLagWindows: 3,
      seriesMax: 250_000,
      seriesGrowthPerDay: 5_000,
    });
  });

  it.each([
    {
      name: "nothing wrong",
      input: input({
        disk: disk(50),
        tasks: [task({ lagWindows: 0 })],
        buckets: [{ name: "raw", series: 10, seriesGrowth: { ok: true, perDay: 3, samples: 9, spanDays: 7 } }],
      }),
      alerts: [],
    },
    {
      name: "disk 85 % used",
      input: input({ disk: disk(85) }),
      alerts: [{ name: "disk_used", bucket: "", value: 85, message: "disk 85 % used (alert at 85 %)" }],
    },
    {
      name: "disk full in 29.5 days",
      input: input({ disk: disk(10, 29.5) }),
      alerts: [
        {
          name: "disk_full_soon",
          value: 29.5,
          message: "disk full in 29.5 days at the current growth (on 2026-06-30; alert below 30 days)",
        },
      ],
    },
    { name: "disk full in 31 days is no alert", input: input({ disk: disk(10, 31) }), alerts: [] },
    {
      name: "a failing task, with the server's text",
      input: input({ tasks: [task({ consecutiveFailures: 2, lastError: 'could not find bucket "raw"' })] }),
      alerts: [
        {
          name: "task_failing",
          bucket: "hourly",
          task: "rollup-hourly",
          value: 2,
          message: 'task rollup-hourly: 2 failed run(s) in a row: could not find bucket "raw"',
        },
      ],
    },
    {
      name: "a task 4 windows behind",
      input: input({ tasks: [task({ status: "inactive", lagWindows: 4 })] }),
      alerts: [
        {
          name: "task_lagging",
          value: 4,
          message: "task rollup-hourly (inactive) is 4 windows behind its schedule (alert above 3)",
        },
      ],
    },
    { name: "3 windows behind is no alert", input: input({ tasks: [task({ lagWindows: 3 })] }), alerts: [] },
    {
      name: "too many series",
      input: input({ buckets: [{ name: "raw", series: 250_001, seriesGrowth: noRate }] }),
      alerts: [{ name: "series_high", bucket: "raw", value: 250_001 }],
    },
    {
      name: "series growing too fast",
      input: input({
        buckets: [{ name: "raw", series: 9000, seriesGrowth: { ok: true, perDay: 6000.4, samples: 50, spanDays: 2 } }],
      }),
      alerts: [
        {
          name: "series_growth",
          bucket: "raw",
          value: 6000,
          message: "bucket raw gains 6000 series a day (alert above 5000)",
        },
      ],
    },
  ])("$name", ({ input, alerts }) => {
    const found = evaluateAlerts(input, thresholds);
    expect(found).toHaveLength(alerts.length);
    for (const [i, alert] of alerts.entries()) expect(found[i]).toMatchObject(alert);
  });
});

describe("AlertTracker", () => {
  it("reports an alert once when it starts and once when it clears, keeping its start time", () => {
    const tracker = new AlertTracker();
    const alert = { name: "disk_used" as const, bucket: "", value: 90, threshold: 85, message: "x" };
    expect(tracker.update([alert], NOW).started).toHaveLength(1);
    const again = tracker.update([{ ...alert, value: 91 }], NOW + 300_000);
    expect(again).toEqual({ started: [], cleared: [] });
    expect(tracker.list()).toEqual([{ ...alert, value: 91, since: new Date(NOW).toISOString() }]);
    expect(tracker.update([], NOW + 600_000).cleared).toEqual([
      { ...alert, value: 91, since: new Date(NOW).toISOString() },
    ]);
    expect(tracker.list()).toEqual([]);
    expect(tracker.update([], NOW + 900_000)).toEqual({ started: [], cleared: [] });
  });
});

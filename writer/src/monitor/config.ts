/**
 * The storage monitor's settings: the `monitor` section of the writer's configuration (the program's
 * `writerConfig` output carries it when a monitor token exists). Its own schema, so the writer's
 * config only references it; the stack's alert keys take their defaults from `MONITOR_DEFAULTS`.
 */
import { z } from "zod";

/** Defaults shared by the writer and the Pulumi program's stack configuration. */
export const MONITOR_DEFAULTS = {
  /** Seconds between samples. */
  intervalSeconds: 300,
  /** Days of samples the growth rate is fitted over. */
  growthWindowDays: 7,
  alerts: {
    /** Share of the disk in use (0–100) from which `disk_used` fires. */
    diskUsedPercent: 85,
    /** Days until the disk is full (at the current growth) below which `disk_full_soon` fires. */
    daysUntilFull: 30,
    /** Consecutive failed runs of a rollup task from which `task_failing` fires. */
    taskFailedRuns: 1,
    /** Windows a rollup task may fall behind its schedule before `task_lagging` fires. */
    taskLagWindows: 3,
    /** Series in one bucket above which `series_high` fires. */
    seriesMax: 250_000,
    /** New series per day in one bucket above which `series_growth` fires. */
    seriesGrowthPerDay: 5_000,
  },
} as const;

const positive = z.number().positive();

/** Alert thresholds; each alert is described in the README's "Watching storage". */
export const AlertThresholdsSchema = z
  .object({
    diskUsedPercent: z.number().min(0).max(100).default(MONITOR_DEFAULTS.alerts.diskUsedPercent),
    daysUntilFull: positive.default(MONITOR_DEFAULTS.alerts.daysUntilFull),
    taskFailedRuns: z.number().int().min(1).default(MONITOR_DEFAULTS.alerts.taskFailedRuns),
    taskLagWindows: positive.default(MONITOR_DEFAULTS.alerts.taskLagWindows),
    seriesMax: z.number().int().min(1).default(MONITOR_DEFAULTS.alerts.seriesMax),
    seriesGrowthPerDay: positive.default(MONITOR_DEFAULTS.alerts.seriesGrowthPerDay),
  })
  .strict();
export type AlertThresholds = z.infer<typeof AlertThresholdsSchema>;

/** The `monitor` section. */
export const MonitorConfigSchema = z
  .object({
    /** The monitor token (read of the buckets, the organisation and the rollup tasks); never logged. */
    token: z.string().min(1),
    /** Seconds between samples. */
    intervalSeconds: positive.min(1).default(MONITOR_DEFAULTS.intervalSeconds),
    /** Days of samples the growth rate is fitted over. */
    growthWindowDays: positive.default(MONITOR_DEFAULTS.growthWindowDays),
    /** A directory on InfluxDB's data filesystem, when this process can see it: free space by `statfs`. */
    dataDir: z.string().min(1).optional(),
    /** The disk InfluxDB may fill, in bytes, when `dataDir` is not visible (an external server). */
    capacityBytes: z.number().int().min(1).optional(),
    /** Where influxd's Prometheus metrics are; default `<influxdb.url>/metrics`. */
    metricsUrl: z.string().url().optional(),
    alerts: AlertThresholdsSchema.prefault({}),
  })
  .strict();
export type MonitorConfig = z.infer<typeof MonitorConfigSchema>;

/**
 * The names of the time-series schema the analysis reads. The writer's `schema.ts` is their source;
 * they are repeated here so this package builds on its own, and a test holds both in step.
 */

/** Measurement of raw Home Assistant state changes. */
export const RAW_MEASUREMENT = "home_assistant_events";
/** Measurements the rollup tasks write. */
export const HOURLY_MEASUREMENT = "home_assistant_hourly";
export const DAILY_MEASUREMENT = "home_assistant_daily";
/** Statistics of one window, as fields of a rollup point. */
export const STATISTIC_FIELDS = ["mean", "min", "max", "count", "coverage_seconds", "energy_kwh"] as const;
export type StatisticField = (typeof STATISTIC_FIELDS)[number];
/** The text field holding a sensor's unit. */
export const UNIT_FIELD = "unit_of_measurement";

// Flux bodies of the downsampling tasks. Pure text builders, so tests assert the exact query and the
// program only supplies names. The task's own `option task = {...}` is added by the Task provider.
// The statistics themselves are the analysis package's step-function Flux, so a pattern computed from
// raw data and one read from the rollups are the same computation.
import { windowStatisticsFlux } from "ha-influx-analysis/step-flux";
import { DAILY_MEASUREMENT, HOURLY_MEASUREMENT } from "ha-influx-writer/schema";

export { CARRY_HORIZON } from "ha-influx-analysis/step-flux";

/** What a rollup reads and writes. */
export interface RollupFluxArgs {
  /** Bucket holding raw events. */
  sourceBucket: string;
  /** Rollup bucket the task writes to. */
  targetBucket: string;
  /** IANA time zone whose hours and days the windows follow. */
  timeZone: string;
  /**
   * How far back each run re-aggregates, as a Flux duration (a whole number of windows). Runs overlap,
   * and a rerun rewrites the same points, so data that arrives late is folded in by the next run.
   */
  lookback: string;
}

/**
 * A task over the windows of the last `lookback` before the scheduled time, written to the rollup
 * bucket. `now()` in a task is the scheduled time (the `offset` only delays the run), so truncating it
 * gives a stable window boundary; points are stamped at their window's start, so a rerun rewrites the
 * same points instead of adding, and a later run folds in late points inside its lookback.
 */
function rollupTaskFlux(args: RollupFluxArgs, unit: "1h" | "1d", measurement: string): string {
  const range =
    unit === "1h"
      ? `stop = date.truncate(t: now(), unit: 1h)
// Whole hours back in absolute time: in local time, a lookback across a clock change would gain or lose one.
start = date.sub(d: ${args.lookback}, from: stop, location: timezone.utc)`
      : `stop = date.truncate(t: now(), unit: 1d)
// Whole local days back, so the range starts at a local midnight whatever the clocks did.
start = date.sub(d: ${args.lookback}, from: stop)`;
  return `${windowStatisticsFlux({ sourceBucket: args.sourceBucket, timeZone: args.timeZone, unit, range })}
rollup
    |> set(key: "_measurement", value: ${JSON.stringify(measurement)})
    |> to(bucket: ${JSON.stringify(args.targetBucket)})
`;
}

/** Hourly rollup: time-weighted statistics and energy per entity, domain, device class and area and local hour. */
export function hourlyRollupFlux(args: RollupFluxArgs): string {
  return rollupTaskFlux(args, "1h", HOURLY_MEASUREMENT);
}

/**
 * Daily rollup: the same statistics per local day.
 *
 * It reads raw points rather than the hourly rollup: the daily task then stays exact and correct when
 * the hourly task is disabled, failed or lagging, and needs no rule for combining hours (a day is not
 * always 24 of them). One day of a home's raw data per run is cheap; the carried-in state is found by
 * `last`, which the storage engine answers without scanning the horizon.
 */
export function dailyRollupFlux(args: RollupFluxArgs): string {
  return rollupTaskFlux(args, "1d", DAILY_MEASUREMENT);
}

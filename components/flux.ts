// Flux bodies of the downsampling tasks. Pure text builders, so tests assert the exact query and the
// program only supplies names. The task's own `option task = {...}` is added by the Task provider.
import { DAILY_MEASUREMENT, ENERGY_FIELD, HOURLY_MEASUREMENT, MEASUREMENT, ROLLUP_GROUP_TAGS } from "ha-influx-writer/schema";

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

/** The only field of raw points a rollup averages; the writer always writes it as a float. */
const VALUE_FIELD = "normalized_value";

function fluxString(text: string): string {
  return JSON.stringify(text);
}

function groupColumns(extra: string[] = []): string {
  return [...ROLLUP_GROUP_TAGS, ...extra].map(fluxString).join(", ");
}

/**
 * The shared head: imports, time zone, a range of whole windows that ends at the last complete one,
 * and the raw numeric points grouped by the rollup tags.
 *
 * `now()` in a task is the scheduled time (the `offset` only delays the run), so truncating it gives
 * a stable window boundary; `types.isType` drops any non-float value, because `mean` fails on strings.
 */
function numericSource(args: RollupFluxArgs, unit: "1h" | "1d"): string {
  return `import "date"
import "timezone"
import "types"

option location = timezone.location(name: ${fluxString(args.timeZone)})

stop = date.truncate(t: now(), unit: ${unit})
start = date.sub(d: ${args.lookback}, from: stop)

numeric =
    from(bucket: ${fluxString(args.sourceBucket)})
        |> range(start: start, stop: stop)
        |> filter(fn: (r) => r._measurement == ${fluxString(MEASUREMENT)} and r._field == ${fluxString(VALUE_FIELD)})
        |> filter(fn: (r) => types.isType(v: r._value, type: "float"))
        |> group(columns: [${groupColumns()}])

// Points are stamped at the start of their window, so a rerun overwrites instead of adding.
stat = (tables=<-, fn, field) =>
    tables
        |> aggregateWindow(every: ${unit}, fn: fn, timeSrc: "_start", createEmpty: false)
        |> set(key: "_field", value: field)
        |> group(columns: [${groupColumns(["_field"])}])
`;
}

function statistics(extra: string[] = []): string {
  const streams = [
    `numeric |> stat(fn: mean, field: "mean")`,
    `numeric |> stat(fn: min, field: "min")`,
    `numeric |> stat(fn: max, field: "max")`,
    `numeric |> stat(fn: count, field: "count")`,
    ...extra,
  ];
  return `union(
    tables: [
${streams.map((stream) => `        ${stream},`).join("\n")}
    ],
)`;
}

function write(measurement: string, targetBucket: string): string {
  return `
    |> set(key: "_measurement", value: ${fluxString(measurement)})
    |> to(bucket: ${fluxString(targetBucket)})
`;
}

/** Hourly rollup: mean, min, max and count of `normalized_value` per entity, domain, device class and area. */
export function hourlyRollupFlux(args: RollupFluxArgs): string {
  return `${numericSource(args, "1h")}
${statistics()}${write(HOURLY_MEASUREMENT, args.targetBucket)}`;
}

/**
 * Daily rollup: the hourly statistics per local day, plus the energy each `device_class=energy` meter
 * counted that day.
 *
 * It reads raw points rather than the hourly rollup: the daily task then stays exact and correct when
 * the hourly task is disabled, failed or lagging, and energy needs the raw readings anyway (a meter
 * reset inside an hour cannot be recovered from hourly min/max). One day of a home's raw data per run
 * is cheap.
 *
 * Energy: `increase` turns meter readings into a running total that survives meter resets; the
 * difference between consecutive end-of-day totals is the day's use, including the step across
 * midnight. The first day of the range has no predecessor and is left to the run that covers it with
 * its previous day. Meters are expected to report kWh, as Home Assistant's energy dashboard requires.
 */
export function dailyRollupFlux(args: RollupFluxArgs): string {
  return `${numericSource(args, "1d")}
energy =
    numeric
        |> filter(fn: (r) => r.device_class == "energy")
        |> increase()
        |> aggregateWindow(every: 1d, fn: last, timeSrc: "_start", createEmpty: false)
        |> difference()
        |> set(key: "_field", value: ${fluxString(ENERGY_FIELD)})
        |> group(columns: [${groupColumns(["_field"])}])

${statistics(["energy"])}${write(DAILY_MEASUREMENT, args.targetBucket)}`;
}

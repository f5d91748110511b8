// Flux bodies of the downsampling tasks. Pure text builders, so tests assert the exact query and the
// program only supplies names. The task's own `option task = {...}` is added by the Task provider.
import { DAILY_MEASUREMENT, ENERGY_FIELD, HOURLY_MEASUREMENT, MEASUREMENT, ROLLUP_GROUP_TAGS } from "../writer/src/schema";

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
 * How long a state is carried forward into windows without a change. Home Assistant records a state
 * only when it changes, so a set-point or a door can hold one value for days; seven days covers a
 * week-long absence, and beyond it a silent entity is more likely gone than steady. The rule is the
 * same for every window, whichever run computes it: a window starts with the last state before it
 * only if that state is at most this old at the window's start.
 */
export const CARRY_HORIZON = "7d";

/** The number field of raw points; the writer writes it as a float, and only for numeric states. */
const VALUE_FIELD = "normalized_value";
/** The state as text: every raw point has it, so it marks every change, `unavailable` included. */
const STATE_FIELD = "state_value";

function fluxString(text: string): string {
  return JSON.stringify(text);
}

function groupColumns(extra: string[] = []): string {
  return [...ROLLUP_GROUP_TAGS, ...extra].map(fluxString).join(", ");
}

/**
 * The rollup of one period. Every entity is a step function: a state holds from its change until the
 * next one. Each window starts with the state held at its start (carried in from before), so a window
 * without a change still gets a row, and statistics weigh each value by how long it was held:
 *
 * - `mean`: time-weighted over the seconds with a number (`unavailable`, `unknown` and text states
 *   hold no number and are left out of the weighting, not counted as the value before them);
 * - `min`, `max`: over the values held for some time in the window, the carried-in one included;
 * - `count`: changes inside the window (integer, as before); `coverage_seconds`: seconds with a
 *   number, so coarser windows combine exactly (mean of a day = Σ mean·coverage / Σ coverage);
 * - `energy_kwh` (`device_class=energy`, cumulative meters in kWh): the sum of increases between
 *   consecutive readings, the carried-in reading included; a drop is a meter reset, after which the
 *   new reading is what was used since (as Flux's `increase`). Consumption is attributed to the window
 *   of the reading that reports it, so the windows of a year add up to the year's use.
 *
 * Points are stamped at their window's start: a rerun rewrites the same points instead of adding, and
 * a later run folds in late points inside its lookback. `now()` in a task is the scheduled time (the
 * `offset` only delays the run), so truncating it gives a stable window boundary.
 *
 * The window boundaries are found by `aggregateWindow(fn: last, createEmpty: true)` (the state held at
 * each window's end) instead of hand-made windows, so hours and days follow the time zone's rules
 * (23- and 25-hour days) exactly as Flux's own windows do.
 */
function rollupFlux(args: RollupFluxArgs, unit: "1h" | "1d", measurement: string): string {
  const tags = groupColumns();
  const window = `${fluxString("_start")}, ${fluxString("_stop")}`;
  return `import "contrib/tomhollingworth/events"
import "date"
import "timezone"
import "types"

option location = timezone.location(name: ${fluxString(args.timeZone)})

stop = date.truncate(t: now(), unit: ${unit})
${unit === "1h" ? `// Whole hours back in absolute time: in local time, a lookback across a clock change would gain or lose one.
start = date.sub(d: ${args.lookback}, from: stop, location: timezone.utc)` : `// Whole local days back, so the range starts at a local midnight whatever the clocks did.
start = date.sub(d: ${args.lookback}, from: stop)`}
carryFrom = date.sub(d: ${CARRY_HORIZON}, from: start)
carryNs = int(v: ${CARRY_HORIZON})

// Plain comparisons, so the storage engine filters (and answers \`last\`) itself.
states = (start, stop) =>
    from(bucket: ${fluxString(args.sourceBucket)})
        |> range(start: start, stop: stop)
        |> filter(fn: (r) => r._measurement == ${fluxString(MEASUREMENT)} and (r._field == ${fluxString(STATE_FIELD)} or r._field == ${fluxString(VALUE_FIELD)}))

meters = (start, stop) =>
    from(bucket: ${fluxString(args.sourceBucket)})
        |> range(start: start, stop: stop)
        |> filter(fn: (r) => r._measurement == ${fluxString(MEASUREMENT)} and r._field == ${fluxString(VALUE_FIELD)} and r.device_class == "energy")

// One row per change: \`_value\` the number held from then on, \`known\` false when the state had none.
// \`mean\` fails on strings, so only float \`${VALUE_FIELD}\` is a number; \`since\` keeps the change's time.
changes = (tables=<-) =>
    tables
        |> filter(fn: (r) => r._field == ${fluxString(STATE_FIELD)} or types.isType(v: r._value, type: "float"))
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
        |> group(columns: [${tags}])
        |> map(fn: (r) => ({r with _value: if exists r.${VALUE_FIELD} then float(v: r.${VALUE_FIELD}) else 0.0, known: exists r.${VALUE_FIELD}, since: r._time}))
        |> drop(fn: (column) => column == ${fluxString(STATE_FIELD)} or column == ${fluxString(VALUE_FIELD)})

// The state held at \`start\` (the last change within the carry horizon), then every change in range;
// \`o\` orders a carried state before a change at the same instant.
withCarry = (tables=<-, carried) =>
    union(tables: [carried |> map(fn: (r) => ({r with _time: start, o: 0})), tables |> map(fn: (r) => ({r with o: 1}))])
        |> map(fn: (r) => ({r with _start: start, _stop: stop}))
        |> group(columns: [${tags}, ${window}])
        |> sort(columns: ["_time", "o"])

// Each window opens with the state held at its start, unless that state is older than the horizon.
windowed = (tables=<-) => {
    opening =
        tables
            |> aggregateWindow(every: ${unit}, fn: last, timeSrc: "_stop", createEmpty: true)
            |> fill(column: "_value", usePrevious: true)
            |> fill(column: "known", usePrevious: true)
            |> fill(column: "since", usePrevious: true)
            |> filter(fn: (r) => exists r.since and r._time < stop and int(v: r._time) - int(v: r.since) <= carryNs)
            |> map(fn: (r) => ({r with o: 0, _start: start, _stop: stop}))
            |> group(columns: [${tags}, ${window}])

    return
        union(tables: [tables, opening])
            |> group(columns: [${tags}, ${window}])
            |> sort(columns: ["_time", "o"])
            |> window(every: ${unit})
            |> events.duration(unit: 1ns, columnName: "held", stopColumn: "_stop")
}

held =
    states(start: start, stop: stop)
        |> changes()
        |> withCarry(carried: states(start: carryFrom, stop: start) |> last() |> changes() |> sort(columns: ["_time"]) |> last())
        |> windowed()
        |> reduce(
            identity: {changes: 0, covered: 0, weighted: 0.0, low: 0.0, high: 0.0},
            fn: (r, accumulator) => {
                counts = r.known and r.held > 0

                return {
                    changes: accumulator.changes + r.o,
                    covered: if counts then accumulator.covered + r.held else accumulator.covered,
                    weighted: if counts then accumulator.weighted + r._value * float(v: r.held) else accumulator.weighted,
                    low: if counts and (accumulator.covered == 0 or r._value < accumulator.low) then r._value else accumulator.low,
                    high: if counts and (accumulator.covered == 0 or r._value > accumulator.high) then r._value else accumulator.high,
                }
            },
        )
        |> filter(fn: (r) => r.changes > 0 or r.covered > 0)
        |> map(fn: (r) => ({r with _time: r._start}))

readings =
    meters(start: start, stop: stop)
        |> changes()
        |> withCarry(carried: meters(start: carryFrom, stop: start) |> last() |> changes() |> sort(columns: ["_time"]) |> last())
        |> windowed()
        |> reduce(
            identity: {used: 0.0, previous: 0.0, started: false},
            fn: (r, accumulator) => ({
                used: if not accumulator.started then accumulator.used else if r._value >= accumulator.previous then accumulator.used + r._value - accumulator.previous else accumulator.used + r._value,
                previous: r._value,
                started: true,
            }),
        )
        |> map(fn: (r) => ({r with _time: r._start}))

field = (tables=<-, name) =>
    tables
        |> keep(columns: [${tags}, "_time", "_value"])
        |> set(key: "_field", value: name)
        |> group(columns: [${groupColumns(["_field"])}])

union(
    tables: [
        held |> filter(fn: (r) => r.covered > 0) |> map(fn: (r) => ({r with _value: r.weighted / float(v: r.covered)})) |> field(name: "mean"),
        held |> filter(fn: (r) => r.covered > 0) |> map(fn: (r) => ({r with _value: r.low})) |> field(name: "min"),
        held |> filter(fn: (r) => r.covered > 0) |> map(fn: (r) => ({r with _value: r.high})) |> field(name: "max"),
        held |> map(fn: (r) => ({r with _value: r.changes})) |> field(name: "count"),
        held |> map(fn: (r) => ({r with _value: float(v: r.covered) / 1000000000.0})) |> field(name: "coverage_seconds"),
        readings |> map(fn: (r) => ({r with _value: r.used})) |> field(name: ${fluxString(ENERGY_FIELD)}),
    ],
)
    |> set(key: "_measurement", value: ${fluxString(measurement)})
    |> to(bucket: ${fluxString(args.targetBucket)})
`;
}

/** Hourly rollup: time-weighted statistics and energy per entity, domain, device class and area and local hour. */
export function hourlyRollupFlux(args: RollupFluxArgs): string {
  return rollupFlux(args, "1h", HOURLY_MEASUREMENT);
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
  return rollupFlux(args, "1d", DAILY_MEASUREMENT);
}

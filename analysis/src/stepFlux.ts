// The step-function statistics of Home Assistant states per window, as Flux text. Shared by the
// rollup tasks (components/flux.ts writes them to the rollup buckets) and by the analysis, which runs
// the same text over raw data for ranges not rolled up: both resolutions agree because they are one
// computation. Pure text, no imports, so the provisioner can use it without the analysis' libraries.
import { RAW_MEASUREMENT } from "./schema";

/** Where and how the statistics are computed. */
export interface WindowStatisticsArgs {
  /** Bucket holding raw events. */
  sourceBucket: string;
  /** IANA time zone whose hours and days the windows follow. */
  timeZone: string;
  /** Window length: local hours or local days. */
  unit: "1h" | "1d";
  /** Flux statements defining \`start\` and \`stop\` (times on window boundaries). */
  range: string;
  /** Extra Flux condition on raw rows (\`r\`), e.g. an entity selection; none selects every entity. */
  where?: string;
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
/** The state as text: every raw point has it, so it marks every change, \`unavailable\` included. */
const STATE_FIELD = "state_value";
/** Tags the statistics are grouped by. */
const GROUP_TAGS = ["entity_id", "domain", "device_class", "area"];

function fluxString(text: string): string {
  return JSON.stringify(text);
}

function groupColumns(extra: string[] = []): string {
  return [...GROUP_TAGS, ...extra].map(fluxString).join(", ");
}

/**
 * Flux whose variable `rollup` holds, per entity and window, the fields below (`_field`/`_value`). Every entity is a step function: a state holds from its change until the
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
 * Rows are stamped at their window's start (so a task's rerun rewrites the same points).
 *
 * The window boundaries are found by `aggregateWindow(fn: last, createEmpty: true)` (the state held at
 * each window's end) instead of hand-made windows, so hours and days follow the time zone's rules
 * (23- and 25-hour days) exactly as Flux's own windows do.
 */
export function windowStatisticsFlux(args: WindowStatisticsArgs): string {
  const unit = args.unit;
  const tags = groupColumns();
  const window = `${fluxString("_start")}, ${fluxString("_stop")}`;
  const where = args.where === undefined ? "" : ` and (${args.where})`;
  return `import "contrib/tomhollingworth/events"
import "date"
import "timezone"
import "types"

option location = timezone.location(name: ${fluxString(args.timeZone)})

${args.range}
carryFrom = date.sub(d: ${CARRY_HORIZON}, from: start)
carryNs = int(v: ${CARRY_HORIZON})

// Plain comparisons, so the storage engine filters (and answers \`last\`) itself.
states = (start, stop) =>
    from(bucket: ${fluxString(args.sourceBucket)})
        |> range(start: start, stop: stop)
        |> filter(fn: (r) => r._measurement == ${fluxString(RAW_MEASUREMENT)} and (r._field == ${fluxString(STATE_FIELD)} or r._field == ${fluxString(VALUE_FIELD)})${where})

meters = (start, stop) =>
    from(bucket: ${fluxString(args.sourceBucket)})
        |> range(start: start, stop: stop)
        |> filter(fn: (r) => r._measurement == ${fluxString(RAW_MEASUREMENT)} and r._field == ${fluxString(VALUE_FIELD)} and r.device_class == "energy"${where})

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

rollup =
    union(
        tables: [
            held |> filter(fn: (r) => r.covered > 0) |> map(fn: (r) => ({r with _value: r.weighted / float(v: r.covered)})) |> field(name: "mean"),
            held |> filter(fn: (r) => r.covered > 0) |> map(fn: (r) => ({r with _value: r.low})) |> field(name: "min"),
            held |> filter(fn: (r) => r.covered > 0) |> map(fn: (r) => ({r with _value: r.high})) |> field(name: "max"),
            held |> map(fn: (r) => ({r with _value: r.changes})) |> field(name: "count"),
            held |> map(fn: (r) => ({r with _value: float(v: r.covered) / 1000000000.0})) |> field(name: "coverage_seconds"),
            readings |> map(fn: (r) => ({r with _value: r.used})) |> field(name: "energy_kwh"),
        ],
    )
`;
}

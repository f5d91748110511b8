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
 * Flux whose variable `rollup` holds, per entity and window, the fields below (`_field`/`_value`).
 * Every entity is a step function: a state holds from its change until the next one. Each window starts with the state held at its start (carried in from before), so a window
 * without a change still gets a row, and statistics weigh each value by how long it was held:
 *
 * - `mean`: time-weighted over the seconds with a number (`unavailable`, `unknown` and text states
 *   hold no number and are left out of the weighting, not counted as the value before them);
 * - `min`, `max`: over the values held for some time in the window, the carried-in one included;
 * - `count`: changes inside the window (integer, as before); `coverage_seconds`: seconds with a
 *   number, so coarser windows combine exactly (mean of a day = Σ mean·coverage / Σ coverage);
 * - `energy_kwh` (`device_class=energy`, cumulative meters in kWh): the sum of increases between
 *   consecutive readings (the one before the window included), each counted when the earlier reading
 *   is at most the carry horizon older; a drop is a meter reset, after which the new reading is what
 *   was used since (as Flux's `increase`). Use is attributed to the window of the reading that
 *   reports it, so the windows of a year add up to the year's use.
 *
 * Rows are stamped at their window's start (so a task's rerun rewrites the same points).
 *
 * The window boundaries come from `aggregateWindow` (the state held at each window's end, and the
 * per-window sums, minima and maxima), so hours and days follow the time zone's rules (23- and
 * 25-hour days) exactly as Flux's own windows do.
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

// Each window opens with the state held at its start (not known if older than the horizon), so no
// holding time crosses a window's boundary and one table per entity serves every window: Flux's
// native window aggregates then do the rest, instead of a closure per window.
cut = (tables=<-) => {
    opening =
        tables
            |> aggregateWindow(every: ${unit}, fn: last, timeSrc: "_stop", createEmpty: true)
            |> fill(column: "_value", usePrevious: true)
            |> fill(column: "known", usePrevious: true)
            |> fill(column: "since", usePrevious: true)
            |> filter(fn: (r) => exists r.since and r._time < stop)
            |> map(fn: (r) => ({r with o: 0, known: r.known and int(v: r._time) - int(v: r.since) <= carryNs, _start: start, _stop: stop}))
            |> group(columns: [${tags}, ${window}])

    return
        union(tables: [tables, opening])
            |> group(columns: [${tags}, ${window}])
            |> sort(columns: ["_time", "o"])
}

perWindow = (tables=<-, fn, column) => tables |> aggregateWindow(every: ${unit}, fn: fn, column: column, timeSrc: "_start", createEmpty: false)

held =
    states(start: start, stop: stop)
        |> changes()
        |> withCarry(carried: states(start: carryFrom, stop: start) |> last() |> changes() |> sort(columns: ["_time"]) |> last())
        |> cut()
        |> events.duration(unit: 1ns, columnName: "held", stopColumn: "_stop")
        |> map(
            fn: (r) => {
                counted = r.known and r.held > 0

                return {r with counted: counted, weighted: if counted then r._value * float(v: r.held) else 0.0, covered: if counted then float(v: r.held) else 0.0, change: float(v: r.o)}
            },
        )

sums =
    union(
        tables: [
            held |> perWindow(fn: sum, column: "weighted") |> rename(columns: {weighted: "_value"}) |> set(key: "_field", value: "weighted"),
            held |> perWindow(fn: sum, column: "covered") |> rename(columns: {covered: "_value"}) |> set(key: "_field", value: "covered"),
            held |> perWindow(fn: sum, column: "change") |> rename(columns: {change: "_value"}) |> set(key: "_field", value: "changes"),
        ],
    )
        |> group(columns: [${tags}, ${window}, "_field"])
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
        |> filter(fn: (r) => r.changes > 0.0 or r.covered > 0.0)

counted = held |> filter(fn: (r) => r.counted)

// A reading's increase over the reading before it counts if that one is at most the horizon older;
// \`gap\` is the time between them (an opening row carries the time of the reading it repeats).
used =
    meters(start: start, stop: stop)
        |> changes()
        |> withCarry(carried: meters(start: carryFrom, stop: start) |> last() |> changes() |> sort(columns: ["_time"]) |> last())
        |> cut()
        |> filter(fn: (r) => r.known)
        |> map(fn: (r) => ({r with step: r._value, gap: int(v: r.since)}))
        |> difference(columns: ["step", "gap"], keepFirst: true)
        |> map(fn: (r) => ({r with used: if not exists r.step or r.gap > carryNs then 0.0 else if r.step >= 0.0 then r.step else r._value}))
        |> perWindow(fn: sum, column: "used")
        |> rename(columns: {used: "_value"})

field = (tables=<-, name) =>
    tables
        |> keep(columns: [${tags}, "_time", "_value"])
        |> set(key: "_field", value: name)
        |> group(columns: [${groupColumns(["_field"])}])

rollup =
    union(
        tables: [
            sums |> filter(fn: (r) => r.covered > 0.0) |> map(fn: (r) => ({r with _value: r.weighted / r.covered})) |> field(name: "mean"),
            counted |> perWindow(fn: min, column: "_value") |> field(name: "min"),
            counted |> perWindow(fn: max, column: "_value") |> field(name: "max"),
            sums |> map(fn: (r) => ({r with _value: int(v: r.changes)})) |> field(name: "count"),
            sums |> map(fn: (r) => ({r with _value: r.covered / 1000000000.0})) |> field(name: "coverage_seconds"),
            used |> field(name: "energy_kwh"),
        ],
    )
`;
}

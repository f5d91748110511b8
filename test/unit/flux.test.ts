// The Flux of the rollup tasks, asserted as text: what the server will run, line by line.
import { describe, expect, it } from "vitest";
import { RollupFluxArgs, dailyRollupFlux, hourlyRollupFlux } from "../../components/flux";

const hourlyDefaults: RollupFluxArgs = { sourceBucket: "home_assistant_events", targetBucket: "home_assistant_hourly", timeZone: "Europe/Berlin", lookback: "3h" };
const dailyDefaults: RollupFluxArgs = { sourceBucket: "home_assistant_events", targetBucket: "home_assistant_daily", timeZone: "Europe/Berlin", lookback: "3d" };

const head = (unit: string, lookback: string) => `import "date"
import "timezone"
import "types"

option location = timezone.location(name: "Europe/Berlin")

stop = date.truncate(t: now(), unit: ${unit})
start = date.sub(d: ${lookback}, from: stop)

numeric =
    from(bucket: "home_assistant_events")
        |> range(start: start, stop: stop)
        |> filter(fn: (r) => r._measurement == "home_assistant_events" and r._field == "normalized_value")
        |> filter(fn: (r) => types.isType(v: r._value, type: "float"))
        |> group(columns: ["entity_id", "domain", "device_class", "area"])

// Points are stamped at the start of their window, so a rerun overwrites instead of adding.
stat = (tables=<-, fn, field) =>
    tables
        |> aggregateWindow(every: ${unit}, fn: fn, timeSrc: "_start", createEmpty: false)
        |> set(key: "_field", value: field)
        |> group(columns: ["entity_id", "domain", "device_class", "area", "_field"])
`;

/** The closing union of the four statistics (and any extra streams), written as `measurement`. */
const statisticsInto = (measurement: string, extra: string[]) => `union(
    tables: [
        numeric |> stat(fn: mean, field: "mean"),
        numeric |> stat(fn: min, field: "min"),
        numeric |> stat(fn: max, field: "max"),
        numeric |> stat(fn: count, field: "count"),
${extra.map((stream) => `        ${stream},\n`).join("")}    ],
)
    |> set(key: "_measurement", value: "${measurement}")
    |> to(bucket: "${measurement}")
`;

describe("hourlyRollupFlux", () => {
  it("rolls raw numeric points up into mean/min/max/count per hour, written to the hourly bucket", () => {
    expect(hourlyRollupFlux(hourlyDefaults)).toBe(`${head("1h", "3h")}
${statisticsInto("home_assistant_hourly", [])}`);
  });
});

describe("dailyRollupFlux", () => {
  it("rolls raw points up per local day and adds each energy meter's daily use", () => {
    expect(dailyRollupFlux(dailyDefaults)).toBe(`${head("1d", "3d")}
energy =
    numeric
        |> filter(fn: (r) => r.device_class == "energy")
        |> increase()
        |> aggregateWindow(every: 1d, fn: last, timeSrc: "_start", createEmpty: false)
        |> difference()
        |> set(key: "_field", value: "energy_kwh")
        |> group(columns: ["entity_id", "domain", "device_class", "area", "_field"])

${statisticsInto("home_assistant_daily", ["energy"])}`);
  });
});

describe.each([
  ["hourly", hourlyRollupFlux, hourlyDefaults, "1h"],
  ["daily", dailyRollupFlux, dailyDefaults, "1d"],
] as const)("%s rollup parameters", (_period, build, defaults, unit) => {
  it.each<[string, Partial<RollupFluxArgs>, string]>([
    ["time zone", { timeZone: "America/St_Johns" }, 'option location = timezone.location(name: "America/St_Johns")'],
    ["source bucket", { sourceBucket: "raw" }, '    from(bucket: "raw")'],
    ["lookback", { lookback: "12h" }, "start = date.sub(d: 12h, from: stop)"],
    ["target bucket, quoted as a Flux string", { targetBucket: 'my "rollups"' }, '    |> to(bucket: "my \\"rollups\\"")'],
  ])("places the %s", (_what, change, line) => {
    const flux = build({ ...defaults, ...change });
    expect(flux.split("\n")).toContain(line);
    expect(build(defaults).split("\n")).not.toContain(line);
  });

  it("windows by its period, stamping points at the window start", () => {
    expect(build(defaults)).toContain(`aggregateWindow(every: ${unit}, fn: fn, timeSrc: "_start", createEmpty: false)`);
  });
});

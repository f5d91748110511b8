// The Flux of the rollup tasks, asserted as text: what the server will run. The arithmetic itself is
// proven against a real influxd in test/integration/rollups.test.ts; these tests pin where every
// parameter lands and which rules the text encodes.
import { describe, expect, it } from "vitest";
import { CARRY_HORIZON, dailyRollupFlux, hourlyRollupFlux, type RollupFluxArgs } from "../../components/flux";

const hourlyDefaults: RollupFluxArgs = {
  sourceBucket: "home_assistant_events",
  targetBucket: "home_assistant_hourly",
  timeZone: "Europe/Berlin",
  lookback: "3h",
};
const dailyDefaults: RollupFluxArgs = {
  sourceBucket: "home_assistant_events",
  targetBucket: "home_assistant_daily",
  timeZone: "Europe/Berlin",
  lookback: "3d",
};

const lines = (flux: string) => flux.split("\n").map((line) => line.trim());

describe.each([
  ["hourly", hourlyRollupFlux, hourlyDefaults, "1h", "home_assistant_hourly"],
  ["daily", dailyRollupFlux, dailyDefaults, "1d", "home_assistant_daily"],
] as const)("%s rollup", (_period, build, defaults, unit, measurement) => {
  const flux = build(defaults);

  it.each<[string, Partial<RollupFluxArgs>, string]>([
    ["time zone", { timeZone: "America/St_Johns" }, 'option location = timezone.location(name: "America/St_Johns")'],
    ["source bucket", { sourceBucket: "raw" }, 'from(bucket: "raw")'],
    [
      "lookback",
      { lookback: "12h" },
      unit === "1h"
        ? "start = date.sub(d: 12h, from: stop, location: timezone.utc)"
        : "start = date.sub(d: 12h, from: stop)",
    ],
    ["target bucket, quoted as a Flux string", { targetBucket: 'my "rollups"' }, '|> to(bucket: "my \\"rollups\\"")'],
  ])("places the %s", (_what, change, line) => {
    expect(lines(build({ ...defaults, ...change }))).toContain(line);
    expect(lines(flux)).not.toContain(line);
  });

  it.each([
    ["ends at the last complete local window", `stop = date.truncate(t: now(), unit: ${unit})`],
    [
      "looks for the carried-in state within the carry horizon before the range",
      `carryFrom = date.sub(d: ${CARRY_HORIZON}, from: start)`,
    ],
    [
      "finds the state at each window's end by Flux's own windows",
      `|> aggregateWindow(every: ${unit}, fn: last, timeSrc: "_stop", createEmpty: true)`,
    ],
    [
      "does not carry a state older than the horizon into a window",
      "|> map(fn: (r) => ({r with o: 0, known: r.known and int(v: r._time) - int(v: r.since) <= carryNs, _start: start, _stop: stop}))",
    ],
    [
      "sums, and takes minima and maxima, per window",
      `perWindow = (tables=<-, fn, column) => tables |> aggregateWindow(every: ${unit}, fn: fn, column: column, timeSrc: "_start", createEmpty: false)`,
    ],
    [
      "measures holding time to the next change or the window's end",
      '|> events.duration(unit: 1ns, columnName: "held", stopColumn: "_stop")',
    ],
    [
      "counts only float numbers as values (mean fails on strings)",
      '|> filter(fn: (r) => r._field == "state_value" or types.isType(v: r._value, type: "float"))',
    ],
    ["leaves unavailable and other text states out of the weighting", "counted = r.known and r.held > 0"],
    [
      "weighs each number by how long it was held",
      "return {r with counted: counted, weighted: if counted then r._value * float(v: r.held) else 0.0, covered: if counted then float(v: r.held) else 0.0, change: float(v: r.o)}",
    ],
    [
      "writes count as an integer, as the rollups always have",
      'sums |> map(fn: (r) => ({r with _value: int(v: r.changes)})) |> field(name: "count"),',
    ],
    ["writes the rollup measurement", `|> set(key: "_measurement", value: "${measurement}")`],
    [
      "reads energy only from energy meters",
      '|> filter(fn: (r) => r._measurement == "home_assistant_events" and r._field == "normalized_value" and r.device_class == "energy")',
    ],
  ])("%s", (_rule, line) => {
    expect(lines(flux)).toContain(line);
  });

  it.each(["mean", "min", "max", "count", "coverage_seconds", "energy_kwh"])("writes the field %s", (field) => {
    expect(flux).toContain(`|> field(name: "${field}")`);
  });

  it("stamps points at the window start, so reruns overwrite", () => {
    expect(flux.match(/timeSrc: "_start"/g)).toHaveLength(1);
  });

  it("never takes the plain mean of events", () => {
    expect(flux).not.toMatch(/fn: mean|\|> mean\(/);
  });

  it("treats a falling meter reading as a reset: the new reading is what was used since", () => {
    expect(lines(flux)).toContain(
      "|> map(fn: (r) => ({r with used: if not exists r.step or r.gap > carryNs then 0.0 else if r.step >= 0.0 then r.step else r._value}))",
    );
  });

  it("groups by entity, domain, device class and area", () => {
    expect(flux).toContain('|> group(columns: ["entity_id", "domain", "device_class", "area", "_field"])');
  });
});

it("the carry horizon is a week", () => {
  expect(CARRY_HORIZON).toBe("7d");
});

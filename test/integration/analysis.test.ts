// ha-influx-analyze against a real influxd: three years of synthetic history with planted patterns
// (a daily cycle, a weekend effect, seasons, a yearly rise, a heater's schedule, a meter with resets)
// are rolled up by the real rollup Flux; every --pattern must return the planted pattern, and raw,
// hourly and daily resolutions must agree wherever each can answer.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { PatternResult, PatternRow } from "../../analysis/src/analyze";
import { main } from "../../analysis/src/cli";
import { UserError } from "../../analysis/src/errors";
import { PATTERNS } from "../../analysis/src/patterns";
import { dailyRollupFlux, hourlyRollupFlux } from "../../components/flux";
import { locateInfluxd } from "../harness/influxd";
import { useInfluxd } from "../harness/vitest";
import {
  FIXTURE_TIME_ZONE,
  fixtureEntities,
  fixtureLines,
  HOURLY_SLOPE,
  MONTH_OFFSET,
  WEEKDAY_KWH,
  WEEKEND_BONUS,
  WEEKEND_KWH,
  YEARLY_RISE,
} from "./analysis-fixture";
import { influxApi } from "./rollups-helpers";

const influxdFound = locateInfluxd() !== undefined;
// 1 Jan 2023 .. 1 Jan 2026, local midnights in Berlin
const START = Date.parse("2022-12-31T23:00:00Z");
const STOP = Date.parse("2025-12-31T23:00:00Z");
const TEMPERATURE = "sensor.living_temperature";
const HEATING = "binary_sensor.heating";
const METER = "sensor.house_energy";

describe.skipIf(!influxdFound)("ha-influx-analyze against three years of planted history", { timeout: 600_000 }, () => {
  const server = useInfluxd({ org: "home_assistant", bucket: "onboarded" });
  const { lines, dailyUse } = fixtureLines(fixtureEntities(), START, STOP);
  const configDir = mkdtempSync(join(tmpdir(), "ha-influx-analysis-"));
  const configFile = join(configDir, "outputs.json");
  const partialFile = join(configDir, "partial.json");

  beforeAll(async () => {
    const api = influxApi(server());
    for (const bucket of ["home_assistant_events", "home_assistant_hourly", "home_assistant_daily", "daily_partial"])
      await api.createBucket(bucket);
    await api.write("home_assistant_events", lines);
    // The task Flux, run through the query API as if at the end of each year (lookback a whole year).
    // Hourly rollups only for the last year: three years of them cost minutes on a shared machine.
    for (const end of ["2023-12-31T23:00:00Z", "2024-12-31T23:00:00Z", "2025-12-31T23:00:00Z"]) {
      await api.query(
        dailyRollupFlux({
          sourceBucket: "home_assistant_events",
          targetBucket: "home_assistant_daily",
          timeZone: FIXTURE_TIME_ZONE,
          lookback: "366d",
        }),
        end,
      );
    }
    await api.query(
      hourlyRollupFlux({
        sourceBucket: "home_assistant_events",
        targetBucket: "home_assistant_hourly",
        timeZone: FIXTURE_TIME_ZONE,
        lookback: "8760h",
      }),
      new Date(STOP).toISOString(),
    );
    // a daily rollup of January to June 2025 only, as if the task had not run since
    await api.query(
      dailyRollupFlux({
        sourceBucket: "home_assistant_events",
        targetBucket: "daily_partial",
        timeZone: FIXTURE_TIME_ZONE,
        lookback: "181d",
      }),
      "2025-06-30T22:30:00Z",
    );
    // the shape of the stack output: `pulumi stack output --json --show-secrets`
    const analysisConfig = {
      url: server().url,
      org: server().org,
      token: server().token,
      timeZone: FIXTURE_TIME_ZONE,
      buckets: { events: "home_assistant_events", hourly: "home_assistant_hourly", daily: "home_assistant_daily" },
    };
    writeFileSync(configFile, JSON.stringify({ analysisConfig }), { mode: 0o600 });
    writeFileSync(
      partialFile,
      JSON.stringify({ ...analysisConfig, buckets: { ...analysisConfig.buckets, daily: "daily_partial" } }),
      { mode: 0o600 },
    );
  }, 600_000);

  const LAST_YEAR = ["--start", "2025-01-01", "--stop", "2026-01-01"];
  async function run(args: string[], config = configFile): Promise<PatternResult> {
    let text = "";
    const code = await main(
      [
        "--config",
        config,
        "--start",
        new Date(START).toISOString(),
        "--stop",
        new Date(STOP).toISOString(),
        "--format",
        "json",
        ...args,
      ],
      {},
      (t) => (text += t),
      () => {},
    );
    expect(code).toBe(0);
    return JSON.parse(text) as PatternResult;
  }
  const rowsOf = (result: PatternResult, entity: string) =>
    new Map((result.series.find((s) => s.entity_id === entity)?.rows ?? []).map((row) => [row.key, row]));
  const mean = (rows: Map<string, PatternRow>, key: string) => rows.get(key)!.mean!;

  it("summary: the time-weighted mean of the whole range, and the meter's total use", async () => {
    const result = await run(["--pattern", "summary"]);
    expect(result).toMatchObject({
      pattern: "summary",
      resolution: "daily",
      timeZone: FIXTURE_TIME_ZONE,
      start: new Date(START).toISOString(),
      stop: new Date(STOP).toISOString(),
    });
    const temperature = rowsOf(result, TEMPERATURE).get("all")!;
    expect(temperature.coverage_seconds).toBe((STOP - START) / 1_000);
    expect(result.series.find((s) => s.entity_id === TEMPERATURE)?.unit).toBe("°C");
    const total = [...dailyUse.values()].reduce((a, b) => a + b, 0);
    expect(rowsOf(result, METER).get("all")!.energy_kwh).toBeCloseTo(total, 6);
  });

  it("hour: the daily cycle and the heater's schedule", async () => {
    const result = await run(["--pattern", "hour", ...LAST_YEAR]);
    expect(result.resolution).toBe("hourly");
    const temperature = rowsOf(result, TEMPERATURE);
    expect([...temperature.keys()]).toEqual(Array.from({ length: 24 }, (_, h) => String(h)));
    for (let h = 4; h < 24; h++)
      expect(mean(temperature, String(h)) - mean(temperature, String(h - 1))).toBeCloseTo(HOURLY_SLOPE, 1);
    const heating = rowsOf(result, HEATING);
    expect(mean(heating, "6")).toBeCloseTo(1, 9);
    expect(mean(heating, "12")).toBeCloseTo(0, 9);
    expect(mean(heating, "18")).toBeCloseTo(2 / 7, 2);
  });

  it("weekday: the weekend effect, in temperature and in energy", async () => {
    const result = await run(["--pattern", "weekday"]);
    const temperature = rowsOf(result, TEMPERATURE);
    expect([...temperature.keys()]).toEqual(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
    expect(mean(temperature, "Sat") - mean(temperature, "Fri")).toBeCloseTo(WEEKEND_BONUS, 0);
    expect(Math.abs(mean(temperature, "Mon") - mean(temperature, "Thu"))).toBeLessThan(0.5);
    const meter = rowsOf(result, METER);
    // about 156 of each weekday in three years; each weekend day counts 24 × 1.25 kWh
    expect(meter.get("Sat")!.energy_kwh! / meter.get("Wed")!.energy_kwh!).toBeCloseTo(WEEKEND_KWH / WEEKDAY_KWH, 1);
  });

  it("hour-weekday: 7 × 24 keys with the cycle and the weekend", async () => {
    const result = await run(["--pattern", "hour-weekday", ...LAST_YEAR]);
    const temperature = rowsOf(result, TEMPERATURE);
    expect(temperature.size).toBe(168);
    expect([...temperature.keys()].slice(0, 2)).toEqual(["Mon-00", "Mon-01"]);
    expect(mean(temperature, "Sat-10") - mean(temperature, "Fri-10")).toBeCloseTo(WEEKEND_BONUS, 0);
    expect(mean(temperature, "Wed-20") - mean(temperature, "Wed-10")).toBeCloseTo(10 * HOURLY_SLOPE, 0);
    expect(rowsOf(result, HEATING).get("Sun-19")!.mean).toBeCloseTo(1, 9);
    expect(rowsOf(result, HEATING).get("Mon-19")!.mean).toBeCloseTo(0, 9);
  });

  it("week, month and season: the seasons", async () => {
    const week = rowsOf(await run(["--pattern", "week"]), TEMPERATURE);
    expect(week.has("W01") && week.has("W52")).toBe(true);
    expect(mean(week, "W29") - mean(week, "W03")).toBeGreaterThan(12);
    const month = rowsOf(await run(["--pattern", "month"]), TEMPERATURE);
    expect([...month.keys()]).toEqual([
      "Jan",
      "Feb",
      "Mar",
      "Apr",
      "May",
      "Jun",
      "Jul",
      "Aug",
      "Sep",
      "Oct",
      "Nov",
      "Dec",
    ]);
    expect(mean(month, "Jul") - mean(month, "Jan")).toBeCloseTo(MONTH_OFFSET[6] - MONTH_OFFSET[0], 0);
    const south = await run(["--pattern", "season", "--hemisphere", "south"]);
    const season = rowsOf(south, TEMPERATURE);
    expect([...season.keys()]).toEqual(["DJF", "MAM", "JJA", "SON"]);
    expect(season.get("DJF")!.label).toBe("summer");
    expect(mean(season, "JJA") - mean(season, "DJF")).toBeCloseTo(
      (MONTH_OFFSET[5] + MONTH_OFFSET[6] + MONTH_OFFSET[7] - MONTH_OFFSET[11] - MONTH_OFFSET[0] - MONTH_OFFSET[1]) / 3,
      0,
    );
  });

  it("year: year over year", async () => {
    const year = rowsOf(await run(["--pattern", "year"]), TEMPERATURE);
    expect([...year.keys()]).toEqual(["2023", "2024", "2025"]);
    expect(mean(year, "2024") - mean(year, "2023")).toBeCloseTo(YEARLY_RISE, 1);
    expect(mean(year, "2025") - mean(year, "2024")).toBeCloseTo(YEARLY_RISE, 1);
  });

  it("calendar: one exact value per local day", async () => {
    const result = await run(["--pattern", "calendar"]);
    const temperature = rowsOf(result, TEMPERATURE);
    expect(temperature.size).toBe(1_096);
    // Saturday 6 July 2024: 10 + 8 (July) + 0.5 × 11.5 (mean hour) + 3 (weekend) + 1 (second year)
    expect(temperature.get("2024-07-06")).toMatchObject({
      mean: 27.75,
      min: 22,
      max: 33.5,
      count: 24,
      coverage_seconds: 86_400,
    });
    // the day the clocks go forward has 23 hours
    expect(temperature.get("2024-03-31")!.coverage_seconds).toBe(23 * 3_600);
    const meter = rowsOf(result, METER);
    for (const day of ["2023-01-15", "2024-03-31", "2025-10-26"])
      expect(meter.get(day)!.energy_kwh).toBeCloseTo(dailyUse.get(day)!, 9);
  });

  // Raw data is read through the same step-function Flux the tasks run, which costs seconds per
  // quarter on a shared machine: raw is compared over a quarter, the rollups with each other over a year.
  const QUARTER = ["--start", "2025-01-01", "--stop", "2025-04-01"];
  it("calendar: raw and daily agree day by day (so every pattern of days agrees)", async () => {
    const raw = await run(["--pattern", "calendar", "--resolution", "raw", ...QUARTER]);
    expect(raw.resolution).toBe("raw");
    expect(raw.series[0].rows).toHaveLength(90);
    expectSameSeries(await run(["--pattern", "calendar", "--resolution", "daily", ...QUARTER]), raw);
  });

  it.each(PATTERNS.filter((p) => p !== "hour" && p !== "hour-weekday"))(
    "%s: hourly and daily agree over a year",
    async (pattern) => {
      expectSameSeries(
        await run(["--pattern", pattern, "--resolution", "hourly", ...LAST_YEAR]),
        await run(["--pattern", pattern, "--resolution", "daily", ...LAST_YEAR]),
      );
    },
  );

  it("hour-weekday: raw and hourly agree over a month with a clock change", async () => {
    const march = ["--start", "2025-03-01", "--stop", "2025-04-01"];
    expectSameSeries(
      await run(["--pattern", "hour-weekday", "--resolution", "hourly", ...march]),
      await run(["--pattern", "hour-weekday", "--resolution", "raw", ...march]),
    );
  });

  it("auto falls back to finer sources where the daily rollup ends, and still agrees", async () => {
    const auto = await run(["--pattern", "weekday", ...LAST_YEAR], partialFile);
    expect(auto.sources).toEqual([
      { resolution: "daily", start: "2024-12-31T23:00:00.000Z", stop: "2025-06-30T22:00:00.000Z" },
      { resolution: "hourly", start: "2025-06-30T22:00:00.000Z", stop: new Date(STOP).toISOString() },
    ]);
    expectSameSeries(auto, await run(["--pattern", "weekday", "--resolution", "daily", ...LAST_YEAR]));
  });

  it("an unknown entity is an empty result with a note", async () => {
    let text = "";
    let note = "";
    const code = await main(
      [
        "--config",
        configFile,
        "--entity",
        "sensor.nowhere",
        "--format",
        "json",
        "--start",
        "2024-01-01",
        "--stop",
        "2024-02-01",
      ],
      {},
      (t) => (text += t),
      (t) => (note += t),
    );
    expect(code).toBe(0);
    expect(JSON.parse(text).series).toEqual([]);
    expect(note).toBe(
      "note: no data for sensor.nowhere between 2023-12-31T23:00:00.000Z and 2024-01-31T23:00:00.000Z\n",
    );
  });

  it.each([
    [
      ["--stop", "2024-01-01", "--start", "2024-02-01"],
      "--stop (2023-12-31T23:00:00.000Z) must be after --start (2024-01-31T23:00:00.000Z)",
    ],
    [["--start", "last tuesday"], '--start "last tuesday" is not a date'],
    [["--pattern", "fortnight"], 'unknown --pattern "fortnight"'],
    [["--pattern", "hour", "--resolution", "daily"], "--pattern hour splits days into hours"],
    [["--token", "not-a-token"], "rejected the token (HTTP 401)"],
    [["--url", "http://127.0.0.1:9"], "cannot reach InfluxDB at http://127.0.0.1:9"],
  ])("bad input %j is a user error: %s", async (args, message) => {
    await expect(
      main(
        ["--config", configFile, ...args],
        {},
        () => {},
        () => {},
      ),
    ).rejects.toThrow(UserError);
    await expect(
      main(
        ["--config", configFile, ...args],
        {},
        () => {},
        () => {},
      ),
    ).rejects.toThrow(message);
  });

  it("the built command prints one line and exits non-zero on a user error, and answers with env settings", () => {
    const root = join(__dirname, "../..");
    execFileSync("npm", ["run", "build", "--workspace", "analysis"], { cwd: root, stdio: "ignore" });
    const cli = join(root, "analysis/dist/cli.js");
    const bad = spawnSync(process.execPath, [cli, "--config", configFile, "--pattern", "fortnight"], {
      encoding: "utf8",
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(
      'ha-influx-analyze: unknown --pattern "fortnight": use one of summary, hour, weekday, hour-weekday, week, month, season, year, calendar\n',
    );
    const env = {
      ...process.env,
      INFLUXDB_URL: server().url,
      INFLUXDB_TOKEN: server().token,
      INFLUXDB_ORG: server().org,
    };
    const good = spawnSync(
      process.execPath,
      [
        cli,
        "--time-zone",
        FIXTURE_TIME_ZONE,
        "--pattern",
        "season",
        "--entity",
        TEMPERATURE,
        "--start",
        "2024-01-01",
        "--stop",
        "2025-01-01",
      ],
      { encoding: "utf8", env },
    );
    expect(good.stderr).toBe("");
    expect(good.status).toBe(0);
    const [title, header, winter] = good.stdout.split("\n");
    expect(title).toBe(
      `${TEMPERATURE} (°C): season, daily, ${FIXTURE_TIME_ZONE}, 2023-12-31T23:00:00.000Z .. 2024-12-31T23:00:00.000Z`,
    );
    expect(header.split(/\s+/)).toEqual(["key", "mean", "min", "max", "count", "coverage_h"]);
    expect(winter.startsWith("DJF winter ")).toBe(true);
  });
});

/** Same entities, keys and statistics (to rounding) from two resolutions. */
function expectSameSeries(actual: PatternResult, expected: PatternResult): void {
  expect(actual.series.map((s) => s.entity_id)).toEqual(expected.series.map((s) => s.entity_id));
  expect(expected.series.length).toBe(3);
  for (const [i, series] of expected.series.entries()) {
    const other = actual.series[i];
    expect(other.rows.map((row) => row.key)).toEqual(series.rows.map((row) => row.key));
    series.rows.forEach((row, j) => {
      const got = other.rows[j];
      expect(got.count).toBe(row.count);
      expect(got.coverage_seconds).toBe(row.coverage_seconds);
      for (const field of ["mean", "min", "max", "energy_kwh"] as const) {
        if (row[field] === undefined) expect(got[field]).toBeUndefined();
        else expect(got[field]).toBeCloseTo(row[field]!, 6);
      }
    });
  }
}

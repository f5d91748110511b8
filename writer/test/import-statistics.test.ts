/**
 * Long-term statistics as rollup points: hourly mean/min/max for hours before the first raw state,
 * daily points derived from them per local day, meters' energy from the increase of `sum`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../src/cli";
import {
  rollupLines,
  type StatisticSeries,
  type StatisticsRow,
  StatisticsWriteError,
  writeRollupLines,
} from "../src/import/statistics";
import type { WriteOutcome } from "../src/influxClient";
import { ZoneClock } from "../src/timezone";
import { type FakeInflux, startFakeInflux } from "./helpers/fakeInflux";
import { tempDir } from "./helpers/setup";
import { createRecorder, writeRegistries } from "./import-recorder";

const berlin = new ZoneClock("Europe/Berlin");
/** 2024-03-09 00:00 in Berlin (UTC+1) is 2024-03-08T23:00Z. */
const DAY_START = Date.parse("2024-03-08T23:00:00Z") / 1000;
const hour = (n: number) => DAY_START + n * 3600;

const temperature: StatisticSeries = {
  metadataId: 1,
  entityId: "sensor.temp",
  unit: "°C",
  hasMean: true,
  hasSum: false,
  tags: { entity_id: "sensor.temp", domain: "sensor", device_class: "temperature", area: "Living Room" },
};
const meter: StatisticSeries = {
  metadataId: 2,
  entityId: "sensor.energy",
  unit: "Wh",
  hasMean: false,
  hasSum: true,
  tags: { entity_id: "sensor.energy", domain: "sensor", device_class: "energy" },
};
const row = (n: number, values: Partial<StatisticsRow>): StatisticsRow => ({
  startTs: hour(n),
  mean: null,
  min: null,
  max: null,
  sum: null,
  ...values,
});

describe("statistics as rollup points", () => {
  it("writes hourly mean/min/max and a daily point from a whole local day of hours", () => {
    const rows = Array.from({ length: 24 }, (_, n) => row(n, { mean: 20 + n, min: 19 + n, max: 21 + n }));
    const { hourly, daily } = rollupLines(temperature, rows, berlin);
    expect(hourly).toHaveLength(24);
    expect(hourly[0]).toBe(
      `home_assistant_hourly,area=Living\\ Room,device_class=temperature,domain=sensor,entity_id=sensor.temp mean=20,min=19,max=21,coverage_seconds=3600 ${hour(0)}`,
    );
    expect(daily).toEqual([
      `home_assistant_daily,area=Living\\ Room,device_class=temperature,domain=sensor,entity_id=sensor.temp mean=31.5,min=19,max=44,coverage_seconds=86400 ${DAY_START}`,
    ]);
  });

  it("leaves the hours and days the raw states cover to the rollup tasks", () => {
    const rows = Array.from({ length: 30 }, (_, n) => row(n, { mean: n, min: n, max: n }));
    // The first raw state is at 25:30 (the next day, 01:30 Berlin): hours 0..24 are imported, day 2 is not.
    const { hourly, daily } = rollupLines({ ...temperature, firstRawTs: hour(25) + 1800 }, rows, berlin);
    expect(hourly.map((line) => Number(line.split(" ").at(-1)))).toEqual(Array.from({ length: 25 }, (_, n) => hour(n)));
    expect(daily).toHaveLength(1);
    // A first raw state inside the first day: no daily point at all.
    expect(rollupLines({ ...temperature, firstRawTs: hour(12) }, rows, berlin).daily).toEqual([]);
  });

  it("turns a meter's sum into the day's energy in kWh, counting only consecutive hours", () => {
    const sums = [1000, 1500, 2500, 2500];
    const rows = sums.map((sum, n) => row(n, { sum }));
    // Hour 6 follows a gap: its increase is not counted (there is no reading for the hour before).
    rows.push(row(6, { sum: 9000 }), row(7, { sum: 9250 }));
    const { hourly, daily } = rollupLines(meter, rows, berlin);
    const prefix = "home_assistant_hourly,device_class=energy,domain=sensor,entity_id=sensor.energy";
    expect(hourly).toEqual([
      `${prefix} energy_kwh=0.5 ${hour(1)}`,
      `${prefix} energy_kwh=1 ${hour(2)}`,
      `${prefix} energy_kwh=0 ${hour(3)}`,
      `${prefix} energy_kwh=0.25 ${hour(7)}`,
    ]);
    expect(daily).toEqual([
      `home_assistant_daily,device_class=energy,domain=sensor,entity_id=sensor.energy energy_kwh=1.75 ${DAY_START}`,
    ]);
  });

  it("writes no energy for a meter that is not an energy sensor or whose unit is not one of energy", () => {
    const rows = [row(0, { sum: 1 }), row(1, { sum: 2 })];
    expect(rollupLines({ ...meter, tags: { ...meter.tags, device_class: "water" } }, rows, berlin).daily).toEqual([]);
    expect(rollupLines({ ...meter, unit: "m³" }, rows, berlin).daily).toEqual([]);
  });
});

describe("import --statistics", () => {
  let dir: ReturnType<typeof tempDir>;
  let fake: FakeInflux;
  beforeEach(async () => {
    dir = tempDir("ha-influx-stats-");
    fake = await startFakeInflux();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await fake.close();
    dir.remove();
  });

  it("writes the statistics of hours before the first raw state into the rollup buckets", async () => {
    const dbPath = join(dir.dir, "home-assistant_v2.db");
    const firstRaw = new Date((hour(30) + 60) * 1000).toISOString();
    createRecorder(dbPath, [
      {
        entityId: "sensor.temp",
        state: "21",
        updated: firstRaw,
        attributes: { device_class: "temperature", unit_of_measurement: "°C" },
      },
    ]);
    const db = new DatabaseSync(dbPath);
    db.prepare(
      "INSERT INTO statistics_meta (statistic_id, source, unit_of_measurement, has_mean, has_sum, name) VALUES (?, 'recorder', '°C', 1, 0, NULL)",
    ).run("sensor.temp");
    db.prepare(
      "INSERT INTO statistics_meta (statistic_id, source, unit_of_measurement, has_mean, has_sum, name) VALUES (?, 'external', 'kWh', 0, 1, NULL)",
    ).run("external:thing");
    for (let n = 0; n < 40; n++)
      db.prepare(
        "INSERT INTO statistics (metadata_id, start_ts, mean, min, max, created_ts) VALUES (1, ?, ?, ?, ?, 0)",
      ).run(hour(n), 20, 19.5, 20.5);
    db.close();
    writeRegistries(
      dir.dir,
      {
        areas: [{ id: "lr", name: "Living Room" }],
        devices: [],
        entities: [{ entity_id: "sensor.temp", area_id: "lr", device_id: null, platform: "template" }],
      },
      "Europe/Berlin",
    );
    const configFile = join(dir.dir, "writer.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        influxdb: { url: fake.url, org: "home_assistant", token: "test-token-123456", batchTimeoutSeconds: 0.05 },
        spool: { dir: join(dir.dir, "spool") },
      }),
    );
    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const code = await main(["import", dir.dir, "--config", configFile, "--json", "--statistics"], {});
    vi.restoreAllMocks();
    expect(code).toBe(0);
    expect(JSON.parse(out.join("")).statistics).toEqual({
      series: 1,
      hourlyPoints: 30,
      dailyPoints: 1,
      interrupted: false,
    });
    const hourly = fake.acceptedLines("home_assistant_hourly");
    expect(hourly).toHaveLength(30);
    expect(hourly[0]).toBe(
      `home_assistant_hourly,area=Living\\ Room,device_class=temperature,domain=sensor,entity_id=sensor.temp mean=20,min=19.5,max=20.5,coverage_seconds=3600 ${hour(0)}000000`,
    );
    expect(fake.acceptedLines("home_assistant_daily")).toEqual([
      `home_assistant_daily,area=Living\\ Room,device_class=temperature,domain=sensor,entity_id=sensor.temp mean=20,min=19.5,max=20.5,coverage_seconds=86400 ${DAY_START}000000`,
    ]);
    // The writer's client: gzip, microseconds (the lines' whole seconds with six zeros).
    expect(fake.requests.find((request) => request.bucket === "home_assistant_hourly")).toMatchObject({
      precision: "us",
      contentEncoding: "gzip",
    });
  });
});

describe("writing rollup points", () => {
  /** A client that answers the scripted outcomes in turn and records the bodies it was given. */
  function scripted(...outcomes: WriteOutcome[]) {
    const bodies: string[] = [];
    return {
      bodies,
      write: async (_bucket: string, body: Buffer) => {
        bodies.push(body.toString("utf8"));
        return outcomes.shift() ?? { kind: "delivered" as const };
      },
    };
  }
  const unavailable: WriteOutcome = { kind: "retry", reason: "unavailable", message: "down" };

  it("tries a request InfluxDB could not take again, three attempts in all", async () => {
    const client = scripted(unavailable, unavailable);
    await writeRollupLines(client, "hourly", ["m v=1 1709938800"]);
    expect(client.bodies).toEqual(Array(3).fill("m v=1 1709938800000000"));
    await expect(
      writeRollupLines(scripted(unavailable, unavailable, unavailable), "hourly", ["m v=1 1"]),
    ).rejects.toThrow("could not write the rollup points for bucket hourly: unavailable: down");
  });

  it("stops at once when InfluxDB refuses the points", async () => {
    const client = scripted({ kind: "unauthorized", status: 404, message: "404: bucket not found" });
    const write = writeRollupLines(client, "nope", ["m v=1 1"]);
    await expect(write).rejects.toBeInstanceOf(StatisticsWriteError);
    await expect(write).rejects.toThrow(
      "InfluxDB refused the rollup points for bucket nope: HTTP 404: bucket not found",
    );
    expect(client.bodies).toHaveLength(1);
  });
});

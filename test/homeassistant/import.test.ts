// The recorder import against a recorder database made by a real Home Assistant (2024.3.3) and a
// real influxd: every recorded state is in InfluxDB once, each imported point has the tags and fields
// the live writer wrote for the same state (registries applied), and an interrupted import resumed
// gives the same points as an uninterrupted one.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type RunningWriter, startWriter } from "../../writer/src/app";
import { main } from "../../writer/src/cli";
import { resolveConfig, type WriterConfig } from "../../writer/src/config";
import { importStates } from "../../writer/src/import/importer";
import { RecorderDatabase } from "../../writer/src/import/recorder";
import { readStorage } from "../../writer/src/import/storage";
import { createMetrics } from "../../writer/src/metrics";
import { createPipeline } from "../../writer/src/pipeline";
import type { EventSink } from "../../writer/src/sources/sink";
import {
  type HomeAssistantInstance,
  locateHomeAssistant,
  startHomeAssistant,
  TEST_ENTITIES,
} from "../harness/homeassistant";
import { type InfluxdInstance, locateInfluxd, startInfluxd } from "../harness/influxd";
import { query, sleep, until } from "./helpers";
import { createBuckets, eventPointsOf, quietLogger, storeStatistics } from "./importHelpers";

const available = locateInfluxd() !== undefined && locateHomeAssistant() !== undefined;
const LIVE = "home_assistant_events";
const RESUMED = "imported_resumed";
const WHOLE = "imported_whole";
const BUCKETS = [
  RESUMED,
  WHOLE,
  "weather_data",
  "system_metrics",
  "sports_data",
  "home_assistant_hourly",
  "home_assistant_daily",
];
const WEATHER = "weather.demo_weather_south";
const DRIVEN: string[] = [
  TEST_ENTITIES.power,
  TEST_ENTITIES.light,
  TEST_ENTITIES.energyMeter,
  TEST_ENTITIES.temperature,
  TEST_ENTITIES.energy,
];
/** Hours of long-term statistics Home Assistant imports before the history the test drives. */
const STATISTICS_HOURS = 36;

function writerConfig(
  influx: InfluxdInstance,
  spoolDir: string,
  events: string,
  extra: Record<string, unknown> = {},
): WriterConfig {
  return resolveConfig(
    {
      influxdb: {
        url: influx.url,
        org: influx.org,
        token: influx.token,
        batchTimeoutSeconds: 0.2,
        buckets: { events },
      },
      spool: { dir: spoolDir },
      ingest: { host: "127.0.0.1", port: 0 },
      statsIntervalSeconds: 3600,
      ...extra,
    },
    {},
  );
}

describe.skipIf(!available)("importing a real Home Assistant's recorder", () => {
  let influx: InfluxdInstance;
  let ha: HomeAssistantInstance;
  let dir: string;
  let live: RunningWriter | undefined;
  let liveSince: number;
  let lightDevice: string;
  /** Start of the first hour of long-term statistics that Home Assistant imported (seconds). */
  let statisticsFrom: number;

  beforeAll(async () => {
    influx = await startInfluxd({ org: "home_assistant", bucket: LIVE });
    await createBuckets(influx, BUCKETS);
    // Every hour of statistics imported below ends before Home Assistant records its first state.
    statisticsFrom = Math.floor(Date.now() / 1000 / 3600) * 3600 - STATISTICS_HOURS * 3600;
    ha = await startHomeAssistant();
    // An area on a device and on an entity, so the registries' enrichment is part of the comparison.
    const entities = await ha.command<{ entity_id: string; platform: string; device_id: string | null }[]>({
      type: "config/entity_registry/list",
    });
    const devices = await ha.command<{ id: string; name: string }[]>({ type: "config/device_registry/list" });
    const demoLight = entities.find(
      (entity) => entity.platform === "demo" && entity.entity_id.startsWith("light.") && entity.device_id,
    )!;
    lightDevice = devices.find((device) => device.id === demoLight.device_id)!.name;
    DRIVEN.push(demoLight.entity_id);
    await ha.command({ type: "config/device_registry/update", device_id: demoLight.device_id, area_id: "kitchen" });
    await ha.command({
      type: "config/entity_registry/update",
      entity_id: TEST_ENTITIES.temperature,
      area_id: "living_room",
    });

    dir = mkdtempSync(join(tmpdir(), "ha-influx-import-"));
    writeFileSync(join(dir, "token"), ha.token);
    live = await startWriter(
      writerConfig(influx, join(dir, "live-spool"), LIVE, {
        homeAssistant: { url: ha.url, tokenFile: join(dir, "token"), weatherEntity: WEATHER },
      }),
      { logger: quietLogger() },
    );
    await until(
      () => expect(live!.status().components.websocket_client?.details?.state).toBe("subscribed"),
      60_000,
      50,
    );
    // Changes seen live; the snapshot taken on subscribing is not compared (it carries no old_state).
    await sleep(500);
    liveSince = Date.now() * 1000;
    for (let step = 1; step <= 6; step++) {
      await ha.callService("input_number", "set_value", { entity_id: TEST_ENTITIES.power, value: 100 + step * 7.5 });
      if (step % 2 === 0) await ha.callService("input_boolean", "toggle", { entity_id: TEST_ENTITIES.light });
      if (step % 3 === 0)
        await ha.callService("input_number", "set_value", { entity_id: TEST_ENTITIES.energyMeter, value: step / 4 });
      await ha.callService("light", step % 2 === 0 ? "turn_on" : "turn_off", { entity_id: demoLight.entity_id });
      await sleep(150);
    }
    // Long-term statistics of the hours before this history began, written by Home Assistant's own
    // recorder through its `recorder/import_statistics` command (it compiles statistics itself only at
    // hour boundaries, too late for a test): a measurement (mean/min/max) and a meter (state/sum).
    await storeStatistics(ha, statisticsFrom, STATISTICS_HOURS);
    await sleep(2_500); // the recorder's commit interval (1 s) and the live writer's batch
    await live.pipeline.flush(10_000);
    await live.stop(10_000);
    live = undefined;
    // SIGTERM: Home Assistant saves its registries (delayed writes) and closes the recorder.
    await ha.stop("SIGTERM");
  });

  afterAll(async () => {
    await live?.stop(5_000);
    await ha?.destroy();
    await influx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("writes every recorded state once, as the live writer wrote it, and resumes an interrupted import exactly", async () => {
    const database = join(ha.configDir, "home-assistant_v2.db");
    const sqlite = new DatabaseSync(database, { readOnly: true });
    const recorded = (
      sqlite
        .prepare(
          "SELECT m.entity_id AS entity_id, s.last_updated_ts AS lu FROM states s JOIN states_meta m ON m.metadata_id = s.metadata_id",
        )
        .all() as { entity_id: string; lu: number }[]
    ).map((row) => `${row.entity_id}|${Math.round(row.lu * 1e6)}`);
    sqlite.close();
    expect(recorded.length).toBeGreaterThan(30);

    // 1. Uninterrupted, through the CLI.
    const configFile = join(dir, "whole.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        influxdb: {
          url: influx.url,
          org: influx.org,
          token: influx.token,
          batchTimeoutSeconds: 0.2,
          buckets: { events: WHOLE },
        },
        spool: { dir: join(dir, "whole-spool") },
        homeAssistant: { url: ha.url, tokenFile: join(dir, "token"), weatherEntity: WEATHER },
      }),
    );
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      err.push(String(chunk));
      return true;
    });
    let code: number;
    try {
      code = await main(["import", ha.configDir, "--config", configFile, "--json"], {});
    } finally {
      vi.restoreAllMocks();
    }
    expect({ code, stderr: code === 0 ? "" : err.join("") }).toEqual({ code: 0, stderr: "" });
    const summary = JSON.parse(out.join(""));
    expect({ code, rowsRead: summary.rowsRead, rejected: summary.rejected, delivered: summary.delivered }).toEqual({
      code: 0,
      rowsRead: recorded.length,
      rejected: 0,
      delivered: true,
    });

    const whole = await until(
      async () => {
        const points = await eventPointsOf(influx, WHOLE);
        expect(points.size).toBe(recorded.length);
        return points;
      },
      30_000,
      500,
    );
    expect([...whole.keys()].sort()).toEqual([...recorded].sort());

    // 2. Each state the live writer saw change is the same point, tags and fields alike.
    const livePoints = await eventPointsOf(influx, LIVE);
    const compared = [...livePoints].filter(
      ([key, point]) => DRIVEN.includes(point.entity_id!) && Number(key.split("|")[1]) >= liveSince,
    );
    expect(compared.length).toBeGreaterThanOrEqual(15);
    for (const [key, point] of compared) expect({ key, point: whole.get(key) }).toEqual({ key, point });
    const lamp = compared.find(([, point]) => point.domain === "light")![1];
    expect(lamp).toMatchObject({ area: "Kitchen", device_name: lightDevice, integration: "demo" });
    expect(compared.find(([, point]) => point.entity_id === TEST_ENTITIES.temperature)?.[1]).toMatchObject({
      area: "Living Room",
      integration: "template",
    });

    // 3. Interrupted after two batches and resumed, through the same pipeline as the CLI.
    const spoolDir = join(dir, "resumed-spool");
    const config = writerConfig(influx, spoolDir, RESUMED, {
      homeAssistant: { url: ha.url, tokenFile: join(dir, "token"), weatherEntity: WEATHER },
    });
    const run = async (interruptAfter?: number) => {
      const pipeline = createPipeline(config, { logger: quietLogger(), metrics: createMetrics() });
      await pipeline.start();
      const storage = readStorage(ha.configDir);
      pipeline.useTimeZone?.(storage.timeZone!);
      const abort = new AbortController();
      let batches = 0;
      const sink: EventSink = {
        async submit(events, source) {
          const results = await pipeline.submit(events, source);
          if (++batches === interruptAfter) abort.abort();
          return results;
        },
      };
      const db = RecorderDatabase.open(database);
      try {
        return await importStates({
          db,
          registries: storage.registries,
          selection: {},
          filters: config.filters,
          sink,
          checkpointDir: spoolDir,
          batchRows: 10,
          signal: abort.signal,
        });
      } finally {
        db.close();
        // A stop without waiting for InfluxDB: what is spooled is delivered by the next run.
        await pipeline.stop(interruptAfter ? 0 : 20_000);
      }
    };
    const first = await run(2);
    expect(first).toMatchObject({ interrupted: true });
    expect([20, 30]).toContain(first.rowsRead);
    const second = await run();
    expect(second).toMatchObject({ rowsRead: recorded.length - first.rowsRead, resumed: true, interrupted: false });
    const resumed = await until(
      async () => {
        const points = await eventPointsOf(influx, RESUMED);
        expect(points.size).toBe(recorded.length);
        return points;
      },
      30_000,
      500,
    );
    expect(Object.fromEntries(resumed)).toEqual(Object.fromEntries(whole));
  });

  it("writes the long-term statistics of hours before the first raw state into the hourly and daily buckets", async () => {
    // The real database, with the day and a half of statistics Home Assistant imported before its
    // first state (see `importStatistics`).
    const db = new DatabaseSync(join(ha.configDir, "home-assistant_v2.db"), { readOnly: true });
    const rows = db
      .prepare(
        "SELECT m.statistic_id AS id, m.source AS source, count(*) AS n FROM statistics s JOIN statistics_meta m ON m.id = s.metadata_id WHERE s.start_ts < ? GROUP BY m.statistic_id ORDER BY m.statistic_id",
      )
      .all(statisticsFrom + STATISTICS_HOURS * 3600);
    const first = (db.prepare("SELECT min(last_updated_ts) AS ts FROM states").get() as { ts: number }).ts;
    db.close();
    // Home Assistant wrote them (the importer reads nothing the test put there by hand).
    expect(rows).toEqual([
      { id: TEST_ENTITIES.energy, source: "recorder", n: STATISTICS_HOURS },
      { id: TEST_ENTITIES.temperature, source: "recorder", n: STATISTICS_HOURS },
    ]);
    expect(statisticsFrom + STATISTICS_HOURS * 3600).toBeLessThanOrEqual(first);
    const configFile = join(dir, "stats.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        influxdb: {
          url: influx.url,
          org: influx.org,
          token: influx.token,
          batchTimeoutSeconds: 0.2,
          buckets: { events: WHOLE },
        },
        spool: { dir: join(dir, "stats-spool") },
      }),
    );
    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    let code: number;
    try {
      code = await main(
        [
          "import",
          ha.configDir,
          "--config",
          configFile,
          "--json",
          "--statistics",
          "--entity",
          TEST_ENTITIES.temperature,
          "--entity",
          TEST_ENTITIES.energy,
        ],
        {},
      );
    } finally {
      vi.restoreAllMocks();
    }
    expect(code).toBe(0);
    const { statistics } = JSON.parse(out.join(""));
    // Every hour of both series but the meter's first: it has no predecessor, so no increase and no point.
    expect(statistics.series).toBe(2);
    expect(statistics.hourlyPoints).toBe(2 * STATISTICS_HOURS - 1);
    expect(statistics.dailyPoints).toBeGreaterThanOrEqual(1);
    const hourly = await query(
      influx,
      `from(bucket: "home_assistant_hourly") |> range(start: 0) |> filter(fn: (r) => r._field == "mean")`,
    );
    expect(hourly).toHaveLength(STATISTICS_HOURS);
    expect(hourly[0]).toMatchObject({
      _measurement: "home_assistant_hourly",
      entity_id: TEST_ENTITIES.temperature,
      domain: "sensor",
      device_class: "temperature",
      area: "Living Room",
      _time: new Date(statisticsFrom * 1000).toISOString().replace(".000Z", "Z"),
      _value: "20",
    });
    const energy = await query(
      influx,
      `from(bucket: "home_assistant_hourly") |> range(start: 0) |> filter(fn: (r) => r._field == "energy_kwh")`,
    );
    // The meter's sum grew by 0.5 kWh an hour.
    expect(energy.map((row) => [row.entity_id, Number(row._value)])).toEqual(
      Array.from({ length: STATISTICS_HOURS - 1 }, () => [TEST_ENTITIES.energy, 0.5]),
    );
    expect(energy[0]!._time).toBe(new Date((statisticsFrom + 3600) * 1000).toISOString().replace(".000Z", "Z"));
    const daily = await query(
      influx,
      `from(bucket: "home_assistant_daily") |> range(start: 0) |> filter(fn: (r) => r._field == "mean" or r._field == "energy_kwh")`,
    );
    // One point per series and local day: the temperature's with a mean, the meter's with its energy.
    expect(daily.length).toBe(statistics.dailyPoints);
    const dailyMeans = daily.filter((row) => row._field === "mean");
    expect(dailyMeans.length).toBeGreaterThanOrEqual(1);
    expect(dailyMeans[0]).toMatchObject({
      _measurement: "home_assistant_daily",
      entity_id: TEST_ENTITIES.temperature,
      area: "Living Room",
    });
    const dailyEnergy = daily.filter((row) => row._field === "energy_kwh");
    expect(dailyEnergy.length).toBeGreaterThanOrEqual(1);
    for (const row of dailyEnergy) {
      expect(row.entity_id).toBe(TEST_ENTITIES.energy);
      // The day's sum of hourly increases of 0.5 kWh: whole half kWh, at most a day's worth.
      const kwh = Number(row._value);
      expect(kwh * 2).toBe(Math.round(kwh * 2));
      expect(kwh).toBeGreaterThan(0);
      expect(kwh).toBeLessThanOrEqual(12);
    }
    expect(dailyEnergy.map((row) => Number(row._value)).reduce((a, b) => a + b, 0)).toBeLessThan(
      0.5 * (STATISTICS_HOURS - 1) + 1e-9,
    );
  });
});

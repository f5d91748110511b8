// The recorder import from PostgreSQL (`import <config-dir> --db-url postgresql://…`): a real Home
// Assistant 2024.3.3 records into a throwaway PostgreSQL server (its own schema 42, through psycopg2)
// while the live writer writes the same changes into a real influxd; the import of the PostgreSQL
// recorder gives every recorded state once, each point as the live writer wrote it (registries from
// the configuration directory's .storage), and the statistics hours; bad input is one line each, and
// the password appears in no output and not in the checkpoint.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type RunningWriter, startWriter } from "../../writer/src/app";
import { main } from "../../writer/src/cli";
import { resolveConfig } from "../../writer/src/config";
import { importStates } from "../../writer/src/import/importer";
import { PostgresRecorder } from "../../writer/src/import/recorder-postgres";
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
import { locatePostgres, type PostgresInstance, startPostgres } from "../harness/postgres";
import { query, sleep, until } from "./helpers";
import { createBuckets, eventPointsOf, quietLogger, storeStatistics } from "./importHelpers";

const available =
  locateInfluxd() !== undefined && locateHomeAssistant() !== undefined && locatePostgres() !== undefined;
const LIVE = "home_assistant_events";
const IMPORTED = "imported_postgres";
const RESUMED = "imported_postgres_resumed";
const BUCKETS = [
  IMPORTED,
  RESUMED,
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
];
const STATISTICS_HOURS = 30;

/** Runs the CLI with its output captured. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
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
  try {
    const code = await main(args, {});
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    vi.restoreAllMocks();
  }
}

describe.skipIf(!available)("importing a real Home Assistant's recorder on PostgreSQL", () => {
  let influx: InfluxdInstance;
  let postgres: PostgresInstance;
  let ha: HomeAssistantInstance;
  let dir: string;
  let dbUrl: string;
  let password: string;
  /** The recorder as the import names it: the URL without credentials. */
  let shownName: string;
  let live: RunningWriter | undefined;
  let liveSince: number;
  let statisticsFrom: number;

  beforeAll(async () => {
    influx = await startInfluxd({ org: "home_assistant", bucket: LIVE });
    await createBuckets(influx, BUCKETS);
    postgres = await startPostgres();
    dbUrl = await postgres.createDatabase("homeassistant", "ha");
    password = new URL(dbUrl).password;
    shownName = `postgresql://${postgres.host}:${postgres.port}/homeassistant`;
    statisticsFrom = Math.floor(Date.now() / 1000 / 3600) * 3600 - STATISTICS_HOURS * 3600;
    ha = await startHomeAssistant({ recorderDbUrl: dbUrl });
    await ha.command({
      type: "config/entity_registry/update",
      entity_id: TEST_ENTITIES.temperature,
      area_id: "living_room",
    });
    dir = mkdtempSync(join(tmpdir(), "ha-influx-import-postgres-"));
    writeFileSync(join(dir, "token"), ha.token);
    live = await startWriter(
      resolveConfig(
        {
          influxdb: { url: influx.url, org: influx.org, token: influx.token, batchTimeoutSeconds: 0.2 },
          spool: { dir: join(dir, "live-spool") },
          ingest: { host: "127.0.0.1", port: 0 },
          statsIntervalSeconds: 3600,
          homeAssistant: { url: ha.url, tokenFile: join(dir, "token"), weatherEntity: WEATHER },
        },
        {},
      ),
      { logger: quietLogger() },
    );
    await until(
      () => expect(live!.status().components.websocket_client?.details?.state).toBe("subscribed"),
      60_000,
      50,
    );
    await sleep(500);
    liveSince = Date.now() * 1000;
    for (let step = 1; step <= 4; step++) {
      await ha.callService("input_number", "set_value", { entity_id: TEST_ENTITIES.power, value: 100 + step * 7.5 });
      if (step % 2 === 0) await ha.callService("input_boolean", "toggle", { entity_id: TEST_ENTITIES.light });
      if (step % 2 === 1)
        await ha.callService("input_number", "set_value", { entity_id: TEST_ENTITIES.energyMeter, value: step / 4 });
      await sleep(150);
    }
    // Long-term statistics of the hours before this history, written by Home Assistant's recorder.
    await storeStatistics(ha, statisticsFrom, STATISTICS_HOURS);
    await sleep(2_500);
    await live.pipeline.flush(10_000);
    await live.stop(10_000);
    live = undefined;
    await ha.stop("SIGTERM");
  });

  afterAll(async () => {
    await live?.stop(5_000);
    await ha?.destroy();
    await postgres?.stop();
    await influx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("imports every recorded state once, as the live writer wrote it, and the statistics hours", async () => {
    // Home Assistant made this database itself: its schema, at the version the importer knows.
    expect(
      await postgres.sql("homeassistant", "SELECT schema_version FROM schema_changes ORDER BY change_id DESC LIMIT 1"),
    ).toEqual([{ schema_version: 42 }]);
    const recorded = (
      await postgres.sql(
        "homeassistant",
        "SELECT m.entity_id AS entity_id, s.last_updated_ts AS lu FROM states s JOIN states_meta m ON m.metadata_id = s.metadata_id",
      )
    ).map((row) => `${row.entity_id}|${Math.round(Number(row.lu) * 1e6)}`);
    expect(recorded.length).toBeGreaterThan(20);

    const dry = await cli(["import", ha.configDir, "--db-url", dbUrl, "--dry-run", "--json"]);
    expect({ code: dry.code, stderr: dry.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(dry.stdout)).toMatchObject({ database: shownName, schemaVersion: 42, rows: recorded.length });

    const spoolDir = join(dir, "import-spool");
    const configFile = join(dir, "import.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        influxdb: {
          url: influx.url,
          org: influx.org,
          token: influx.token,
          batchTimeoutSeconds: 0.2,
          buckets: { events: IMPORTED },
        },
        spool: { dir: spoolDir },
        // The weather entity, as the live writer has it: its states are imported too and enrich the others'.
        homeAssistant: { url: ha.url, tokenFile: join(dir, "token"), weatherEntity: WEATHER },
      }),
    );
    const started = Date.now();
    const run = await cli([
      "import",
      ha.configDir,
      "--db-url",
      dbUrl,
      "--config",
      configFile,
      "--json",
      "--statistics",
    ]);
    const seconds = (Date.now() - started) / 1000;
    expect({ code: run.code, stderr: run.code === 0 ? "" : run.stderr }).toEqual({ code: 0, stderr: "" });
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({
      database: shownName,
      schemaVersion: 42,
      rowsRead: recorded.length,
      rejected: 0,
      delivered: true,
    });
    // Every hour of both series but the meter's first (no predecessor, so no increase).
    expect(summary.statistics).toMatchObject({ series: 2, hourlyPoints: 2 * STATISTICS_HOURS - 1 });
    console.log(`import --db-url: ${recorded.length} states and 2 statistics series in ${seconds.toFixed(2)} s`);

    const imported = await until(
      async () => {
        const points = await eventPointsOf(influx, IMPORTED);
        expect(points.size).toBe(recorded.length);
        return points;
      },
      30_000,
      500,
    );
    expect([...imported.keys()].sort()).toEqual([...recorded].sort());
    const livePoints = await eventPointsOf(influx, LIVE);
    const compared = [...livePoints].filter(
      ([key, point]) => DRIVEN.includes(point.entity_id!) && Number(key.split("|")[1]) >= liveSince,
    );
    expect(compared.length).toBeGreaterThanOrEqual(10);
    for (const [key, point] of compared) expect({ key, point: imported.get(key) }).toEqual({ key, point });
    // The registries of the configuration directory's .storage applied.
    expect(compared.find(([, point]) => point.entity_id === TEST_ENTITIES.temperature)?.[1]).toMatchObject({
      area: "Living Room",
      integration: "template",
    });
    const means = await query(
      influx,
      `from(bucket: "home_assistant_hourly") |> range(start: 0) |> filter(fn: (r) => r._field == "mean")`,
    );
    expect(means).toHaveLength(STATISTICS_HOURS);

    // Paged (7 rows a page), interrupted after two pages and resumed from the checkpoint: the same points.
    const resumedSpool = join(dir, "resumed-spool");
    const config = resolveConfig(
      {
        influxdb: {
          url: influx.url,
          org: influx.org,
          token: influx.token,
          batchTimeoutSeconds: 0.2,
          buckets: { events: RESUMED },
        },
        spool: { dir: resumedSpool },
        ingest: { host: "127.0.0.1", port: 0 },
        homeAssistant: { url: ha.url, tokenFile: join(dir, "token"), weatherEntity: WEATHER },
      },
      {},
    );
    const storage = readStorage(ha.configDir);
    const resume = async (interruptAfter?: number) => {
      const pipeline = createPipeline(config, { logger: quietLogger(), metrics: createMetrics() });
      await pipeline.start();
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
      const db = await PostgresRecorder.open(dbUrl);
      try {
        return await importStates({
          db,
          registries: storage.registries,
          selection: {},
          filters: config.filters,
          sink,
          checkpointDir: resumedSpool,
          batchRows: 7,
          signal: abort.signal,
        });
      } finally {
        await db.close();
        await pipeline.stop(interruptAfter ? 0 : 20_000);
      }
    };
    const first = await resume(2);
    expect(first).toMatchObject({ interrupted: true, database: shownName });
    expect([14, 21]).toContain(first.rowsRead);
    const second = await resume();
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
    expect(Object.fromEntries(resumed)).toEqual(Object.fromEntries(imported));

    // The password is nowhere in what the import said or kept.
    const checkpoint = readFileSync(join(`${spoolDir}-import`, "import-checkpoint.json"), "utf8");
    expect(JSON.parse(checkpoint)).toMatchObject({ database: shownName, complete: true });
    for (const text of [dry.stdout, dry.stderr, run.stdout, run.stderr, checkpoint])
      expect(text).not.toContain(password);
  });

  it("says in one line, without the password, what is wrong with the server or the database", async () => {
    const other = (database: string) => dbUrl.replace(/\/homeassistant$/, `/${database}`);
    // A database without the recorder's tables, and one whose recorder is of a schema version we do not know.
    const emptyUrl = await postgres.createDatabase("empty", "someone");
    const futureUrl = await postgres.createDatabase("future", "another");
    await postgres.sql(
      "future",
      // As the database's owner, as Home Assistant creates its tables.
      "SET ROLE another; CREATE TABLE schema_changes (change_id serial PRIMARY KEY, schema_version integer); " +
        "CREATE TABLE states (state_id serial PRIMARY KEY); CREATE TABLE states_meta (metadata_id serial PRIMARY KEY); " +
        "CREATE TABLE state_attributes (attributes_id serial PRIMARY KEY); INSERT INTO schema_changes (schema_version) VALUES (42), (43)",
    );
    const name = (database: string) => `postgresql://${postgres.host}:${postgres.port}/${database}`;
    // Reads are read-only transactions: a recorder whose states table writes when it is read (a
    // row-level security policy that inserts) cannot be read, and nothing is written.
    const writesUrl = await postgres.createDatabase("writes", "writer_role");
    await postgres.sql(
      "writes",
      "SET ROLE writer_role; CREATE TABLE schema_changes (change_id serial PRIMARY KEY, schema_version integer); " +
        "INSERT INTO schema_changes (schema_version) VALUES (42); " +
        "CREATE TABLE states_meta (metadata_id serial PRIMARY KEY, entity_id text); " +
        "CREATE TABLE state_attributes (attributes_id serial PRIMARY KEY); CREATE TABLE touched (n integer); " +
        "CREATE TABLE states (state_id serial PRIMARY KEY, metadata_id integer, last_updated_ts double precision); " +
        "CREATE FUNCTION touch() RETURNS boolean LANGUAGE sql VOLATILE AS 'INSERT INTO touched VALUES (1) RETURNING true'; " +
        "ALTER TABLE states ENABLE ROW LEVEL SECURITY; ALTER TABLE states FORCE ROW LEVEL SECURITY; " +
        "CREATE POLICY touching ON states USING (touch()); INSERT INTO states_meta (entity_id) VALUES ('sensor.a'); " +
        "INSERT INTO states (metadata_id, last_updated_ts) VALUES (1, 1700000000); TRUNCATE touched",
    );
    const wrong = new URL(dbUrl);
    wrong.password = "not-the-password";
    const cases: [string, string][] = [
      [wrong.href, `${name("homeassistant")}: cannot connect: password authentication failed for user "ha"`],
      [other("nowhere"), `${name("nowhere")}: cannot connect: database "nowhere" does not exist`],
      [
        emptyUrl,
        `${name("empty")}: not a Home Assistant recorder database: table schema_changes, states, states_meta, state_attributes missing`,
      ],
      [futureUrl, `${name("future")}: recorder schema version 43 is not supported (supported: 42)`],
      [writesUrl, `${name("writes")}: cannot read the database: cannot execute INSERT in a read-only transaction`],
    ];
    const secrets = [emptyUrl, futureUrl, writesUrl].map((url) => new URL(url).password);
    secrets.push(password, "not-the-password");
    for (const [url, message] of cases) {
      const result = await cli(["import", "--db-url", url, "--dry-run"]);
      expect({ url: name(new URL(url).pathname.slice(1)), code: result.code, stderr: result.stderr }).toEqual({
        url: name(new URL(url).pathname.slice(1)),
        code: 1,
        stderr: `import: ${message}\n`,
      });
      for (const secret of secrets) expect(result.stderr + result.stdout).not.toContain(secret);
    }
    expect(await postgres.sql("writes", "SELECT count(*)::int AS n FROM touched")).toEqual([{ n: 0 }]);
  });
});

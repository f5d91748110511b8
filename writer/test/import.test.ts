/**
 * The recorder import against small databases with the real schema-42 DDL: reading in time order,
 * points identical to the live writer's, registries applied, bad input, selection, resuming, the CLI.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../src/cli";
import { IMPORT_SOURCE, type ImportSummary, importStates } from "../src/import/importer";
import { interruptedText } from "../src/import/interrupt";
import { progressText } from "../src/import/progress";
import { RecorderDatabase, RecorderError } from "../src/import/recorder";
import { readStorage } from "../src/import/storage";
import type { EventSink } from "../src/sources/sink";
import { HOME_ASSISTANT_SOURCE } from "../src/sources/sink";
import { type FakeInflux, startFakeInflux } from "./helpers/fakeInflux";
import { eventually, startTestPipeline, tempDir, testConfig } from "./helpers/setup";
import { createRecorder, type RecordedState, writeRegistries } from "./import-recorder";

const REGISTRIES = {
  // As Home Assistant stores them: an area's id is `id` in the store file (`area_id` over the WebSocket API).
  areas: [{ id: "kitchen", name: "Kitchen", aliases: [], picture: null, floor_id: null }],
  devices: [{ id: "dev1", area_id: "kitchen", name: "Power Plug", name_by_user: null, manufacturer: "Acme" }],
  entities: [
    { entity_id: "sensor.power", device_id: "dev1", area_id: null, platform: "mqtt", unique_id: "p1" },
    { entity_id: "light.kitchen", device_id: null, area_id: "kitchen", platform: "hue", unique_id: "l1" },
  ],
};

const STATES: RecordedState[] = [
  {
    entityId: "sensor.power",
    state: "unknown",
    updated: "2024-03-10T11:59:59.000001+00:00",
    attributes: { unit_of_measurement: "W", device_class: "power", friendly_name: "Power" },
  },
  {
    entityId: "light.kitchen",
    state: "off",
    updated: "2024-03-10T12:00:00.100000+00:00",
    attributes: { friendly_name: "Kitchen" },
  },
  {
    entityId: "sensor.power",
    state: "120.5",
    updated: "2024-03-10T12:00:01.250001+00:00",
    attributes: { unit_of_measurement: "W", device_class: "power", friendly_name: "Power" },
  },
  {
    entityId: "light.kitchen",
    state: "on",
    updated: "2024-03-10T12:00:02.000000+00:00",
    attributes: { friendly_name: "Kitchen", brightness: 200 },
  },
  // An attribute change only: last_changed stays at the previous change.
  {
    entityId: "light.kitchen",
    state: "on",
    updated: "2024-03-10T12:00:03.500000+00:00",
    changed: "2024-03-10T12:00:02.000000+00:00",
    attributes: { friendly_name: "Kitchen", brightness: 90 },
  },
  {
    entityId: "sensor.power",
    state: "98",
    updated: "2024-03-10T12:00:04.000000+00:00",
    attributes: { unit_of_measurement: "W", device_class: "power", friendly_name: "Power" },
  },
  { entityId: "switch.heater", state: "on", updated: "2024-03-10T12:00:05.000000+00:00", attributes: {} },
];

/** The live writer's event for state `i` of STATES: what the Home Assistant source submits. */
function liveEvent(i: number): object {
  const state = STATES[i]!;
  const previous = STATES.slice(0, i)
    .filter((s) => s.entityId === state.entityId)
    .at(-1);
  const enrichment: Record<string, string> =
    state.entityId === "sensor.power"
      ? { area: "Kitchen", device_name: "Power Plug", integration: "mqtt" }
      : state.entityId === "light.kitchen"
        ? { area: "Kitchen", integration: "hue" }
        : {};
  return {
    entity_id: state.entityId,
    old_state: previous
      ? {
          entity_id: state.entityId,
          state: previous.state,
          attributes: previous.attributes ?? {},
          last_changed: previous.changed ?? previous.updated,
          last_updated: previous.updated,
        }
      : null,
    new_state: {
      entity_id: state.entityId,
      state: state.state,
      attributes: { ...state.attributes, ...enrichment },
      last_changed: state.changed ?? state.updated,
      last_updated: state.updated,
    },
  };
}

/** A sink that keeps what it is given and accepts everything. */
function recordingSink(): EventSink & { events: object[] } {
  const events: object[] = [];
  return {
    events,
    async submit(raw) {
      events.push(...(raw as object[]));
      return raw.map((_, index) => ({ index, status: "accepted" as const }));
    },
  };
}

describe("recorder import", () => {
  let dir: ReturnType<typeof tempDir>;
  let fake: FakeInflux;
  let dbPath: string;
  beforeEach(async () => {
    dir = tempDir("ha-influx-import-");
    fake = await startFakeInflux();
    dbPath = join(dir.dir, "home-assistant_v2.db");
  });
  afterEach(async () => {
    await fake.close();
    dir.remove();
  });

  const importInto = async (
    spoolDir: string,
    options: { batchRows?: number; signal?: AbortSignal; sink?: EventSink; selection?: object } = {},
  ) => {
    const { pipeline } = await startTestPipeline(testConfig(fake.url, spoolDir));
    const db = RecorderDatabase.open(dbPath);
    try {
      const storage = readStorage(dir.dir);
      return await importStates({
        db,
        registries: storage.registries,
        selection: options.selection ?? {},
        filters: testConfig(fake.url, spoolDir).filters,
        sink: options.sink ?? pipeline,
        checkpointDir: spoolDir,
        ...(options.batchRows ? { batchRows: options.batchRows } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } finally {
      db.close();
      await pipeline.stop(5_000);
    }
  };

  it("reads states in time order with last_changed filled in and the replaced state from old_state_id", () => {
    createRecorder(dbPath, STATES);
    const db = RecorderDatabase.open(dbPath);
    const rows = db.readStates({}, undefined, 100);
    db.close();
    expect(rows.map((r) => `${r.entityId}=${r.state}`)).toEqual(STATES.map((s) => `${s.entityId}=${s.state}`));
    expect(rows[3]!.lastChangedTs).toBe(rows[3]!.lastUpdatedTs);
    expect(rows[4]!.lastChangedTs).toBeCloseTo(Date.parse("2024-03-10T12:00:02Z") / 1000, 6);
    expect(rows[0]!.old).toBeUndefined();
    expect(rows[2]!.old).toEqual({ state: "unknown", lastChangedTs: rows[0]!.lastUpdatedTs });
  });

  it("writes every state as the point the live writer writes for it, registries applied", async () => {
    createRecorder(dbPath, STATES);
    writeRegistries(dir.dir, REGISTRIES);
    const summary = await importInto(join(dir.dir, "spool-import"));
    expect(summary).toMatchObject({ rowsToRead: 7, rowsRead: 7, accepted: 7, rejected: 0, schemaVersion: 42 });
    const imported = fake.acceptedLines();
    expect(imported).toHaveLength(7);

    const liveFake = await startFakeInflux();
    try {
      const { pipeline } = await startTestPipeline(testConfig(liveFake.url, join(dir.dir, "spool-live")));
      await pipeline.submit(
        STATES.map((_, i) => liveEvent(i)),
        HOME_ASSISTANT_SOURCE,
      );
      await eventually(() => liveFake.acceptedLines().length === 7);
      await pipeline.stop(5_000);
      expect(imported).toEqual(liveFake.acceptedLines());
    } finally {
      await liveFake.close();
    }
    const power = imported.find((line) => line.includes('state_value="120.5"'))!;
    expect(power).toContain("area=Kitchen");
    expect(power).toContain("device_name=Power\\ Plug");
    expect(power).toContain("integration=mqtt");
    expect(power).toContain('previous_state="unknown"');
    expect(power).toContain("duration_seconds=2.25");
  });

  it("rejects a row with invalid JSON attributes, naming it, and imports the rest", async () => {
    createRecorder(dbPath, [
      ...STATES.slice(0, 3),
      {
        entityId: "sensor.broken",
        state: "1",
        updated: "2024-03-10T12:00:01.500000+00:00",
        rawAttributes: "{not json",
      },
    ]);
    const notes: string[] = [];
    const db = RecorderDatabase.open(dbPath);
    const { pipeline } = await startTestPipeline(testConfig(fake.url, join(dir.dir, "spool")));
    const summary = await importStates({
      db,
      registries: readStorage(undefined).registries,
      selection: {},
      filters: testConfig(fake.url, dir.dir).filters,
      sink: pipeline,
      checkpointDir: join(dir.dir, "spool"),
      progress: () => ({ update: () => {}, finish: () => {}, note: (text) => notes.push(text) }),
    });
    db.close();
    await pipeline.stop(5_000);
    expect(summary).toMatchObject({
      rowsRead: 4,
      accepted: 3,
      rejected: 1,
      rejectedReasons: { invalid_attributes: 1 },
    });
    expect(summary.entities["sensor.broken"]).toEqual({ rows: 1, accepted: 0, filtered: 0, rejected: 1 });
    expect(notes).toEqual([
      expect.stringMatching(
        /^state_id 4 \(sensor\.broken\): invalid_attributes: state_attributes\.shared_attrs is not JSON/,
      ),
    ]);
    expect(fake.acceptedLines()).toHaveLength(3);
  });

  it("refuses a file that is not SQLite, an unknown schema version and a missing table, naming each", () => {
    const text = join(dir.dir, "notes.db");
    writeFileSync(text, "hello, this is not a database at all");
    expect(() => RecorderDatabase.open(text)).toThrow(new RecorderError(`${text}: not an SQLite database`));
    expect(() => RecorderDatabase.open(join(dir.dir, "absent.db"))).toThrow(/absent\.db: no such file/);
    createRecorder(dbPath, STATES, { schemaVersion: 50 });
    expect(() => RecorderDatabase.open(dbPath)).toThrow(
      `${dbPath}: recorder schema version 50 is not supported (supported: 42)`,
    );
    const noMeta = join(dir.dir, "no-meta.db");
    createRecorder(noMeta, STATES, { dropTable: "states_meta" });
    expect(() => RecorderDatabase.open(noMeta)).toThrow(
      `${noMeta}: not a Home Assistant recorder database: table states_meta missing`,
    );
  });

  it("selects by time, entity and domain", async () => {
    createRecorder(dbPath, STATES);
    const db = RecorderDatabase.open(dbPath);
    const ids = (selection: object) => db.readStates(selection, undefined, 100).map((r) => `${r.entityId}=${r.state}`);
    expect(ids({ entities: ["light.kitchen"] })).toEqual(["light.kitchen=off", "light.kitchen=on", "light.kitchen=on"]);
    expect(ids({ domains: ["switch", "sensor"] })).toEqual([
      "sensor.power=unknown",
      "sensor.power=120.5",
      "sensor.power=98",
      "switch.heater=on",
    ]);
    expect(ids({ entities: ["switch.heater"], domains: ["light"] })).toHaveLength(4);
    const start = Date.parse("2024-03-10T12:00:02Z") / 1000;
    const stop = Date.parse("2024-03-10T12:00:04Z") / 1000;
    expect(ids({ startTs: start, stopTs: stop })).toEqual(["light.kitchen=on", "light.kitchen=on"]);
    expect(db.countStates({ startTs: start, stopTs: stop })).toBe(2);
    db.close();
  });

  it("continues after the checkpoint when interrupted, with the same points as an uninterrupted import", async () => {
    createRecorder(dbPath, STATES);
    writeRegistries(dir.dir, REGISTRIES);
    const whole = await importInto(join(dir.dir, "whole"));
    expect(whole.accepted).toBe(7);
    const uninterrupted = [...fake.acceptedLines()].sort();
    fake.accepted.clear();

    const spoolDir = join(dir.dir, "resumed");
    const interrupt = new AbortController();
    const { pipeline } = await startTestPipeline(testConfig(fake.url, spoolDir));
    // Aborts after the second batch is durable: the import stops there.
    let batches = 0;
    const stopping: EventSink = {
      async submit(events, source) {
        const results = await pipeline.submit(events, source);
        if (++batches === 2) interrupt.abort();
        return results;
      },
    };
    const db = RecorderDatabase.open(dbPath);
    const first = await importStates({
      db,
      registries: readStorage(dir.dir).registries,
      selection: {},
      filters: testConfig(fake.url, spoolDir).filters,
      sink: stopping,
      checkpointDir: spoolDir,
      batchRows: 2,
      signal: interrupt.signal,
    });
    db.close();
    await pipeline.stop(5_000);
    // Stopped after the batch in flight besides the second one, at the latest.
    expect(first).toMatchObject({ interrupted: true, resumed: false });
    expect([4, 6]).toContain(first.rowsRead);

    const second: ImportSummary = await importInto(spoolDir, { batchRows: 2 });
    expect(second).toMatchObject({
      rowsToRead: 7 - first.rowsRead,
      rowsRead: 7 - first.rowsRead,
      resumed: true,
      interrupted: false,
    });
    await eventually(() => fake.acceptedLines().length >= 7);
    expect([...fake.acceptedLines()].sort()).toEqual(uninterrupted);

    // A third run finds nothing left to import.
    const third = await importInto(spoolDir);
    expect(third).toMatchObject({ rowsToRead: 0, rowsRead: 0 });
  });

  it("submits as the import source, never as the live Home Assistant source", async () => {
    createRecorder(dbPath, STATES);
    const sources: string[] = [];
    const sink: EventSink = {
      async submit(events, source) {
        sources.push(source);
        return events.map((_, index) => ({ index, status: "accepted" as const }));
      },
    };
    await importInto(join(dir.dir, "s"), { sink });
    expect(new Set(sources)).toEqual(new Set([IMPORT_SOURCE]));
    const recording = recordingSink();
    await importInto(join(dir.dir, "s2"), { sink: recording });
    expect(recording.events).toHaveLength(7);
  });

  describe("the CLI", () => {
    const capture = () => {
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
      return { out, err };
    };
    afterEach(() => vi.restoreAllMocks());

    it("--dry-run prints the rows per entity and writes nothing", async () => {
      createRecorder(dbPath, STATES);
      const { out } = capture();
      const code = await main(["import", dir.dir, "--dry-run", "--json", "--domain", "sensor,light"], {});
      vi.restoreAllMocks();
      expect(code).toBe(0);
      expect(JSON.parse(out.join(""))).toEqual({
        database: dbPath,
        schemaVersion: 42,
        rows: 6,
        rowsKept: 6,
        entities: [
          { entity: "light.kitchen", rows: 3, filtered: false },
          { entity: "sensor.power", rows: 3, filtered: false },
        ],
      });
      expect(fake.requests).toHaveLength(0);
    });

    it("imports and prints a JSON summary; a rerun writes nothing twice", async () => {
      createRecorder(dbPath, STATES);
      writeRegistries(dir.dir, REGISTRIES);
      const configFile = join(dir.dir, "writer.json");
      writeFileSync(
        configFile,
        JSON.stringify({
          influxdb: { url: fake.url, org: "home_assistant", token: "test-token-123456", batchTimeoutSeconds: 0.05 },
          spool: { dir: join(dir.dir, "spool") },
        }),
      );
      const { out } = capture();
      const code = await main(["import", dir.dir, "--config", configFile, "--json"], {});
      const rerun = await main(["import", dir.dir, "--config", configFile, "--json"], {});
      vi.restoreAllMocks();
      expect(code).toBe(0);
      expect(rerun).toBe(0);
      const [summary, again] = out
        .join("")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      expect(summary).toMatchObject({ rowsRead: 7, accepted: 7, rejected: 0, delivered: true, pendingPoints: 0 });
      expect(summary.entities["sensor.power"]).toEqual({ rows: 3, accepted: 3, filtered: 0, rejected: 0 });
      expect(again).toMatchObject({ rowsToRead: 0, rowsRead: 0, resumed: true });
      expect(fake.acceptedLines()).toHaveLength(7);
    });

    it("gives one clear line for a file that is not a database", async () => {
      const text = join(dir.dir, "x.db");
      writeFileSync(text, "not sqlite");
      const { err } = capture();
      const code = await main(["import", text, "--dry-run"], {});
      vi.restoreAllMocks();
      expect(code).toBe(1);
      expect(err.join("")).toBe(`import: ${text}: not an SQLite database\n`);
    });

    it("names a bad --start", async () => {
      const { err } = capture();
      const code = await main(["import", dir.dir, "--start", "yesterday"], {});
      vi.restoreAllMocks();
      expect(code).toBe(1);
      expect(err.join("")).toMatch(/^import: --start must be an ISO 8601 date or date-time, got "yesterday"\n/);
    });
  });

  it("shows progress with rate and ETA", () => {
    expect(progressText(500, 1000, 10, false)).toBe("import 50.0% 500/1000 rows, 50 rows/s, ETA 0:10");
    expect(progressText(250, 1000, 5, true)).toMatch(/^\[#{8}\.{22}\] 25\.0% 250\/1000 rows, 50 rows\/s, ETA 0:15$/);
  });
});

describe("the line an interrupted import ends with", () => {
  const at = {
    signal: "SIGINT" as const,
    checkpoint: "spool-import/import-checkpoint.json",
    rowsRead: 10_000,
    rowsToRead: 40_000,
    position: { lastUpdatedTs: 1709251299.990123, stateId: 10_000 },
    pendingPoints: 0,
  };
  it.each([
    [
      "states",
      {},
      "interrupted by SIGINT after 10000 of 40000 rows; checkpoint spool-import/import-checkpoint.json at state_id 10000 (last_updated 2024-03-01T00:01:39.990123+00:00); rerun the same command to continue\n",
    ],
    [
      "states",
      { position: undefined, rowsRead: 0 },
      "interrupted by SIGINT after 0 of 40000 rows; no checkpoint yet (spool-import/import-checkpoint.json): a rerun starts from the beginning; rerun the same command to continue\n",
    ],
    [
      "statistics",
      {},
      "interrupted by SIGINT during the statistics, every state imported; checkpoint spool-import/import-checkpoint.json complete; rerun the same command to write the statistics (again: the same points)\n",
    ],
    [
      "delivery",
      { pendingPoints: 1200 },
      "interrupted by SIGINT while InfluxDB took the last points, every state imported; checkpoint spool-import/import-checkpoint.json complete; 1200 points wait in the import spool; rerun the same command to continue\n",
    ],
  ] as const)("names where it stopped (%s)", (phase, change, line) => {
    expect(interruptedText({ ...at, ...change, phase })).toBe(line);
  });
});

describe("the time zone of a configuration directory", () => {
  it("comes from .storage/core.config, else from configuration.yaml's homeassistant: section", () => {
    const dir = tempDir("ha-influx-tz-");
    try {
      expect(readStorage(dir.dir).timeZone).toBeUndefined();
      writeFileSync(
        join(dir.dir, "configuration.yaml"),
        "default_config:\nhomeassistant:\n  name: Home\n  # a comment\n\n  time_zone: America/New_York\n  unit_system: metric\nhttp:\n  time_zone: Nope/Nope\n",
      );
      expect(readStorage(dir.dir).timeZone).toBe("America/New_York");
      writeRegistries(dir.dir, { areas: [], devices: [], entities: [] }, "Asia/Tokyo");
      expect(readStorage(dir.dir).timeZone).toBe("Asia/Tokyo");
    } finally {
      dir.remove();
    }
  });
});

describe("recorder times as Home Assistant's ISO text", () => {
  it("formats like the history backfill, across seconds and back again", async () => {
    const { IsoTimes } = await import("../src/import/rowEvents");
    const { isoFromMicros, secondsToMicros } = await import("../src/sources/haHistory");
    const times = new IsoTimes();
    for (const seconds of [
      1710072000.000001, 1710072000.999999, 1710072001, 1710072000.5, 1710072061.25, 0.000001, 1710072000.123456,
      // A row's own second and its old state's, alternating; then a third second.
      1710072061.5, 1710072000.25, 1710072061.75, 1710072000.75, 1710075600.5, 1710072061.125, 1710075600.25,
    ]) {
      expect(times.format(seconds)).toBe(isoFromMicros(secondsToMicros(seconds)));
    }
  });
});

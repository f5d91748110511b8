// The writer's core against a real influxd: what the fake server in the writer's unit tests assumes
// (escaping, microsecond timestamps, the empty-write readiness probe, 422 without line numbers, 401)
// is what InfluxDB 2.7 actually does.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resolveConfig, type WriterConfig } from "../../writer/src/config";
import { createLogger } from "../../writer/src/logger";
import { createMetrics } from "../../writer/src/metrics";
import { createPipeline, type Pipeline } from "../../writer/src/pipeline";
import { parseCsv } from "../harness/csv";
import { locateInfluxd } from "../harness/influxd";
import { useInfluxd } from "../harness/vitest";

const influxdFound = locateInfluxd() !== undefined;
const EXTRA_BUCKETS = ["weather_data", "system_metrics", "sports_data"];

describe.skipIf(!influxdFound)("the writer's core against a real influxd", () => {
  const server = useInfluxd({ org: "home_assistant", bucket: "home_assistant_events" });
  let spoolDir: string;
  let pipeline: Pipeline | undefined;

  async function api(method: string, path: string, body?: string, contentType = "application/json"): Promise<Response> {
    return fetch(`${server().url}${path}`, {
      method,
      headers: { Authorization: `Token ${server().token}`, "Content-Type": contentType, Accept: "application/csv" },
      body,
    });
  }

  async function query(flux: string): Promise<Record<string, string>[]> {
    const response = await api("POST", `/api/v2/query?org=home_assistant`, flux, "application/vnd.flux");
    expect(response.status).toBe(200);
    return parseCsv(await response.text());
  }

  function config(token: string): WriterConfig {
    return resolveConfig(
      {
        influxdb: { url: server().url, org: "home_assistant", token, batchTimeoutSeconds: 0.05 },
        spool: { dir: spoolDir },
        timeZone: "Europe/Berlin",
      },
      {},
    );
  }

  async function start(token = server().token): Promise<Pipeline> {
    const quiet = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    pipeline = createPipeline(config(token), {
      logger: createLogger({ level: "error", format: "json", secrets: [server().token], destination: quiet }),
      metrics: createMetrics({ processMetrics: false }),
      retry: { baseMs: 10, maxMs: 100 },
    });
    await pipeline.start();
    return pipeline;
  }

  beforeAll(async () => {
    for (const name of EXTRA_BUCKETS) {
      const response = await api(
        "POST",
        "/api/v2/buckets",
        JSON.stringify({ name, orgID: server().orgId, retentionRules: [] }),
      );
      expect(response.status).toBe(201);
    }
  });
  beforeEach(() => {
    spoolDir = mkdtempSync(join(tmpdir(), "ha-influx-writer-it-"));
  });
  afterEach(async () => {
    await pipeline?.stop(2000);
    pipeline = undefined;
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it("answers the readiness probe with the operator token", async () => {
    expect(await (await start()).checkWritable()).toMatchObject({ ok: true });
  });

  it("writes special characters, unicode and microsecond timestamps that read back exactly", async () => {
    const writer = await start();
    const at = "2026-03-02T10:00:00.123456+00:00";
    const results = await writer.submit(
      [
        {
          entity_id: "sensor.special",
          state: 'say "hi",\nthen C:\\temp',
          attributes: { device_name: "Bob's room, =1 Küche 🍳 a\\b", unit_of_measurement: "°C", area: "Living Room" },
          timestamp: at,
        },
        {
          entity_id: "sensor.special",
          state: "21.5",
          attributes: { device_name: "Bob's room, =1 Küche 🍳 a\\b" },
          timestamp: at,
        },
      ],
      "integration",
    );
    expect(results.map((result) => result.status)).toEqual(["accepted", "accepted"]);
    expect(await writer.flush(10_000)).toEqual({ drained: true, pendingEvents: 0 });

    const rows = await query(
      `from(bucket: "home_assistant_events") |> range(start: 2026-03-02T00:00:00Z, stop: 2026-03-03T00:00:00Z)
       |> filter(fn: (r) => r.entity_id == "sensor.special" and r._field == "state_value")`,
    );
    expect(rows.map((row) => [row._time, row._value])).toEqual([
      ["2026-03-02T10:00:00.123456Z", 'say "hi",\\nthen C:\\temp'],
      ["2026-03-02T10:00:00.123457Z", "21.5"],
    ]);
    expect(rows[0]).toMatchObject({
      device_name: "Bob's room, =1 Küche 🍳 a\\b",
      area: "Living Room",
      domain: "sensor",
      time_of_day: "morning",
    });
  });

  it("moves only the lines InfluxDB refuses (a 422 that names none) to the dead letters", async () => {
    // `unit_of_measurement` first written as a float makes later string values conflict in this shard.
    const seed = await api(
      "POST",
      "/api/v2/write?org=home_assistant&bucket=home_assistant_events&precision=s",
      "home_assistant_events,entity_id=sensor.seed unit_of_measurement=1 1775210400",
      "text/plain",
    );
    expect(seed.status).toBe(204);
    const writer = await start();
    await writer.submit(
      [
        { entity_id: "sensor.a", state: "1", timestamp: "2026-04-03T10:00:00Z" },
        {
          entity_id: "sensor.b",
          state: "2",
          attributes: { unit_of_measurement: "W" },
          timestamp: "2026-04-03T10:00:01Z",
        },
        { entity_id: "sensor.c", state: "3", timestamp: "2026-04-03T10:00:02Z" },
      ],
      "integration",
    );
    expect(await writer.flush(20_000)).toEqual({ drained: true, pendingEvents: 0 });
    const written = await query(
      `from(bucket: "home_assistant_events") |> range(start: 2026-04-03T00:00:00Z, stop: 2026-04-04T00:00:00Z)
       |> filter(fn: (r) => r._field == "state_value")`,
    );
    expect(written.map((row) => row.entity_id).sort()).toEqual(["sensor.a", "sensor.c"]);
    const deadLetters = join(spoolDir, "dead-letter.ndjson");
    expect(existsSync(deadLetters)).toBe(true);
    const dead = readFileSync(deadLetters, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { status: number; reason: string; line: string });
    expect(dead).toHaveLength(1);
    expect(dead[0]!.status).toBe(422);
    expect(dead[0]!.reason).toContain("field type conflict");
    expect(dead[0]!.line).toContain("entity_id=sensor.b");
  });

  it("keeps events refused with 401 and delivers them once a valid token is configured", async () => {
    const refused = await start("not-a-valid-token");
    await refused.submit([{ entity_id: "sensor.kept", state: "7", timestamp: "2026-05-04T10:00:00Z" }], "integration");
    const result = await refused.stop(300);
    expect(result).toEqual({ drained: false, pendingEvents: 1 });
    expect(refused.status()).toMatchObject({ healthy: false });
    pipeline = undefined;

    const writer = await start();
    expect(await writer.flush(10_000)).toEqual({ drained: true, pendingEvents: 0 });
    const rows = await query(
      `from(bucket: "home_assistant_events") |> range(start: 2026-05-04T00:00:00Z, stop: 2026-05-05T00:00:00Z)
       |> filter(fn: (r) => r.entity_id == "sensor.kept" and r._field == "normalized_value")`,
    );
    expect(rows.map((row) => row._value)).toEqual(["7"]);
  });
});

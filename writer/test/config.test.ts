/** Configuration: the provisioner's writerConfig JSON, env vars over it, and errors that name the setting. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, resolveConfig, secretsOf } from "../src/config";
import { tempDir } from "./helpers/setup";

/** The JSON the provisioner emits as the `writerConfig` stack output. */
const writerConfig = {
  influxdb: {
    url: "http://influxdb:8086",
    org: "home_assistant",
    token: "influx-secret-token",
    buckets: {
      events: "home_assistant_events",
      weather: "weather_data",
      system: "system_metrics",
      sports: "sports_data",
    },
    batchSize: 1000,
    batchTimeoutSeconds: 5,
    writeTimeoutSeconds: 30,
    readTimeoutSeconds: 10,
  },
  timeZone: "Europe/Berlin",
  logLevel: "info",
  logFormat: "json",
  homeAssistant: {
    url: "ws://homeassistant:8123/api/websocket",
    token: "ha-secret-token",
    weatherEntity: "weather.home",
  },
  ingest: { host: "0.0.0.0", port: 8087 },
  filters: {
    include: { entities: [], domains: ["sensor", "light"], entityGlobs: [] },
    exclude: { entities: ["sensor.noisy"], domains: [], entityGlobs: ["sensor.*_rssi"] },
  },
};

function problemsOf(action: () => unknown): string[] {
  try {
    action();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("writer configuration", () => {
  it("accepts the provisioner's writerConfig exactly, with defaults for the rest", () => {
    const config = resolveConfig(writerConfig, {});
    expect(config.influxdb).toMatchObject(writerConfig.influxdb);
    expect(config.homeAssistant).toMatchObject({ ...writerConfig.homeAssistant, snapshotOnStart: true });
    expect(config.filters.include.domains).toEqual(["sensor", "light"]);
    expect(config.spool).toEqual({ dir: "spool", maxBytes: 1024 * 1024 * 1024 });
    expect(config.retention).toEqual({ rawDays: 365, hourlyDays: 730, dailyDays: 2555 });
    expect(config.routing.rules).toEqual([]);
  });

  it("runs from environment variables alone, with the defaults of docs/schema.md", () => {
    const config = resolveConfig({}, { INFLUXDB_URL: "http://localhost:8086", INFLUXDB_TOKEN: "t0ken-value" });
    expect(config.influxdb).toMatchObject({
      org: "home_assistant",
      buckets: {
        events: "home_assistant_events",
        weather: "weather_data",
        system: "system_metrics",
        sports: "sports_data",
      },
      batchSize: 1000,
      batchTimeoutSeconds: 5,
      writeTimeoutSeconds: 30,
      readTimeoutSeconds: 10,
    });
    expect(config).toMatchObject({ logLevel: "info", logFormat: "json" });
    // Unset: Home Assistant's zone when that source is configured, else UTC (pipeline.ts).
    expect(config.timeZone).toBeUndefined();
    expect(config.homeAssistant).toBeUndefined();
  });

  it("lets environment variables win over the file", () => {
    const config = resolveConfig(writerConfig, {
      INFLUXDB_URL: "https://influx.example:8086",
      INFLUXDB_BUCKET: "ha_raw",
      INFLUXDB_BATCH_SIZE: "500",
      INFLUXDB_BATCH_TIMEOUT: "2.5",
      RAW_DATA_RETENTION_DAYS: "90",
      LOG_LEVEL: "WARNING",
      WRITER_TIME_ZONE: "America/New_York",
      WRITER_SPOOL_DIR: "data/spool",
      WRITER_SPOOL_MAX_BYTES: "104857600",
      INGEST_PORT: "9000",
      HA_TOKEN: "other-ha-token",
    });
    expect(config.influxdb.url).toBe("https://influx.example:8086");
    expect(config.influxdb.buckets.events).toBe("ha_raw");
    expect(config.influxdb.buckets.weather).toBe("weather_data");
    expect(config.influxdb.batchSize).toBe(500);
    expect(config.influxdb.batchTimeoutSeconds).toBe(2.5);
    expect(config.retention.rawDays).toBe(90);
    expect(config.logLevel).toBe("warn");
    expect(config.timeZone).toBe("America/New_York");
    expect(config.spool).toEqual({ dir: "data/spool", maxBytes: 104857600 });
    expect(config.ingest.port).toBe(9000);
    expect(config.homeAssistant?.token).toBe("other-ha-token");
  });

  it.each([
    ["a missing token", {}, { INFLUXDB_URL: "http://localhost:8086" }, "INFLUXDB_TOKEN (influxdb.token): required"],
    ["a missing URL", {}, { INFLUXDB_TOKEN: "abcd" }, "INFLUXDB_URL (influxdb.url): required"],
    [
      "a URL that is not http",
      {},
      { INFLUXDB_URL: "ftp://x", INFLUXDB_TOKEN: "abcd" },
      "INFLUXDB_URL (influxdb.url): must be an http(s) URL",
    ],
    [
      "a batch size that is not a number",
      writerConfig,
      { INFLUXDB_BATCH_SIZE: "lots" },
      'INFLUXDB_BATCH_SIZE (influxdb.batchSize): must be a number, got "lots"',
    ],
    ["a batch size of zero", writerConfig, { INFLUXDB_BATCH_SIZE: "0" }, "INFLUXDB_BATCH_SIZE (influxdb.batchSize)"],
    [
      "a fractional batch size",
      writerConfig,
      { INFLUXDB_BATCH_SIZE: "1.5" },
      "INFLUXDB_BATCH_SIZE (influxdb.batchSize)",
    ],
    [
      "a negative timeout",
      writerConfig,
      { INFLUXDB_WRITE_TIMEOUT: "-1" },
      "INFLUXDB_WRITE_TIMEOUT (influxdb.writeTimeoutSeconds)",
    ],
    ["an unknown log level", writerConfig, { LOG_LEVEL: "LOUD" }, "LOG_LEVEL (logLevel)"],
    ["an unknown log format", writerConfig, { LOG_FORMAT: "xml" }, "LOG_FORMAT (logFormat)"],
    [
      "an unknown time zone",
      writerConfig,
      { WRITER_TIME_ZONE: "Mars/Olympus" },
      "WRITER_TIME_ZONE (timeZone): must be an IANA time zone such as Europe/Berlin",
    ],
    ["a port out of range", writerConfig, { INGEST_PORT: "70000" }, "INGEST_PORT (ingest.port)"],
    ["a tiny spool", writerConfig, { WRITER_SPOOL_MAX_BYTES: "1000" }, "WRITER_SPOOL_MAX_BYTES (spool.maxBytes)"],
    [
      "a Home Assistant URL without a token",
      {},
      { INFLUXDB_URL: "http://x:8086", INFLUXDB_TOKEN: "abcd", HA_URL: "ws://ha:8123" },
      "HA_TOKEN (homeAssistant.token): required",
    ],
    [
      "a bad filter entity in the file",
      { ...writerConfig, filters: { include: { entities: ["Kitchen Light"] } } },
      {},
      "filters.include.entities.0: must be an entity id like sensor.kitchen",
    ],
    ["an unknown top-level key", { ...writerConfig, timezone: "UTC" }, {}, "timezone: unknown key"],
    [
      "an unknown InfluxDB key",
      { ...writerConfig, influxdb: { ...writerConfig.influxdb, batch_size: 5 } },
      {},
      "influxdb.batch_size: unknown key",
    ],
    ["an unknown ingest key", { ...writerConfig, ingest: { maxEvents: 5 } }, {}, "ingest.maxEvents: unknown key"],
    [
      "a tag limit above InfluxDB's bound",
      { ...writerConfig, limits: { maxTagValueBytes: 70_000 } },
      {},
      "limits.maxTagValueBytes",
    ],
    [
      "an unknown routing bucket",
      { ...writerConfig, routing: { rules: [{ match: { domains: ["sensor"] }, bucket: "archive" }] } },
      {},
      "routing.rules.0.bucket",
    ],
  ])("stops on %s with a message naming it", (_name, json, env, expected) => {
    const problems = problemsOf(() => resolveConfig(json, env));
    expect(problems.some((problem) => problem.startsWith(expected))).toBe(true);
  });

  it("never puts a token into an error message", () => {
    const error = (() => {
      try {
        resolveConfig({ influxdb: { url: "nope", token: "super-secret-value" } }, {});
      } catch (caught) {
        return caught as Error;
      }
      throw new Error("expected a ConfigError");
    })();
    expect(error.message).toContain("influxdb.url");
    expect(error.message).not.toContain("super-secret-value");
  });

  it("reads the JSON from a file or from standard input", async () => {
    const dir = tempDir();
    try {
      const path = join(dir.dir, "writer.json");
      writeFileSync(path, JSON.stringify(writerConfig));
      expect((await loadConfig({ env: {}, file: path })).influxdb.token).toBe("influx-secret-token");
      const stdin = Readable.from([JSON.stringify(writerConfig)]);
      expect((await loadConfig({ env: {}, file: "-", stdin })).homeAssistant?.weatherEntity).toBe("weather.home");
      await expect(loadConfig({ env: {}, file: join(dir.dir, "missing.json") })).rejects.toThrow(/cannot be read/);
      writeFileSync(path, "{ not json");
      await expect(loadConfig({ env: {}, file: path })).rejects.toThrow(/not valid JSON/);
    } finally {
      dir.remove();
    }
  });

  it("refuses an entity glob that no pattern can be made of, naming it and why", () => {
    const filters = { exclude: { entityGlobs: ["sensor.*_rssi", "sensor.[z-a]*"] } };
    expect(() => resolveConfig({ ...writerConfig, filters }, {})).toThrow(
      /filters\.exclude\.entityGlobs\.1: is not a usable glob: Range out of order in character class/,
    );
    expect(
      resolveConfig({ ...writerConfig, filters: { exclude: { entityGlobs: ["sensor.[a-z]*"] } } }, {}).filters.exclude,
    ).toMatchObject({ entityGlobs: ["sensor.[a-z]*"] });
  });

  it("lists every secret for the logger's redaction", () => {
    const config = resolveConfig({ ...writerConfig, ingest: { token: "ingest-secret" } }, {});
    expect(secretsOf(config).sort()).toEqual(["ha-secret-token", "influx-secret-token", "ingest-secret"]);
  });
});

// Stack configuration: the defaults of docs/schema.md, and one message per bad key naming the rule.
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { durationSeconds, parseStackConfig, readStackConfig, StackConfigError } from "../../components/config";
import { setPath, stackFileSettings } from "./helpers/declare";

/** The smallest valid docker-runtime stack. */
const minimal = { onboarding: { password: "correct-horse" } };
const external = { server: { runtime: "external", url: "http://influx.lan:8086", adminToken: "op-token" } };

function problems(raw: Record<string, unknown>): string[] {
  try {
    parseStackConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(StackConfigError);
    return (error as StackConfigError).issues;
  }
  throw new Error("configuration was accepted");
}

describe("parseStackConfig defaults", () => {
  it("fills every default of docs/schema.md", () => {
    expect(parseStackConfig(minimal)).toEqual({
      server: {
        runtime: "docker",
        image: "influxdb:2.7.12",
        bindAddress: "127.0.0.1",
        port: 8086,
        readyTimeoutSeconds: 120,
      },
      onboarding: { username: "admin", password: "correct-horse" },
      org: "home_assistant",
      deleteDataOnDestroy: false,
      buckets: {
        events: { name: "home_assistant_events", retentionDays: 365, shardGroupDays: 7 },
        weather: { name: "weather_data", retentionDays: 180 },
        system: { name: "system_metrics", retentionDays: 30 },
        sports: { name: "sports_data", retentionDays: 90 },
        hourly: { name: "home_assistant_hourly", retentionDays: 730, shardGroupDays: 30 },
        daily: { name: "home_assistant_daily", retentionDays: 2555, shardGroupDays: 90 },
      },
      tasks: {
        hourly: { enabled: true, every: "1h", offset: "5m", lookback: "3h" },
        daily: { enabled: true, every: "1d", offset: "30m", lookback: "3d" },
      },
      timeZone: "Europe/Berlin",
      tokens: { writer: true, reader: true, monitor: true },
      writer: {
        enabled: true,
        logLevel: "info",
        logFormat: "json",
        batchSize: 1000,
        batchTimeoutSeconds: 5,
        writeTimeoutSeconds: 30,
        readTimeoutSeconds: 10,
      },
      monitor: {
        enabled: true,
        intervalSeconds: 300,
        growthWindowDays: 7,
        alerts: {
          diskUsedPercent: 85,
          daysUntilFull: 30,
          taskFailedRuns: 1,
          taskLagWindows: 3,
          seriesMax: 250_000,
          seriesGrowthPerDay: 5_000,
        },
      },
    });
  });

  it("accepts numbers and booleans as the CLI stores them with --path (text)", () => {
    const cfg = parseStackConfig({
      ...minimal,
      buckets: { system: { retentionDays: "14" } },
      tokens: { monitor: "false" },
      server: { port: "9086" },
    });
    expect(cfg.buckets.system.retentionDays).toBe(14);
    expect(cfg.tokens.monitor).toBe(false);
    expect(cfg.server.port).toBe(9086);
  });

  it("takes a cron schedule instead of the default interval", () => {
    expect(parseStackConfig({ ...minimal, tasks: { daily: { cron: "15 0 * * *" } } }).tasks.daily).toEqual({
      enabled: true,
      cron: "15 0 * * *",
      every: undefined,
      offset: "30m",
      lookback: "3d",
    });
  });

  it("needs only a URL and an admin token for an external server", () => {
    expect(parseStackConfig(external).server).toMatchObject({
      runtime: "external",
      url: "http://influx.lan:8086",
      adminToken: "op-token",
    });
  });

  it("accepts one hour, InfluxDB's shortest retention", () => {
    expect(
      parseStackConfig(setPath(minimal, "buckets.system.retentionDays", 1 / 24)).buckets.system.retentionDays,
    ).toBeCloseTo(1 / 24);
  });
});

describe("parseStackConfig rejects each bad key with the rule it broke", () => {
  it.each<[string, Record<string, unknown>, string]>([
    [
      "events retention below an hour",
      setPath(minimal, "buckets.events.retentionDays", 0.01),
      "buckets.events.retentionDays: must be at least 1 hour (got 0.01 days)",
    ],
    [
      "infinite retention (0)",
      setPath(minimal, "buckets.sports.retentionDays", 0),
      "buckets.sports.retentionDays: must be at least 1 hour (got 0 days)",
    ],
    [
      "retention that is not a number",
      setPath(minimal, "buckets.weather.retentionDays", "half a year"),
      "buckets.weather.retentionDays: must be a number",
    ],
    [
      "rollup shorter than raw",
      setPath(minimal, "buckets.hourly.retentionDays", 300),
      "buckets.hourly.retentionDays: must exceed buckets.events.retentionDays, or rollups vanish with the raw data (300 <= 365)",
    ],
    [
      "rollup equal to raw",
      setPath(minimal, "buckets.daily.retentionDays", 365),
      "buckets.daily.retentionDays: must exceed buckets.events.retentionDays, or rollups vanish with the raw data (365 <= 365)",
    ],
    [
      "shard group of zero",
      setPath(minimal, "buckets.daily.shardGroupDays", 0),
      "buckets.daily.shardGroupDays: must be greater than 0",
    ],
    [
      "shard group longer than retention",
      setPath(minimal, "buckets.system.shardGroupDays", 60),
      "buckets.system.shardGroupDays: must not exceed retentionDays (60 > 30)",
    ],
    [
      "two buckets with one name",
      setPath(minimal, "buckets.sports.name", "weather_data"),
      "buckets: bucket names must be distinct (weather_data is used twice)",
    ],
    [
      "misspelt bucket setting",
      setPath(minimal, "buckets.events.retention", 30),
      "buckets.events.retention: unknown key",
    ],
    ["unknown bucket role", setPath(minimal, "buckets.minutely", {}), "buckets.minutely: unknown key"],
    [
      "unknown runtime",
      setPath(minimal, "server.runtime", "podman"),
      'server.runtime: Invalid option: expected one of "docker"|"external"',
    ],
    [
      "unpinned image",
      setPath(minimal, "server.image", "influxdb:latest"),
      "server.image: must pin a tag or digest (not latest)",
    ],
    [
      "image without tag",
      setPath(minimal, "server.image", "influxdb"),
      "server.image: must pin a tag or digest (not latest)",
    ],
    [
      "host name as bind address",
      setPath(minimal, "server.bindAddress", "localhost"),
      "server.bindAddress: must be an IP address such as 127.0.0.1 or 0.0.0.0",
    ],
    [
      "port out of range",
      setPath(minimal, "server.port", 70000),
      "server.port: Too big: expected number to be <=65535",
    ],
    [
      "volume name with a slash",
      setPath(minimal, "server.volume", "data/influx"),
      "server.volume: must be a docker name (letters, digits, _ . -)",
    ],
    [
      "docker without admin password",
      {},
      "onboarding.password: is required when server.runtime is docker (pulumi config set --secret --path ha-influx:onboarding.password)",
    ],
    [
      "short admin password",
      setPath(minimal, "onboarding.password", "short"),
      "onboarding.password: must be at least 8 characters",
    ],
    [
      "external without URL",
      setPath(external, "server.url", undefined),
      "server.url: is required when server.runtime is external",
    ],
    [
      "external without token",
      setPath(external, "server.adminToken", undefined),
      "server.adminToken: is required when server.runtime is external (pulumi config set --secret --path ha-influx:server.adminToken)",
    ],
    [
      "external URL of another scheme",
      setPath(external, "server.url", "ftp://influx.lan"),
      "server.url: must be an http(s) URL",
    ],
    [
      "both every and cron",
      setPath(minimal, "tasks.hourly", { every: "1h", cron: "0 * * * *" }),
      "tasks.hourly.cron: set either every or cron, not both",
    ],
    [
      "interval in words",
      setPath(minimal, "tasks.hourly.every", "1 hour"),
      "tasks.hourly.every: must be a Flux duration of whole s/m/h/d/w units, e.g. 5m or 1h30m",
    ],
    [
      "offset in months",
      setPath(minimal, "tasks.daily.offset", "1mo"),
      "tasks.daily.offset: must be a Flux duration of whole s/m/h/d/w units, e.g. 5m or 1h30m",
    ],
    [
      "cron of three fields",
      setPath(minimal, "tasks.daily.cron", "0 0 *"),
      "tasks.daily.cron: must be a cron expression of 5 or 6 fields",
    ],
    [
      "lookback of part windows",
      setPath(minimal, "tasks.hourly.lookback", "90m"),
      "tasks.hourly.lookback: must be a whole number of 1 h windows (got 90m)",
    ],
    [
      "lookback shorter than interval plus a window",
      setPath(minimal, "tasks.daily.lookback", "1d"),
      "tasks.daily.lookback: must cover the run interval plus one window, or windows are skipped (got 1d with every 1d)",
    ],
    [
      "enabled that is not a boolean",
      setPath(minimal, "tasks.daily.enabled", "sometimes"),
      "tasks.daily.enabled: must be true or false",
    ],
    [
      "unknown time zone",
      setPath(minimal, "timeZone", "Mars/Olympus_Mons"),
      "timeZone: must be an IANA time zone such as Europe/Berlin",
    ],
    [
      "writer without its token",
      setPath(minimal, "tokens.writer", false),
      "tokens.writer: must be true while writer.enabled is true",
    ],
    [
      "Home Assistant without token",
      setPath(minimal, "writer.homeAssistant", { url: "http://ha.lan:8123" }),
      "writer.homeAssistant.token: is required with writer.homeAssistant (pulumi config set --secret --path ha-influx:writer.homeAssistant.token)",
    ],
    [
      "Home Assistant URL without scheme",
      setPath(minimal, "writer.homeAssistant", { url: "ha.lan:8123", token: "t" }),
      "writer.homeAssistant.url: must be an http(s) or ws(s) URL",
    ],
    [
      "weather entity of another domain",
      setPath(minimal, "writer.homeAssistant", {
        url: "http://ha.lan:8123",
        token: "t",
        weatherEntity: "sensor.outside",
      }),
      "writer.homeAssistant.weatherEntity: must be a weather entity id",
    ],
    [
      "unknown log level",
      setPath(minimal, "writer.logLevel", "verbose"),
      'writer.logLevel: Invalid option: expected one of "trace"|"debug"|"info"|"warn"|"error"|"fatal"',
    ],
    [
      "batch size of zero",
      setPath(minimal, "writer.batchSize", 0),
      "writer.batchSize: Too small: expected number to be >=1",
    ],
    [
      "filter entity that is no entity id",
      setPath(minimal, "writer.filters", { exclude: { entities: ["Sensor.Kitchen"] } }),
      "writer.filters.exclude.entities.0: must be an entity id like sensor.kitchen",
    ],
    [
      "ingest port out of range",
      setPath(minimal, "writer.ingest", { port: 0 }),
      "writer.ingest.port: Too small: expected number to be >=1",
    ],
    ["misspelt top-level key", setPath(minimal, "bucket", {}), "bucket: unknown key"],
  ])("%s", (_case, raw, message) => {
    expect(problems(raw)).toEqual([message]);
  });

  it("lists every bad key in one error", () => {
    const raw = setPath(
      setPath(setPath(minimal, "server.port", "http"), "timeZone", "Berlin"),
      "tasks.hourly.every",
      "hourly",
    );
    const error = (() => {
      try {
        parseStackConfig(raw);
      } catch (e) {
        return e as Error;
      }
      throw new Error("configuration was accepted");
    })();
    expect(error.message).toBe(
      [
        "invalid ha-influx stack configuration:",
        "  server.port: must be a number",
        "  tasks.hourly.every: must be a Flux duration of whole s/m/h/d/w units, e.g. 5m or 1h30m",
        "  timeZone: must be an IANA time zone such as Europe/Berlin",
      ].join("\n"),
    );
  });

  it("never echoes a secret value in a message", () => {
    const message = problems(
      setPath(setPath(minimal, "onboarding.password", "hunter2"), "writer.homeAssistant", {
        url: "nope",
        token: "ha-secret",
      }),
    ).join("\n");
    expect(message).not.toContain("hunter2");
    expect(message).not.toContain("ha-secret");
  });
});

describe("the committed stack files", () => {
  it("Pulumi.dev.yaml asks for exactly its two secrets and nothing else", () => {
    expect(problems(stackFileSettings("Pulumi.dev.yaml"))).toEqual([
      "onboarding.password: is required when server.runtime is docker (pulumi config set --secret --path ha-influx:onboarding.password)",
      "writer.homeAssistant.token: is required with writer.homeAssistant (pulumi config set --secret --path ha-influx:writer.homeAssistant.token)",
    ]);
  });

  it("Pulumi.prod.yaml asks for exactly its two secrets and nothing else", () => {
    expect(problems(stackFileSettings("Pulumi.prod.yaml"))).toEqual([
      "server.adminToken: is required when server.runtime is external (pulumi config set --secret --path ha-influx:server.adminToken)",
      "writer.homeAssistant.token: is required with writer.homeAssistant (pulumi config set --secret --path ha-influx:writer.homeAssistant.token)",
    ]);
  });
});

describe("readStackConfig", () => {
  it("hands over every ha-influx key, objects parsed, text as is, other namespaces ignored", () => {
    pulumi.runtime.setAllConfig(
      {
        "ha-influx:org": "home_assistant",
        "ha-influx:buckets": JSON.stringify({ events: { retentionDays: 400 } }),
        "ha-influx:bukets": JSON.stringify({}),
        "docker:host": "unix:///var/run/docker.sock",
      },
      ["ha-influx:onboarding"],
    );
    expect(readStackConfig()).toEqual({
      org: "home_assistant",
      buckets: { events: { retentionDays: 400 } },
      bukets: {},
    });
  });
});

describe("durationSeconds", () => {
  it.each([
    ["90s", 90],
    ["5m", 300],
    ["1h30m", 5_400],
    ["1d", 86_400],
    ["2w", 1_209_600],
  ])("%s is %i s", (text, seconds) => {
    expect(durationSeconds(text)).toBe(seconds);
  });

  it("refuses months, whose length varies", () => {
    expect(() => durationSeconds("1mo")).toThrow('not a duration: "1mo"');
  });
});

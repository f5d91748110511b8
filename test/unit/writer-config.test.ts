/**
 * The program builds `writerConfig` in the writer's own type and the writer reads it strictly: a key
 * spelt differently on the two sides fails the program's type check (below, `@ts-expect-error`) and
 * the writer's start-up (unknown keys are errors), instead of being ignored.
 */

import { ConfigError, resolveConfig, WriterConfigSchema } from "ha-influx-writer/config";
import { describe, expect, it } from "vitest";
import { parseStackConfig, StackConfigError } from "../../components/config";
import { buildWriterConfig, type WriterConfig } from "../../components/writer-config";
import { declareProgram, setPath } from "./helpers/declare";

const connection = {
  url: "http://influxdb:8086",
  org: "home_assistant",
  token: "writer-token-for-test",
  buckets: {
    events: "home_assistant_events",
    weather: "weather_data",
    system: "system_metrics",
    sports: "sports_data",
  },
};

const stack = parseStackConfig({
  onboarding: { password: "a-password" },
  timeZone: "Europe/Vienna",
  writer: {
    homeAssistant: { url: "http://ha.lan:8123", token: "ha-token", weatherEntity: "weather.home" },
    ingest: { token: "ingest-token" },
    filters: { exclude: { domains: ["automation"] } },
  },
});

describe("writerConfig and the writer's schema", () => {
  it("is read by the writer as the program built it, every key known", () => {
    const built = buildWriterConfig(stack, connection);
    const config = resolveConfig(built, {});
    expect(config).toMatchObject({
      timeZone: "Europe/Vienna",
      homeAssistant: { url: "http://ha.lan:8123", weatherEntity: "weather.home" },
      ingest: { host: "0.0.0.0", port: 8087, token: "ingest-token" },
      filters: { exclude: { domains: ["automation"] } },
    });
    expect(WriterConfigSchema.safeParse(built).success).toBe(true);
  });

  it.each([
    ["timeZone", "timezone", (c: Record<string, unknown>) => c],
    ["batchSize", "batch_size", (c: Record<string, unknown>) => c.influxdb as Record<string, unknown>],
    ["weatherEntity", "weather_entity", (c: Record<string, unknown>) => c.homeAssistant as Record<string, unknown>],
  ])("stops the writer when %s reaches it under another name (%s)", (key, renamed, parent) => {
    const built = structuredClone(buildWriterConfig(stack, connection)) as Record<string, unknown>;
    const section = parent(built);
    section[renamed] = section[key];
    delete section[key];
    expect(() => resolveConfig(built, {})).toThrow(ConfigError);
    expect(() => resolveConfig(built, {})).toThrow(new RegExp(`${renamed}: unknown key`));
  });

  it("does not type-check with a key the writer does not know", () => {
    const built = buildWriterConfig(stack, connection);
    // @ts-expect-error -- the writer's type has no `timezone`: a renamed key fails the program's build.
    const renamed: WriterConfig = { influxdb: built.influxdb, timezone: "Europe/Vienna" };
    expect(renamed).toBeDefined();
  });
});

describe("the Home Assistant settings of writerConfig", () => {
  const external = {
    server: { runtime: "external", url: "http://influx.lan:8086", adminToken: "op-token" },
  };
  /** The stack's `writer` section with `homeAssistant` set to `homeAssistant`, then through the writer's own parser. */
  const writerSees = (homeAssistant: Record<string, unknown>, enabled = true) =>
    resolveConfig(
      buildWriterConfig(parseStackConfig({ ...external, writer: { enabled, homeAssistant } }), connection),
      {},
    ).homeAssistant;
  const problems = (raw: Record<string, unknown>): string[] => {
    try {
      parseStackConfig(raw);
    } catch (error) {
      expect(error).toBeInstanceOf(StackConfigError);
      return (error as StackConfigError).issues;
    }
    throw new Error("configuration was accepted");
  };

  it("passes authRetrySeconds, recorderCommitIntervalSeconds and snapshotOnStart on, as `config set --path` text too", () => {
    expect(
      writerSees({
        url: "http://ha.lan:8123",
        token: "ha-token",
        authRetrySeconds: "30",
        recorderCommitIntervalSeconds: "0",
        snapshotOnStart: "false",
      }),
    ).toEqual({
      url: "http://ha.lan:8123",
      token: "ha-token",
      authRetrySeconds: 30,
      recorderCommitIntervalSeconds: 0,
      snapshotOnStart: false,
    });
  });

  it("leaves the keys a stack does not set to the writer's defaults", () => {
    const built = buildWriterConfig(
      parseStackConfig({ ...external, writer: { homeAssistant: { url: "http://ha.lan:8123", token: "t" } } }),
      connection,
    );
    expect(built.homeAssistant).toEqual({ url: "http://ha.lan:8123", token: "t" });
    expect(resolveConfig(built, {}).homeAssistant).toMatchObject({
      snapshotOnStart: true,
      authRetrySeconds: 300,
      recorderCommitIntervalSeconds: 5,
    });
  });

  it("gives a writer the program does not deploy a tokenFile instead of the token", () => {
    expect(writerSees({ url: "http://ha.lan:8123", tokenFile: "/run/secrets/ha-token" }, false)).toEqual({
      url: "http://ha.lan:8123",
      tokenFile: "/run/secrets/ha-token",
      snapshotOnStart: true,
      authRetrySeconds: 300,
      recorderCommitIntervalSeconds: 5,
    });
  });

  it.each([
    [
      "a tokenFile for the container the program deploys",
      { url: "http://ha.lan:8123", tokenFile: "/run/secrets/ha-token" },
      true,
      "writer.homeAssistant.tokenFile: is read by the writer, and the writer container this program deploys has no such file: set writer.homeAssistant.token (a secret), or writer.enabled false to run the writer yourself",
    ],
    [
      "both token and tokenFile",
      { url: "http://ha.lan:8123", token: "t", tokenFile: "/run/secrets/ha-token" },
      false,
      "writer.homeAssistant.tokenFile: set either token or tokenFile, not both",
    ],
    [
      "neither token nor tokenFile, writer run by hand",
      { url: "http://ha.lan:8123" },
      false,
      "writer.homeAssistant.token: is required with writer.homeAssistant, or tokenFile naming a file that holds it (pulumi config set --secret --path ha-influx:writer.homeAssistant.token)",
    ],
    [
      "an empty tokenFile",
      { url: "http://ha.lan:8123", tokenFile: "" },
      false,
      "writer.homeAssistant.tokenFile: must not be empty",
    ],
    [
      "an authRetrySeconds of zero",
      { url: "http://ha.lan:8123", token: "t", authRetrySeconds: 0 },
      true,
      "writer.homeAssistant.authRetrySeconds: must be greater than 0",
    ],
    [
      "a negative recorderCommitIntervalSeconds",
      { url: "http://ha.lan:8123", token: "t", recorderCommitIntervalSeconds: "-1" },
      true,
      "writer.homeAssistant.recorderCommitIntervalSeconds: must be 0 or more",
    ],
    [
      "a snapshotOnStart that is not a boolean",
      { url: "http://ha.lan:8123", token: "t", snapshotOnStart: "yes" },
      true,
      "writer.homeAssistant.snapshotOnStart: must be true or false",
    ],
    [
      "a misspelt key",
      { url: "http://ha.lan:8123", token: "t", authRetry: 30 },
      true,
      "writer.homeAssistant.authRetry: unknown key",
    ],
  ])("refuses %s, naming the key", (_case, homeAssistant, enabled, message) => {
    expect(problems({ ...external, writer: { enabled, homeAssistant } })).toEqual([message]);
  });

  it("exports writerConfig with the tokenFile path (secret as a whole for its InfluxDB token) and deploys no writer", async () => {
    const cfg = parseStackConfig(
      setPath({ ...external, writer: { enabled: false } }, "writer.homeAssistant", {
        url: "http://ha.lan:8123",
        tokenFile: "/run/secrets/ha-token",
        authRetrySeconds: "60",
      }),
    );
    const declared = await declareProgram(cfg, "ci");
    expect(declared.resources.filter((r) => r.type === "ha-influx:writer:WriterService")).toEqual([]);
    expect(declared.outputs.writerConfig?.secret).toBe(true);
    const config = declared.outputs.writerConfig?.value as WriterConfig;
    expect(config.homeAssistant).toEqual({
      url: "http://ha.lan:8123",
      tokenFile: "/run/secrets/ha-token",
      authRetrySeconds: 60,
    });
    expect(resolveConfig(config, {}).homeAssistant?.tokenFile).toBe("/run/secrets/ha-token");
  });
});

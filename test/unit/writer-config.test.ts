/**
 * The program builds `writerConfig` in the writer's own type and the writer reads it strictly: a key
 * spelt differently on the two sides fails the program's type check (below, `@ts-expect-error`) and
 * the writer's start-up (unknown keys are errors), instead of being ignored.
 */

import { ConfigError, resolveConfig, WriterConfigSchema } from "ha-influx-writer/config";
import { describe, expect, it } from "vitest";
import { parseStackConfig } from "../../components/config";
import { buildWriterConfig, type WriterConfig } from "../../components/writer-config";

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

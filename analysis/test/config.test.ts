// Configuration: the stack output file, env and flags, flags over env over the file.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as writerSchema from "../../writer/src/schema";
import { resolveConfig } from "../src/config";
import * as analysisSchema from "../src/schema";

const dir = mkdtempSync(join(tmpdir(), "analysis-config-"));
const file = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
};
const stackOutput = {
  analysisConfig: {
    url: "http://127.0.0.1:8086",
    org: "home",
    token: "file-token",
    timeZone: "Europe/Berlin",
    buckets: { events: "raw", hourly: "h", daily: "d" },
  },
};

describe("resolveConfig", () => {
  it("reads `pulumi stack output --json --show-secrets` or the analysisConfig object itself", () => {
    expect(resolveConfig({ config: file("outputs.json", stackOutput) }, {})).toEqual(stackOutput.analysisConfig);
    expect(resolveConfig({ config: file("analysis.json", stackOutput.analysisConfig) }, {})).toEqual(
      stackOutput.analysisConfig,
    );
  });

  it("lets flags win over env, and env over the file", () => {
    const config = file("precedence.json", stackOutput);
    const env = { INFLUXDB_URL: "http://env:8086", INFLUXDB_TOKEN: "env-token", INFLUXDB_ORG: "env-org" };
    expect(resolveConfig({ config }, env)).toMatchObject({
      url: "http://env:8086",
      token: "env-token",
      org: "env-org",
    });
    expect(
      resolveConfig({ config, url: "http://flag:8086", token: "flag-token", org: "flag-org", timeZone: "UTC" }, env),
    ).toMatchObject({
      url: "http://flag:8086",
      token: "flag-token",
      org: "flag-org",
      timeZone: "UTC",
      buckets: { events: "raw" },
    });
  });

  it("defaults org, zone and bucket names to the project's", () => {
    expect(resolveConfig({ url: "http://127.0.0.1:8086", token: "t" }, {})).toEqual({
      url: "http://127.0.0.1:8086",
      org: "home_assistant",
      token: "t",
      timeZone: "Europe/Berlin",
      buckets: { events: "home_assistant_events", hourly: "home_assistant_hourly", daily: "home_assistant_daily" },
    });
  });

  it.each([
    [{}, {}, "no InfluxDB URL: give --url, INFLUXDB_URL or --config"],
    [{ url: "http://x:1" }, {}, "config token is required (--token, INFLUXDB_TOKEN or the config file)"],
    [{ url: "not a url", token: "t" }, {}, "config url must be a URL"],
    [{ url: "http://x:1", token: "t", timeZone: "Mars/Olympus" }, {}, "config timeZone must be an IANA time zone"],
    [{ config: join(dir, "missing.json") }, {}, "cannot read --config"],
    [{ config: file("bad.json", "{not json") }, {}, "is not JSON"],
  ])("rejects %j %j: %s", (flags, env, message) => {
    expect(() => resolveConfig(flags, env)).toThrow(message);
  });
});

it("repeats the writer's schema names exactly", () => {
  expect(analysisSchema.RAW_MEASUREMENT).toBe(writerSchema.MEASUREMENT);
  expect(analysisSchema.HOURLY_MEASUREMENT).toBe(writerSchema.HOURLY_MEASUREMENT);
  expect(analysisSchema.DAILY_MEASUREMENT).toBe(writerSchema.DAILY_MEASUREMENT);
  expect(writerSchema.STRING_FIELDS).toContain(analysisSchema.UNIT_FIELD);
  expect(analysisSchema.STATISTIC_FIELDS).toContain(writerSchema.ENERGY_FIELD);
});

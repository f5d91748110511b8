// A stack with everything optional turned off: what the switches remove, and nothing else.
import { beforeAll, expect, it } from "vitest";
import { parseStackConfig } from "../../components/config";
import { bucketGraph, type Declaration, DYNAMIC, declareProgram, graphOf } from "./helpers/declare";

let declared: Declaration;
beforeAll(async () => {
  const cfg = parseStackConfig({
    server: { runtime: "external", url: "http://influx.lan:8086/", adminToken: "op-token" },
    tasks: { hourly: { enabled: false }, daily: { enabled: "false" } },
    tokens: { writer: false, monitor: false },
    writer: { enabled: false },
  });
  declared = await declareProgram(cfg, "ci");
});

it("declares no task, no writer and only the reader token", () => {
  expect(graphOf(declared)).toEqual(
    [
      "pulumi:pulumi:Stack > ha-influx:server:ExternalInfluxServer influxdb",
      "pulumi:pulumi:Stack > ha-influx:tenancy:Tenancy home-assistant",
      "pulumi:pulumi:Stack > ha-influx:downsampling:Downsampling rollup",
      "pulumi:pulumi:Stack > ha-influx:tokens:Tokens token",
      `ha-influx:server:ExternalInfluxServer > ${DYNAMIC}:ServerReady influxdb-ready`,
      `ha-influx:tenancy:Tenancy > ${DYNAMIC}:Organization home-assistant-org`,
      ...bucketGraph(),
      `ha-influx:tokens:Tokens > ${DYNAMIC}:Authorization token-reader`,
    ].sort(),
  );
});

it("exports no writer configuration and no task ids, and the URL without its trailing slash", () => {
  expect(declared.outputs.writerConfig).toBeUndefined();
  expect(declared.outputs.taskIds.value).toEqual({});
  expect(declared.outputs.tokens).toEqual({
    writer: undefined,
    reader: { value: "token-reader-token-value", secret: true },
    monitor: undefined,
  });
  expect(declared.outputs.url.value).toBe("http://influx.lan:8086");
});

// A prod-like stack (Pulumi.prod.yaml: an existing server, cron schedule, ingest, filters) under mocks.

import { WriterConfigSchema } from "ha-influx-writer/config";
import { beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig } from "../../components/config";
import { hourlyRollupFlux } from "../../components/flux";
import {
  type Declaration,
  DYNAMIC,
  inputsOf as declaredInputs,
  declareProgram,
  graphBelowServer,
  graphOf,
  isSecretValue,
  optionsOf,
  reveal,
  setPath,
  stackFileSettings,
} from "./helpers/declare";

const DAY = 86_400;
const SERVER = "http://influxdb.home.arpa:8086";
const ORG_ID = "home-assistant-org-id";

let declared: Declaration;
const inputsOf = (type: string, name: string) => declaredInputs(declared, type, name);

beforeAll(async () => {
  let settings = stackFileSettings("Pulumi.prod.yaml");
  settings = setPath(settings, "server.adminToken", "existing-operator-token");
  settings = setPath(settings, "writer.homeAssistant.token", "ha-long-lived-token");
  settings = setPath(settings, "writer.ingest.token", "ingest-bearer-token");
  declared = await declareProgram(parseStackConfig(settings), "prod");
});

describe("Pulumi.prod.yaml (external server)", () => {
  it("declares exactly these resources: no container, no onboarding, one organisation", () => {
    expect(graphOf(declared)).toEqual(
      [
        "pulumi:pulumi:Stack > ha-influx:server:ExternalInfluxServer influxdb",
        `ha-influx:server:ExternalInfluxServer > ${DYNAMIC}:ServerReady influxdb-ready`,
        `ha-influx:tenancy:Tenancy > ${DYNAMIC}:Organization home-assistant-org`,
        ...graphBelowServer(),
      ].sort(),
    );
  });

  it("waits for the configured server and manages it with the configured token, kept secret", () => {
    expect(reveal(inputsOf(`${DYNAMIC}:ServerReady`, "influxdb-ready"))).toMatchObject({
      url: SERVER,
      timeoutSeconds: 60,
    });
    const org = inputsOf(`${DYNAMIC}:Organization`, "home-assistant-org");
    expect(isSecretValue(org.connection)).toBe(true);
    expect(reveal(org)).toMatchObject({
      name: "home_assistant",
      connection: { url: SERVER, token: "existing-operator-token" },
    });
    expect(declared.outputs.orgId.value).toBe(ORG_ID);
  });

  it.each([
    ["events", 365 * DAY, 7 * DAY, "Raw Home Assistant state changes"],
    ["hourly", 730 * DAY, 30 * DAY, undefined],
    ["daily", 2555 * DAY, 90 * DAY, undefined],
    ["weather", 180 * DAY, undefined, undefined],
  ])("bucket %s keeps %i s in shard groups of %s s", (role, retention, shard, description) => {
    const bucket = reveal(inputsOf(`${DYNAMIC}:Bucket`, `home-assistant-${role}`)) as Record<string, unknown>;
    expect(bucket).toMatchObject({ orgId: ORG_ID, retentionSeconds: retention });
    expect(bucket.shardGroupDurationSeconds).toBe(shard);
    expect(bucket.description).toBe(description);
  });

  it("keeps the organisation and every bucket on the server when the stack is destroyed", () => {
    // Deleting the organisation would delete its buckets, so it stays too.
    expect(optionsOf(declared, `${DYNAMIC}:Organization`, "home-assistant-org").retainOnDelete).toBe(true);
    for (const role of ["events", "weather", "system", "sports", "hourly", "daily"]) {
      expect(optionsOf(declared, `${DYNAMIC}:Bucket`, `home-assistant-${role}`).retainOnDelete, role).toBe(true);
    }
    expect(optionsOf(declared, `${DYNAMIC}:Task`, "rollup-hourly").retainOnDelete).toBe(false);
  });

  it("schedules the hourly rollup by cron with the configured offset and a 6 h lookback", () => {
    const task = reveal(inputsOf(`${DYNAMIC}:Task`, "rollup-hourly")) as Record<string, unknown>;
    expect(task).toMatchObject({
      cron: "0 * * * *",
      offset: "10m",
      flux: hourlyRollupFlux({
        sourceBucket: "home_assistant_events",
        targetBucket: "home_assistant_hourly",
        timeZone: "Europe/Berlin",
        lookback: "6h",
      }),
    });
    expect(task.every).toBeUndefined();
    expect(reveal(inputsOf(`${DYNAMIC}:Task`, "rollup-daily"))).toMatchObject({ every: "1d", offset: "1h" });
  });

  it("runs the writer without a docker network, with ingest published where configured", () => {
    const writer = reveal(inputsOf("docker:index/container:Container", "writer")) as Record<string, unknown>;
    expect(writer).toMatchObject({
      envs: [
        `INFLUXDB_URL=${SERVER}`,
        "WRITER_CONFIG_FILE=/etc/ha-influx-writer/config.json",
        "WRITER_SPOOL_DIR=/var/lib/ha-influx-writer/spool",
      ],
      networksAdvanced: [],
      ports: [{ internal: 8087, external: 8087, ip: "0.0.0.0" }],
    });
    // An external server's data is on another machine: only the spool is mounted.
    expect(writer.volumes).toEqual([
      { volumeName: "ha-influx-prod-writer-spool", containerPath: "/var/lib/ha-influx-writer/spool" },
    ]);
  });

  it("exports writerConfig with batch size, ingest and filters, valid for the writer", () => {
    const config = declared.outputs.writerConfig;
    expect(config?.secret).toBe(true);
    expect(config?.value).toMatchObject({
      influxdb: { url: SERVER, token: "token-writer-token-value", batchSize: 5000 },
      ingest: { host: "0.0.0.0", port: 8087, token: "ingest-bearer-token" },
      filters: {
        include: { entities: [], domains: [], entityGlobs: [] },
        exclude: { entities: [], domains: ["automation", "script", "update"], entityGlobs: ["sensor.*_linkquality"] },
      },
    });
    // Nothing tells the monitor where the disk is: no mount, and the stack sets no capacity.
    expect(config?.value).not.toHaveProperty("monitor.dataDir");
    expect(WriterConfigSchema.safeParse(config?.value).success).toBe(true);
  });
});

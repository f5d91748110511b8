// The dev stack (Pulumi.dev.yaml, docker runtime) under mocks: the exact resources it declares.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { WriterConfigSchema } from "ha-influx-writer/config";
import { beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig } from "../../components/config";
import { dailyRollupFlux, hourlyRollupFlux } from "../../components/flux";
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

const projectRoot = resolve(__dirname, "..", "..");

const DAY = 86_400;
const ADMIN = { url: "http://127.0.0.1:8086", token: "operator-token-value" };
const ORG_ID = "onboarded-org-id";

let declared: Declaration;
const rawInputsOf = (type: string, name: string) => declaredInputs(declared, type, name);
const inputsOf = (type: string, name: string) => reveal(rawInputsOf(type, name)) as Record<string, unknown>;

beforeAll(async () => {
  // What the user does once after cloning: the two secrets the file documents.
  let settings = stackFileSettings("Pulumi.dev.yaml");
  settings = setPath(settings, "onboarding.password", "correct-horse-battery");
  settings = setPath(settings, "writer.homeAssistant.token", "ha-long-lived-token");
  declared = await declareProgram(parseStackConfig(settings), "dev");
});

describe("Pulumi.dev.yaml", () => {
  it("declares exactly these resources, each under its component", () => {
    expect(graphOf(declared)).toEqual(
      [
        "pulumi:pulumi:Stack > ha-influx:server:DockerInfluxServer influxdb",
        "ha-influx:server:DockerInfluxServer > docker:index/remoteImage:RemoteImage influxdb-image",
        "ha-influx:server:DockerInfluxServer > docker:index/volume:Volume influxdb-data",
        "ha-influx:server:DockerInfluxServer > docker:index/network:Network influxdb-network",
        "ha-influx:server:DockerInfluxServer > docker:index/container:Container influxdb",
        `ha-influx:server:DockerInfluxServer > ${DYNAMIC}:ServerReady influxdb-ready`,
        `ha-influx:server:DockerInfluxServer > ${DYNAMIC}:Onboarding influxdb-onboarding`,
        ...graphBelowServer(),
      ].sort(),
    );
  });

  it("runs the pinned image with its data on a named volume, published on 127.0.0.1 only", () => {
    expect(inputsOf("docker:index/remoteImage:RemoteImage", "influxdb-image")).toEqual({
      name: "influxdb:2.7.12",
      keepLocally: true,
    });
    expect(inputsOf("docker:index/volume:Volume", "influxdb-data")).toEqual({ name: "ha-influx-dev-data" });
    const container = inputsOf("docker:index/container:Container", "influxdb");
    expect(container).toMatchObject({
      image: "sha256:influxdb-image",
      restart: "unless-stopped",
      ports: [{ internal: 8086, external: 8086, ip: "127.0.0.1" }],
      volumes: [{ volumeName: "ha-influx-dev-data", containerPath: "/var/lib/influxdb2" }],
      networksAdvanced: [{ name: "influxdb-network-mock", aliases: ["influxdb"] }],
      healthcheck: { tests: ["CMD", "influx", "ping"] },
    });
  });

  it("waits for /health, then onboards org home_assistant with the password as a secret", () => {
    expect(inputsOf(`${DYNAMIC}:ServerReady`, "influxdb-ready")).toMatchObject({
      url: ADMIN.url,
      timeoutSeconds: 120,
      trigger: "influxdb-id",
    });
    const onboarding = rawInputsOf(`${DYNAMIC}:Onboarding`, "influxdb-onboarding");
    expect(isSecretValue(onboarding.password)).toBe(true);
    expect(reveal(onboarding)).toMatchObject({
      url: ADMIN.url,
      username: "admin",
      password: "correct-horse-battery",
      org: "home_assistant",
      bucket: "ha_influx_onboarding",
      retentionSeconds: 3600,
    });
    // The onboarding creates the org: there is exactly one, and no second Organization resource.
    expect(declared.resources.filter((r) => r.type === `${DYNAMIC}:Organization`)).toEqual([]);
    expect(declared.outputs.orgName.value).toBe("home_assistant");
    expect(declared.outputs.orgId.value).toBe(ORG_ID);
  });

  it.each([
    ["events", "home_assistant_events", 365 * DAY, 7 * DAY],
    ["weather", "weather_data", 180 * DAY, undefined],
    ["system", "system_metrics", 30 * DAY, undefined],
    ["sports", "sports_data", 90 * DAY, undefined],
    ["hourly", "home_assistant_hourly", 730 * DAY, 30 * DAY],
    ["daily", "home_assistant_daily", 2555 * DAY, 90 * DAY],
  ])(
    "bucket %s is %s with retention %i s and shard group %s s, mapped for InfluxQL",
    (role, name, retention, shard) => {
      const bucket = inputsOf(`${DYNAMIC}:Bucket`, `home-assistant-${role}`);
      expect(bucket).toMatchObject({ connection: ADMIN, orgId: ORG_ID, name, retentionSeconds: retention });
      expect(bucket.shardGroupDurationSeconds).toBe(shard);
      expect(inputsOf(`${DYNAMIC}:DbrpMapping`, `home-assistant-${role}-dbrp`)).toMatchObject({
        orgId: ORG_ID,
        bucketId: `home-assistant-${role}-id`,
        database: name,
        retentionPolicy: "autogen",
        isDefault: true,
      });
      expect(declared.outputs.buckets.value[role]).toEqual({ name, id: `home-assistant-${role}-id` });
    },
  );

  it.each([
    [
      "hourly",
      "1h",
      "5m",
      hourlyRollupFlux({
        sourceBucket: "home_assistant_events",
        targetBucket: "home_assistant_hourly",
        timeZone: "Europe/Berlin",
        lookback: "3h",
      }),
    ],
    [
      "daily",
      "1d",
      "30m",
      dailyRollupFlux({
        sourceBucket: "home_assistant_events",
        targetBucket: "home_assistant_daily",
        timeZone: "Europe/Berlin",
        lookback: "3d",
      }),
    ],
  ])("the %s task runs every %s with offset %s and the builder's Flux", (period, every, offset, flux) => {
    const task = inputsOf(`${DYNAMIC}:Task`, `rollup-${period}`);
    expect(task).toMatchObject({
      connection: ADMIN,
      orgId: ORG_ID,
      name: `rollup-${period}`,
      every,
      offset,
      status: "active",
      flux,
    });
    expect(task.cron).toBeUndefined();
    expect(declared.outputs.taskIds.value[period]).toBe(`rollup-${period}-id`);
  });

  const bucket = (role: string, action: "read" | "write") => ({
    action,
    resource: { type: "buckets", id: `home-assistant-${role}-id`, orgId: ORG_ID },
  });
  const everyBucket = ["events", "weather", "system", "sports", "hourly", "daily"];
  it.each([
    ["writer", ["events", "weather", "system", "sports"].map((role) => bucket(role, "write"))],
    ["reader", everyBucket.map((role) => bucket(role, "read"))],
    [
      "monitor",
      [
        ...everyBucket.map((role) => bucket(role, "read")),
        { action: "read", resource: { type: "orgs", id: ORG_ID } },
        ...["hourly", "daily"].map((period) => ({
          action: "read",
          resource: { type: "tasks", id: `rollup-${period}-id`, orgId: ORG_ID },
        })),
      ],
    ],
  ])("the %s token holds exactly its permissions, bound to ids; its value is a secret output", (role, permissions) => {
    expect(inputsOf(`${DYNAMIC}:Authorization`, `token-${role}`)).toMatchObject({
      orgId: ORG_ID,
      description: `ha-influx dev ${role}`,
      permissions,
    });
    expect(declared.outputs.tokens[role]).toEqual({ value: `token-${role}-token-value`, secret: true });
  });

  it("sends the operator token only as a secret", () => {
    const connected = declared.resources.filter((r) => r.type.startsWith(DYNAMIC) && "connection" in r.inputs);
    expect(connected).toHaveLength(6 + 6 + 2 + 3);
    for (const r of connected) expect(isSecretValue(r.inputs.connection)).toBe(true);
  });

  it("serialises every dynamic provider into its resource", () => {
    const dynamic = declared.resources.filter((r) => r.type.startsWith(DYNAMIC));
    expect(dynamic).toHaveLength(19);
    for (const r of dynamic) {
      expect(typeof r.inputs.__provider).toBe("string");
      expect(r.inputs.__provider).toContain("exports.handler");
    }
  });

  it("builds writer/Dockerfile from the repository root, where the lock file is", () => {
    const image = inputsOf("docker:index/image:Image", "writer-image") as {
      build: { context: string; dockerfile: string };
    };
    expect(image).toMatchObject({ imageName: "ha-influx-writer:dev", skipPush: true });
    expect(resolve(image.build.context)).toBe(projectRoot);
    expect(resolve(image.build.dockerfile)).toBe(join(projectRoot, "writer", "Dockerfile"));
    expect(existsSync(join(image.build.context, "package-lock.json"))).toBe(true);
  });

  it("runs the writer by the built image's digest, not its tag, so a rebuilt image replaces the container", () => {
    const writer = inputsOf("docker:index/container:Container", "writer");
    // The mocks' repoDigest of the Image resource: a new build gets a new one, the tag stays.
    expect(writer.image).toBe("ha-influx-writer@sha256:writer-image-build");
    expect(writer.image).not.toContain(":dev");
    // A new image means a new container, and the old one goes first: two writers never share a spool.
    expect(optionsOf(declared, "docker:index/container:Container", "writer")).toMatchObject({
      deleteBeforeReplace: true,
      retainOnDelete: false,
    });
  });

  it("runs the writer on the server's network with a spool volume", () => {
    expect(inputsOf("docker:index/volume:Volume", "writer-spool")).toEqual({ name: "ha-influx-dev-writer-spool" });
    const writer = rawInputsOf("docker:index/container:Container", "writer");
    expect(isSecretValue(writer.uploads)).toBe(true);
    const plain = reveal(writer) as { uploads: { file: string; content: string }[] } & Record<string, unknown>;
    expect(plain).toMatchObject({
      restart: "unless-stopped",
      command: ["--shutdown-timeout", "25"],
      stopSignal: "SIGTERM",
      stopTimeout: 30,
      envs: [
        "INFLUXDB_URL=http://influxdb:8086",
        "WRITER_CONFIG_FILE=/etc/ha-influx-writer/config.json",
        "WRITER_SPOOL_DIR=/var/lib/ha-influx-writer/spool",
      ],
      volumes: [
        { volumeName: "ha-influx-dev-writer-spool", containerPath: "/var/lib/ha-influx-writer/spool" },
        // InfluxDB's own data volume, read-only: the monitor asks its filesystem for the free space.
        { volumeName: "ha-influx-dev-data", containerPath: "/var/lib/influxdb2-data", readOnly: true },
      ],
      networksAdvanced: [{ name: "influxdb-network-mock" }],
      ports: [],
    });
    expect(plain.uploads).toHaveLength(1);
    expect(plain.uploads[0].file).toBe("/etc/ha-influx-writer/config.json");
    expect(JSON.parse(plain.uploads[0].content)).toEqual(declared.outputs.writerConfig?.value);
  });

  it("exports writerConfig as a secret in the writer's own schema", () => {
    expect(declared.outputs.writerConfig?.secret).toBe(true);
    const config = declared.outputs.writerConfig?.value;
    expect(config).toEqual({
      influxdb: {
        url: "http://127.0.0.1:8086",
        org: "home_assistant",
        token: "token-writer-token-value",
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
        url: "http://homeassistant.local:8123",
        token: "ha-long-lived-token",
        weatherEntity: "weather.home",
      },
      monitor: {
        token: "token-monitor-token-value",
        intervalSeconds: 300,
        growthWindowDays: 7,
        // The mount above: the stack file sets neither dataDir nor capacityGb.
        dataDir: "/var/lib/influxdb2-data",
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
    expect(WriterConfigSchema.safeParse(config).success).toBe(true);
  });

  it.each(["events", "weather", "system", "sports", "hourly", "daily"])(
    "keeps bucket %s, with its points, when the stack is destroyed",
    (role) => {
      expect(optionsOf(declared, `${DYNAMIC}:Bucket`, `home-assistant-${role}`).retainOnDelete).toBe(true);
      // Its InfluxQL mapping may go: a later stack makes it again.
      expect(optionsOf(declared, `${DYNAMIC}:DbrpMapping`, `home-assistant-${role}-dbrp`).retainOnDelete).toBe(false);
    },
  );

  it("keeps the data volume, the spool volume and the onboarding when the stack is destroyed; tasks and tokens go", () => {
    expect(optionsOf(declared, "docker:index/volume:Volume", "influxdb-data").retainOnDelete).toBe(true);
    expect(optionsOf(declared, "docker:index/volume:Volume", "writer-spool").retainOnDelete).toBe(true);
    expect(optionsOf(declared, `${DYNAMIC}:Onboarding`, "influxdb-onboarding")).toMatchObject({
      retainOnDelete: true,
      ignoreChanges: ["url", "password"],
    });
    for (const [type, name] of [
      [`${DYNAMIC}:Task`, "rollup-hourly"],
      [`${DYNAMIC}:Authorization`, "token-writer"],
      ["docker:index/container:Container", "influxdb"],
    ]) {
      expect(optionsOf(declared, type, name).retainOnDelete, name).toBe(false);
    }
  });

  it("lets the server generate the operator token at setup when server.adminToken is not set", () => {
    expect(inputsOf(`${DYNAMIC}:Onboarding`, "influxdb-onboarding").token).toBeUndefined();
  });

  it("exports the URL the engine reaches the server at", () => {
    expect(declared.outputs.url).toEqual({ value: "http://127.0.0.1:8086", secret: false });
  });
});

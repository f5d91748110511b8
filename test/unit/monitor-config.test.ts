// The monitor's stack keys: defaults, text values as `pulumi config set --path` stores them, clear
// errors, and how they reach the writer's `monitor` section (with the monitor token) in writerConfig.
import { describe, expect, it } from "vitest";
import { parseStackConfig, type StackConfigError } from "../../components/config";
import { buildWriterConfig } from "../../components/writer-config";
import { WriterConfigSchema } from "../../writer/src/config";

const minimal = { onboarding: { password: "correct-horse" } };
const connection = {
  url: "http://127.0.0.1:8086",
  org: "home_assistant",
  token: "writer-token",
  buckets: { events: "e", weather: "w", system: "s", sports: "p" },
};

describe("monitor stack keys", () => {
  it("reach writerConfig with the monitor token, valid for the writer", () => {
    const cfg = parseStackConfig({
      ...minimal,
      monitor: { intervalSeconds: "60", capacityGb: "250", alerts: { diskUsedPercent: "90", taskLagWindows: "2" } },
    });
    const config = buildWriterConfig(cfg, { ...connection, monitorToken: "monitor-token" });
    expect(config.monitor).toEqual({
      token: "monitor-token",
      intervalSeconds: 60,
      growthWindowDays: 7,
      capacityBytes: 250e9,
      alerts: {
        diskUsedPercent: 90,
        daysUntilFull: 30,
        taskFailedRuns: 1,
        taskLagWindows: 2,
        seriesMax: 250_000,
        seriesGrowthPerDay: 5_000,
      },
    });
    expect(config.influxdb).not.toHaveProperty("monitorToken");
    const parsed = WriterConfigSchema.parse(config);
    expect(parsed.monitor).toMatchObject({ token: "monitor-token", capacityBytes: 250e9 });
  });

  it.each([
    ["neither dataDir nor capacityGb is set", {}, { dataDir: "/mnt/server-data" }],
    ["dataDir is set (it wins over the mount)", { dataDir: "/srv/influx" }, { dataDir: "/srv/influx" }],
    ["capacityGb is set (it wins over the mount)", { capacityGb: "500" }, { capacityBytes: 500e9 }],
  ])("take the disk from the server's mounted data when %s", (_name, monitor, expected) => {
    const config = buildWriterConfig(parseStackConfig({ ...minimal, monitor }), {
      ...connection,
      monitorToken: "monitor-token",
      serverDataDir: "/mnt/server-data",
    });
    const disk = { dataDir: config.monitor?.dataDir, capacityBytes: config.monitor?.capacityBytes };
    expect(disk).toEqual({ dataDir: undefined, capacityBytes: undefined, ...expected });
    expect(config.influxdb).not.toHaveProperty("serverDataDir");
  });

  it.each([
    ["monitor.enabled is false", { monitor: { enabled: "false" } }, "monitor-token"],
    ["there is no monitor token (tokens.monitor: false)", {}, undefined],
  ])("leave the monitor out when %s", (_name, extra, monitorToken) => {
    expect(
      buildWriterConfig(parseStackConfig({ ...minimal, ...extra }), { ...connection, monitorToken }).monitor,
    ).toBeUndefined();
  });

  it("name each bad key", () => {
    let issues: string[] = [];
    try {
      parseStackConfig({
        ...minimal,
        monitor: { intervalSeconds: "5", alerts: { diskUsedPercent: 120, seriesMaxx: 3 } },
      });
    } catch (error) {
      issues = (error as StackConfigError).issues;
    }
    expect(issues).toEqual([
      "monitor.intervalSeconds: Too small: expected number to be >=10",
      "monitor.alerts.diskUsedPercent: Too big: expected number to be <=100",
      "monitor.alerts.seriesMaxx: unknown key",
    ]);
  });
});

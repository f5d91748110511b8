// The drift report over `pulumi preview --refresh --json` digests shaped as the engine prints them.
import { describe, expect, it } from "vitest";
import { type DriftReport, driftExitCode, EXIT, formatDriftReport, parseDriftReport } from "../../scripts/drift";

const STACK = "urn:pulumi:dev::ha-influx::pulumi:pulumi:Stack::ha-influx-dev";
const BUCKET =
  "urn:pulumi:dev::ha-influx::ha-influx:tenancy:Tenancy$pulumi-nodejs:dynamic/influxdb:Bucket::home-assistant-weather";
const TASK =
  "urn:pulumi:dev::ha-influx::ha-influx:downsampling:Downsampling$pulumi-nodejs:dynamic/influxdb:Task::rollup-hourly";
const CONTAINER =
  "urn:pulumi:dev::ha-influx::ha-influx:server:DockerInfluxServer$docker:index/container:Container::influxdb";

const bucketInputs = {
  __provider: "exports.handler = ...",
  connection: { token: "[secret]", url: "http://127.0.0.1:8086" },
  name: "weather_data",
  orgId: "o1",
  providerVersion: "1",
};

/** The refresh half of the digest: one `refresh` step per resource, the stack included. */
const refreshed = [STACK, BUCKET, TASK, CONTAINER].map((urn) => ({ op: "refresh", urn }));

function digest(steps: object[], diagnostics: object[] = []): string {
  return JSON.stringify({
    config: {},
    steps: [...refreshed, { op: "same", urn: STACK }, ...steps],
    diagnostics,
    changeSummary: {},
  });
}

describe("parseDriftReport", () => {
  it("finds no drift when every resource is the same", () => {
    const report = parseDriftReport(digest([BUCKET, TASK, CONTAINER].map((urn) => ({ op: "same", urn }))));
    expect(report).toEqual({ checked: 3, drifted: [], errors: [] });
    expect(formatDriftReport("dev", report)).toBe("no drift in stack dev (3 resources checked)");
  });

  it("names the properties of a dynamic resource changed on the server, from the two states", () => {
    const report = parseDriftReport(
      digest([
        {
          op: "update",
          urn: BUCKET,
          oldState: {
            inputs: {
              ...bucketInputs,
              description: "changed by hand",
              retentionSeconds: 604800,
              shardGroupDurationSeconds: 0,
            },
          },
          newState: {
            inputs: { ...bucketInputs, __provider: "exports.handler = ... newer", retentionSeconds: 15552000 },
          },
          detailedDiff: null,
        },
      ]),
    );
    expect(report.drifted).toEqual([
      {
        type: "pulumi-nodejs:dynamic/influxdb:Bucket",
        name: "home-assistant-weather",
        op: "update",
        properties: ["description", "retentionSeconds"],
      },
    ]);
  });

  it("prefers the properties the engine names, reduced to top-level ones", () => {
    const report = parseDriftReport(
      digest([
        {
          op: "update",
          urn: CONTAINER,
          diffReasons: ["ports"],
          detailedDiff: {
            "ports[0].ip": { kind: "update", inputDiff: false },
            restart: { kind: "update", inputDiff: false },
          },
        },
      ]),
    );
    expect(report.drifted[0].properties).toEqual(["ports", "restart"]);
  });

  it("reports a replacement once, with its reasons", () => {
    const report = parseDriftReport(
      digest([
        { op: "replace", urn: BUCKET, replaceReasons: ["orgId"] },
        { op: "create-replacement", urn: BUCKET },
        { op: "delete-replaced", urn: BUCKET },
      ]),
    );
    expect(report.drifted).toEqual([
      {
        type: "pulumi-nodejs:dynamic/influxdb:Bucket",
        name: "home-assistant-weather",
        op: "replace",
        properties: ["orgId"],
      },
    ]);
  });

  it("reports a resource deleted outside Pulumi as one that up would create", () => {
    const report = parseDriftReport(digest([{ op: "create", urn: TASK, newState: { inputs: {} } }]));
    expect(formatDriftReport("dev", report)).toBe(
      [
        "drift in stack dev: 1 resource of 3 differ from the program",
        "  pulumi-nodejs:dynamic/influxdb:Task rollup-hourly: missing from the real world (up would create it)",
      ].join("\n"),
    );
  });

  it("prints one line per drifted resource", () => {
    const report = parseDriftReport(
      digest([
        {
          op: "update",
          urn: BUCKET,
          oldState: { inputs: { ...bucketInputs, retentionSeconds: 1 } },
          newState: { inputs: { ...bucketInputs, retentionSeconds: 2 } },
        },
        { op: "delete", urn: CONTAINER },
      ]),
    );
    expect(formatDriftReport("prod", report)).toBe(
      [
        "drift in stack prod: 2 resources of 3 differ from the program",
        "  pulumi-nodejs:dynamic/influxdb:Bucket home-assistant-weather: retentionSeconds",
        "  docker:index/container:Container influxdb: no longer declared (up would delete it)",
      ].join("\n"),
    );
  });

  it("collects error diagnostics and ignores warnings", () => {
    const report = parseDriftReport(
      digest(
        [],
        [
          { severity: "warning", message: "warning: using pulumi-resource-pulumi-nodejs from $PATH\n" },
          { urn: BUCKET, severity: "error", message: "error: Preview failed: connection refused\n" },
        ],
      ),
    );
    expect(report.errors).toEqual(["error: Preview failed: connection refused"]);
  });

  it("refuses output that is not JSON", () => {
    expect(() => parseDriftReport("error: no stack named 'nosuch' found")).toThrow(/^pulumi did not print JSON/);
  });
});

describe("driftExitCode", () => {
  const clean: DriftReport = { checked: 3, drifted: [], errors: [] };
  const drifted: DriftReport = {
    checked: 3,
    drifted: [{ type: "t", name: "n", op: "update", properties: ["p"] }],
    errors: [],
  };
  it.each<[string, number, DriftReport | undefined, number]>([
    ["no changes", 0, clean, EXIT.noDrift],
    ["changes (pulumi exit 7)", 7, drifted, EXIT.drift],
    ["pulumi failed", 255, clean, EXIT.error],
    ["stack not found (pulumi exit 6)", 6, undefined, EXIT.error],
    ["error diagnostics despite exit 0", 0, { ...clean, errors: ["boom"] }, EXIT.error],
    ["exit 7 with no resource named", 7, clean, EXIT.error],
    ["resources named but exit 0", 0, drifted, EXIT.error],
  ])("%s gives %i", (_case, pulumiCode, report, expected) => {
    expect(driftExitCode(pulumiCode, report)).toBe(expected);
  });
});

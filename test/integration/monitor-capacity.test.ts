// `ha-influx-capacity` against a real influxd holding raw events and a day of seeded monitor samples
// that grow at a known rate: the report fits that rate and names the day the disk fills.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { monitorPermissions } from "../../components/tokens";
import { main } from "../../writer/src/capacity";
import { InfluxApi } from "../../writer/src/monitor/influxApi";
import type { CapacityReport } from "../../writer/src/monitor/report";
import { takeSample } from "../../writer/src/monitor/sampler";
import { locateInfluxd } from "../harness/influxd";
import { useInfluxd } from "../harness/vitest";

const influxdFound = locateInfluxd() !== undefined;
const ORG = "home_assistant";
const DAY_MS = 86_400_000;
/** The seeded growth of the raw bucket: 300 kB a day. */
const RATE = 300_000;
/** Days until full the capacity is chosen for. */
const DAYS = 20;

describe.skipIf(!influxdFound)("ha-influx-capacity against a real influxd with seeded growth samples", () => {
  const server = useInfluxd({ org: ORG, bucket: "home_assistant_events" });
  let monitorToken = "";
  let capacityBytes = 0;
  const outputs: Record<string, { code: number; stdout: string; stderr: string }> = {};

  async function api(method: string, path: string, body: string, contentType = "application/json"): Promise<Response> {
    return fetch(`${server().url}${path}`, {
      method,
      headers: { Authorization: `Token ${server().token}`, "Content-Type": contentType },
      body,
    });
  }
  async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = "";
    let stderr = "";
    const code = await main(
      args,
      {},
      {
        stdout: (t) => {
          stdout += t;
        },
        stderr: (t) => {
          stderr += t;
        },
      },
    );
    return { code, stdout, stderr };
  }

  beforeAll(async () => {
    const ids = [server().bucketId];
    for (const [name, days] of [
      ["system_metrics", 30],
      ["home_assistant_hourly", 730],
    ] as const) {
      const response = await api(
        "POST",
        "/api/v2/buckets",
        JSON.stringify({
          name,
          orgID: server().orgId,
          retentionRules: [{ type: "expire", everySeconds: days * 86_400 }],
        }),
      );
      ids.push(((await response.json()) as { id: string }).id);
    }
    const now = Math.floor(Date.now() / 1000);
    let lines = "";
    for (let i = 0; i < 20_000; i++) {
      const entity = i % 2 === 0 ? "sensor.chatty" : `sensor.s${i % 7}`;
      lines += `home_assistant_events,entity_id=${entity},domain=sensor,time_of_day=t${i % 4} normalized_value=${i}.25,state_value="${i}" ${now - 20_000 + i}\n`;
    }
    expect(
      (await api("POST", `/api/v2/write?org=${ORG}&bucket=home_assistant_events&precision=s`, lines, "text/plain"))
        .status,
    ).toBe(204);
    monitorToken = (
      (await (
        await api(
          "POST",
          "/api/v2/authorizations",
          JSON.stringify({ orgID: server().orgId, permissions: monitorPermissions(server().orgId, ids) }),
        )
      ).json()) as { token: string }
    ).token;

    // influxd refreshes its shard gauges every 10 s: wait until the raw bucket's size holds still.
    const monitorApi = new InfluxApi({ url: server().url, org: ORG, token: monitorToken, timeoutMs: 10_000 });
    const rawBytes = async () =>
      (await takeSample({ api: monitorApi })).buckets.find((b) => b.name === "home_assistant_events")!.diskBytes;
    let size = 0;
    for (let i = 0; i < 40; i++) {
      const before = await rawBytes();
      await new Promise((r) => setTimeout(r, 11_000 * (before > 0 ? 1 : 0.05)));
      size = await rawBytes();
      if (size > 0 && size === before) break;
    }
    expect(size).toBeGreaterThan((24 * 3600 * RATE) / DAY_MS);

    // A day of hourly samples ending at today's size, as the monitor would have stored them.
    const at = Date.now();
    let seeded = "";
    for (let h = 23; h >= 0; h--)
      seeded += `ha_influx_storage,bucket=home_assistant_events disk_bytes=${size - (RATE * h) / 24},series=80 ${Math.floor((at - h * 3_600_000) / 1000)}\n`;
    expect(
      (await api("POST", `/api/v2/write?org=${ORG}&bucket=system_metrics&precision=s`, seeded, "text/plain")).status,
    ).toBe(204);
    const sample = await takeSample({ api: monitorApi });
    capacityBytes = sample.buckets.reduce((sum, b) => sum + b.diskBytes, 0) + DAYS * RATE;

    // `=`: a token may start with a dash.
    const common = [
      "--url",
      server().url,
      `--token=${monitorToken}`,
      "--capacity-gb",
      String(capacityBytes / 1e9),
      "--window-days",
      "1",
    ];
    for (const format of ["json", "table", "svg"]) outputs[format] = await run([...common, "--format", format]);
  }, 600_000);
  afterAll(() => undefined);

  it("fits the seeded growth and names the day the disk fills", () => {
    const { code, stdout, stderr } = outputs.json!;
    expect(stderr).toContain("sampling");
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as CapacityReport;
    const raw = report.buckets.find((b) => b.name === "home_assistant_events")!;
    expect(raw.samples).toBe(25); // 24 stored, 1 live
    expect(Math.abs(raw.growthBytesPerDay! - RATE)).toBeLessThan(RATE * 0.001);
    expect(raw).toMatchObject({ trend: "growing", retentionDays: 0, settledBytes: null, series: 16 });
    // The system bucket grew by the seeded points meanwhile; the forecast is about 20 days either way.
    const expectedDays = (capacityBytes - report.disk!.usedBytes) / RATE;
    expect(Math.abs(expectedDays - DAYS)).toBeLessThan(0.1);
    expect(report.disk).toMatchObject({
      source: "configured",
      verdict: "fills",
      unknownBuckets: ["home_assistant_hourly", "system_metrics"],
    });
    expect(Math.abs(report.disk!.daysUntilFull! - expectedDays)).toBeLessThanOrEqual(0.05);
    expect(
      Math.abs(Date.parse(report.disk!.fillsOn!) - (Date.parse(report.generatedAt) + expectedDays * DAY_MS)),
    ).toBeLessThan(0.1 * DAY_MS);
    expect(report.alerts).toEqual([
      expect.objectContaining({ name: "disk_full_soon", value: report.disk!.daysUntilFull }),
    ]);
    expect(report.topEntities!.byEvents[0]).toEqual({ entityId: "sensor.chatty", events: 10_000 });
    expect(report.topEntities!.bySeries.map((e) => e.series).reduce((a, b) => a + b, 0)).toBe(16);
  });

  it("prints the same date in the table and draws it in the picture", () => {
    const report = JSON.parse(outputs.json!.stdout) as CapacityReport;
    const day = report.disk!.fillsOn!.slice(0, 10);
    expect(outputs.table!.code).toBe(0);
    expect(outputs.table!.stdout).toContain(`full on ${day}`);
    expect(outputs.table!.stdout).toMatch(/home_assistant_events\s+\S+ \S?B\s+16\s+300 kB/);
    expect(outputs.svg!.code).toBe(0);
    expect(outputs.svg!.stdout).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(outputs.svg!.stdout).toContain(`full on ${day}`);
    expect(outputs.svg!.stdout).toContain("disk limit");
    for (const output of Object.values(outputs)) expect(output.stdout + output.stderr).not.toContain(monitorToken);
  });

  it("says in one line when the token may not read", async () => {
    const { code, stdout, stderr } = await run(["--url", server().url, "--token=not-a-token"]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n").pop()).toBe(
      "ha-influx-capacity: GET /api/v2/buckets: HTTP 401: unauthorized access",
    );
  });
});

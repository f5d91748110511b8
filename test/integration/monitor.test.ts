// The storage monitor against a real influxd, with a token of exactly the monitor's permissions
// (components/tokens.ts): the sizes and series it reports are the server's own figures at the same
// moment, and a rollup task made to fail is reported failing by the next round, with the server's
// error text, and clears when it is repaired.
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hourlyRollupFlux } from "../../components/flux";
import { monitorPermissions } from "../../components/tokens";
import { type RunningWriter, startWriter } from "../../writer/src/app";
import { resolveConfig } from "../../writer/src/config";
import { createLogger } from "../../writer/src/logger";
import { createMetrics } from "../../writer/src/metrics";
import { InfluxApi } from "../../writer/src/monitor/influxApi";
import type { StorageStatus } from "../../writer/src/monitor/monitor";
import { parsePrometheusText } from "../../writer/src/monitor/prometheusText";
import { takeSample } from "../../writer/src/monitor/sampler";
import { locateInfluxd } from "../harness/influxd";
import { useInfluxd } from "../harness/vitest";

const influxdFound = locateInfluxd() !== undefined;
const ORG = "home_assistant";
const HOUR = 3_600;

describe.skipIf(!influxdFound)("the storage monitor against a real influxd", () => {
  const server = useInfluxd({ org: ORG, bucket: "home_assistant_events" });
  const bucketIds: Record<string, string> = {};
  let taskId = "";
  let monitorToken = "";
  const now = Math.floor(Date.now() / 1000);

  async function api(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<Response> {
    return fetch(`${server().url}${path}`, {
      method,
      headers: { Authorization: `Token ${server().token}`, "Content-Type": contentType },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  }
  async function json(method: string, path: string, body?: unknown): Promise<Record<string, any>> {
    const response = await api(method, path, body);
    expect(response.status, `${method} ${path}`).toBeLessThan(300);
    return (await response.json()) as Record<string, any>;
  }
  async function createBucket(name: string, retentionDays: number): Promise<void> {
    bucketIds[name] = (
      await json("POST", "/api/v2/buckets", {
        name,
        orgID: server().orgId,
        retentionRules: [{ type: "expire", everySeconds: retentionDays * 86_400 }],
      })
    ).id;
  }
  async function write(bucket: string, lines: string): Promise<void> {
    const response = await api("POST", `/api/v2/write?org=${ORG}&bucket=${bucket}&precision=s`, lines, "text/plain");
    expect(response.status).toBe(204);
  }
  async function operatorQuery(flux: string): Promise<Record<string, string>[]> {
    return new InfluxApi({ url: server().url, org: ORG, token: server().token, timeoutMs: 10_000 }).query(
      flux,
      "check",
    );
  }
  /** Runs the task now and waits until that run has finished; returns its status. */
  async function runTask(): Promise<string> {
    const run = await json("POST", `/api/v2/tasks/${taskId}/runs`, {});
    for (let i = 0; i < 100; i++) {
      // The list, not /runs/{id}: that answers 404 for a moment while a finished run is being stored.
      const current = (
        (await json("GET", `/api/v2/tasks/${taskId}/runs`)).runs as { id: string; status: string }[]
      ).find((r) => r.id === run.id);
      if (current && current.status !== "scheduled" && current.status !== "started") return current.status;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("the task run did not finish in 10 s");
  }

  beforeAll(async () => {
    bucketIds.home_assistant_events = server().bucketId;
    await createBucket("system_metrics", 30);
    await createBucket("home_assistant_hourly", 730);
    await createBucket("scratch_events", 7);
    // 3 entities × 2 fields × 600 points over the last ten hours in the raw bucket, one older point a week ago.
    let lines = "";
    for (let i = 0; i < 600; i++) {
      for (const entity of ["sensor.a", "sensor.b", "light.c"])
        lines += `home_assistant_events,entity_id=${entity},domain=${entity.split(".")[0]} normalized_value=${i}.5,state_value="${i}" ${now - 10 * HOUR + i * 60}\n`;
    }
    lines += `home_assistant_events,entity_id=sensor.old normalized_value=1 ${now - 7 * 86_400}\n`;
    await write("home_assistant_events", lines);
    await write(
      "scratch_events",
      `home_assistant_events,entity_id=sensor.a,domain=sensor normalized_value=1 ${now - HOUR}\n`,
    );
    const flux = hourlyRollupFlux({
      sourceBucket: "scratch_events",
      targetBucket: "home_assistant_hourly",
      timeZone: "UTC",
      lookback: "3h",
    });
    // The task option goes after the imports, as the Task provider puts it.
    const withOption = flux.replace(
      /^((?:import .*\n)+)/,
      `$1\noption task = {name: "rollup-hourly", every: 1h, offset: 5m}\n`,
    );
    taskId = (await json("POST", "/api/v2/tasks", { orgID: server().orgId, flux: withOption })).id;
    // An unrelated task the monitor token may not read: it must not show up.
    await json("POST", "/api/v2/tasks", {
      orgID: server().orgId,
      flux: `option task = {name: "other", every: 1h}\nfrom(bucket: "x") |> range(start: -1h) |> to(bucket: "y")`,
    });
    const projectBuckets = ["home_assistant_events", "system_metrics", "home_assistant_hourly"].map(
      (name) => bucketIds[name]!,
    );
    monitorToken = (
      await json("POST", "/api/v2/authorizations", {
        orgID: server().orgId,
        description: "monitor",
        permissions: monitorPermissions(server().orgId, projectBuckets, [taskId]),
      })
    ).token;
  });

  it("reports per-bucket sizes and series equal to the server's /metrics and influxdb.cardinality at the same moment", async () => {
    const monitorApi = new InfluxApi({ url: server().url, org: ORG, token: monitorToken, timeoutMs: 10_000 });
    // influxd refreshes its shard gauges every 10 s: wait until the raw bucket's shows the written data.
    const shardBytes = async (bucketId: string) => {
      const families = parsePrometheusText(await (await fetch(`${server().url}/metrics`)).text(), [
        "storage_shard_disk_size",
        "storage_wal_size",
        "storage_bucket_series_num",
      ]);
      const sum = (name: string) =>
        families
          .get(name)!
          .filter((s) => s.labels.bucket === bucketId)
          .reduce((total, s) => total + s.value, 0);
      const ids = new Set(
        families
          .get("storage_shard_disk_size")!
          .filter((s) => s.labels.bucket === bucketId)
          .map((s) => s.labels.id),
      );
      return {
        disk: sum("storage_shard_disk_size"),
        wal: sum("storage_wal_size"),
        series: sum("storage_bucket_series_num"),
        shards: ids.size,
      };
    };
    for (let i = 0; i < 150 && (await shardBytes(bucketIds.home_assistant_events!)).disk === 0; i++)
      await new Promise((r) => setTimeout(r, 100));

    let sample: Awaited<ReturnType<typeof takeSample>> | undefined;
    let after: Awaited<ReturnType<typeof shardBytes>> | undefined;
    // The gauges may tick between the sample and the check: then the two moments differ, so try again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = await shardBytes(bucketIds.home_assistant_events!);
      sample = await takeSample({ api: monitorApi, capacityBytes: 10e9 });
      after = await shardBytes(bucketIds.home_assistant_events!);
      if (before.disk === after.disk) break;
    }
    expect(sample!.problems).toEqual([]);
    // Exactly the buckets the token may read, by name: not the onboarding-free scratch bucket, not _monitoring.
    expect(sample!.buckets.map((b) => b.name)).toEqual([
      "home_assistant_events",
      "home_assistant_hourly",
      "system_metrics",
    ]);
    const raw = sample!.buckets.find((b) => b.name === "home_assistant_events")!;
    expect(raw.diskBytes).toBeGreaterThan(0);
    expect(raw).toMatchObject({ diskBytes: after!.disk, walBytes: after!.wal, shards: after!.shards });
    const [cardinality] = await operatorQuery(
      `import "influxdata/influxdb"\ninfluxdb.cardinality(bucket: "home_assistant_events", start: time(v: 0))`,
    );
    expect(raw.series).toBe(Number(cardinality!._value));
    expect(raw.series).toBe(after!.series);
    // 3 entities + the old one: a series is a measurement and tag set (its fields do not add series).
    expect(raw.series).toBe(4);
    expect(raw.oldestPointAt).toBe((now - 7 * 86_400) * 1000);
    expect(raw.newestPointAt).toBe((now - 10 * HOUR + 599 * 60) * 1000);
    expect(raw.pointsLastDay).toBe(600 * 3 * 2);
    expect(raw.retentionSeconds).toBe(0);
    const hourly = sample!.buckets.find((b) => b.name === "home_assistant_hourly")!;
    expect(hourly).toMatchObject({
      retentionSeconds: 730 * 86_400,
      diskBytes: 0,
      shards: 0,
      series: 0,
      pointsLastDay: 0,
    });
    expect(hourly.oldestPointAt).toBeUndefined();
    expect(sample!.tasks.map((t) => t.name)).toEqual(["rollup-hourly"]);
    expect(sample!.tasks[0]).toMatchObject({
      targetBucket: "home_assistant_hourly",
      everySeconds: HOUR,
      offsetSeconds: 300,
    });
    expect(sample!.disk).toEqual({
      source: "configured",
      capacityBytes: 10e9,
      usedBytes: sample!.buckets.reduce((sum, b) => sum + b.diskBytes, 0),
    });
  });

  describe("inside the running writer", () => {
    const INTERVAL_SECONDS = 1;
    let writer: RunningWriter;
    const logLines: string[] = [];

    async function storage(): Promise<StorageStatus> {
      return ((await (await fetch(`${writer.url}/status`)).json()) as { storage: StorageStatus }).storage;
    }
    /** The status of the first round that started after `since` (ms). */
    async function nextRound(since: number): Promise<StorageStatus> {
      for (let i = 0; i < 200; i++) {
        const status = await storage();
        // A round's sample time is when it started: one that started after `since` saw what happened before it.
        if (status.lastSampleAt !== undefined && Date.parse(status.lastSampleAt) > since) return status;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("no monitor round in 10 s");
    }
    async function alertGauges(): Promise<string[]> {
      const text = await (await fetch(`${writer.url}/metrics`)).text();
      return text.split("\n").filter((line) => line.startsWith("ha_influx_alert{"));
    }

    beforeAll(async () => {
      const destination = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          logLines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
          callback();
        },
      });
      const config = resolveConfig(
        {
          influxdb: { url: server().url, org: ORG, token: server().token },
          spool: { dir: `${server().dataDir}/spool` },
          ingest: { host: "127.0.0.1", port: 0 },
          monitor: { token: monitorToken, intervalSeconds: INTERVAL_SECONDS, dataDir: server().dataDir },
        },
        {},
      );
      writer = await startWriter(config, {
        logger: createLogger({ level: "info", format: "json", destination, secrets: [server().token, monitorToken] }),
        metrics: createMetrics({ processMetrics: false }),
      });
    });
    afterAll(async () => {
      await writer?.stop(2_000);
    });

    it("reports a failing rollup within one interval with the server's error text, and clears it when repaired", async () => {
      expect(await runTask()).toBe("success");
      let status = await nextRound(Date.now());
      expect(status.healthy).toBe(true);
      expect(status.tasks).toEqual([
        expect.objectContaining({
          name: "rollup-hourly",
          lastRunStatus: "success",
          consecutiveFailures: 0,
          lagWindows: 0,
        }),
      ]);
      expect(status.alerts).toEqual([]);
      expect(status.disk).toMatchObject({ source: "statfs" });

      // Break it: the task's source bucket is deleted.
      await api(
        "DELETE",
        `/api/v2/buckets/${(await json("GET", `/api/v2/buckets?name=scratch_events&orgID=${server().orgId}`)).buckets[0].id}`,
      );
      expect(await runTask()).toBe("failed");
      const failedAt = Date.now();
      // The server sets the task's lastRunError a moment after it marks the run failed.
      let serverError: string | undefined;
      for (let i = 0; i < 50 && serverError === undefined; i++) {
        serverError = (await json("GET", `/api/v2/tasks/${taskId}`)).lastRunError as string | undefined;
        if (serverError === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      expect(serverError).toContain('could not find bucket "scratch_events"');
      status = await nextRound(failedAt);
      expect(Date.parse(status.lastSampleAt!) - failedAt).toBeLessThanOrEqual(INTERVAL_SECONDS * 1000 + 1000);
      expect(status.tasks[0]).toMatchObject({
        lastRunStatus: "failed",
        consecutiveFailures: 1,
        lastError: serverError,
      });
      expect(status.alerts).toEqual([
        expect.objectContaining({
          name: "task_failing",
          bucket: "home_assistant_hourly",
          task: "rollup-hourly",
          message: expect.stringContaining(serverError!),
        }),
      ]);
      expect(await alertGauges()).toEqual(['ha_influx_alert{name="task_failing",bucket="home_assistant_hourly"} 1']);
      await nextRound(Date.now()); // still failing: no second log line

      // Repair it: the bucket is back.
      await createBucket("scratch_events", 7);
      expect(await runTask()).toBe("success");
      status = await nextRound(Date.now());
      expect(status.tasks[0]).toMatchObject({ lastRunStatus: "success", consecutiveFailures: 0 });
      expect(status.alerts).toEqual([]);
      expect(await alertGauges()).toEqual([]);
      const alertLogs = logLines
        .map((line) => JSON.parse(line) as { msg: string })
        .filter((entry) => entry.msg.startsWith("storage alert"));
      expect(alertLogs.map((entry) => entry.msg)).toEqual([
        `storage alert: task rollup-hourly: 1 failed run(s) in a row: ${serverError}`,
        "storage alert cleared: task_failing (home_assistant_hourly)",
      ]);
      expect(logLines.join("\n")).not.toContain(monitorToken);
    });

    it("stores its samples in the system bucket, where the monitor token reads them back", async () => {
      await nextRound(Date.now());
      const rows = await new InfluxApi({ url: server().url, org: ORG, token: monitorToken, timeoutMs: 10_000 }).query(
        `from(bucket: "system_metrics") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "ha_influx_storage" and r._field == "series" and r.bucket == "home_assistant_events") |> last()`,
        "stored samples",
      );
      expect(rows.map((row) => Number(row._value))).toEqual([4]);
    });
  });
});

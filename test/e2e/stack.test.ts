// End to end with the real Pulumi engine: the program, run by the `pulumi` CLI against a throwaway
// influxd used as an external server, then the writer configured from the stack's outputs.
// The tests run in order and share one stack, as a person at a terminal would; after its destroy a
// second stack adopts the history the first one left on the server.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startWriter } from "../../writer/src/app";
import { loadConfig } from "../../writer/src/config";
import { findOnPath, type InfluxdInstance, inCi, startInfluxd } from "../harness/influxd";
import { type BucketState, InfluxApi } from "./influx-api";
import { PulumiWorkspace } from "./pulumi-cli";

const missing = ["pulumi", "influxd"].filter((tool) => findOnPath(tool) === undefined);
if (missing.length > 0) {
  const message =
    `${missing.join(" and ")} not on PATH: the end-to-end suite needs the real Pulumi CLI and influxd ` +
    '(`eval "$(scripts/install-tools.sh)"` provides them)';
  if (inCi()) throw new Error(`${message}; CI is set, so this fails rather than skips`);
  console.warn(`\n*** SKIPPED: ${message}\n`);
}

const DAY_S = 86_400;

describe.skipIf(missing.length > 0 && !inCi())("pulumi up / preview / refresh / destroy against a real influxd", () => {
  let influxd: InfluxdInstance;
  let ws: PulumiWorkspace;
  let api: InfluxApi;
  /** Everything the CLI printed, checked at the end for token values. */
  const transcript: string[] = [];
  let outputs: StackOutputs;
  /** What the server held before the stack existed; `pulumi destroy` keeps only the history on top of it. */
  let before: { orgs: string[]; authorizationIds: string[] };
  /** The buckets and their point counts that `pulumi destroy` left on the server. */
  let kept: { buckets: Record<string, BucketState>; points: Record<string, number> };
  /** The outputs of the second stack, which adopts what the first one left. */
  let again: StackOutputs;

  const pulumi = async (args: string[]) => {
    const res = await ws.ok(args);
    transcript.push(res.stdout, res.stderr);
    return res;
  };
  const config = (path: string, value: string, secret = false) =>
    // `--` keeps a value that starts with a dash (random tokens do) from being read as a flag.
    pulumi(["config", "set", "--path", ...(secret ? ["--secret"] : []), "--", `ha-influx:${path}`, value]);

  beforeAll(async () => {
    influxd = await startInfluxd({ org: "bootstrap", bucket: "bootstrap" });
    ws = new PulumiWorkspace();
    ws.secret(influxd.token);
    api = new InfluxApi(influxd.url, influxd.token);
    before = { orgs: await api.orgNames(), authorizationIds: (await api.authorizations()).map((a) => a.id).sort() };
    await pulumi(["stack", "init", "e2e", "--secrets-provider", "passphrase"]);
    await config("server.runtime", "external");
    await config("server.url", influxd.url);
    await config("server.adminToken", influxd.token, true);
    await config("writer.enabled", "false");
    await config("timeZone", "UTC");
  });

  afterAll(async () => {
    ws?.dispose();
    await influxd?.stop();
  });

  test("pulumi up creates the org, buckets, tasks and tokens on the server", async () => {
    await pulumi(["up", "--yes", "--skip-preview"]);
    outputs = await stackOutputs(ws, transcript);

    const org = await api.org("home_assistant");
    expect(org.id).toBe(outputs.orgId);

    const buckets = await api.buckets(org.id);
    const expected: Record<string, [number, number]> = {
      home_assistant_events: [365, 7],
      sports_data: [90, 1],
      weather_data: [180, 7],
      system_metrics: [30, 1],
      home_assistant_hourly: [730, 30],
      home_assistant_daily: [2555, 90],
    };
    expect(Object.keys(buckets).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, [retentionDays, shardDays]] of Object.entries(expected)) {
      expect(buckets[name]!.retentionSeconds, name).toBe(retentionDays * DAY_S);
      // Where the stack leaves it unset the server picks the shard group duration: 1 d below 180 days, 7 d from there.
      expect(buckets[name]!.shardGroupDurationSeconds, name).toBe(shardDays * DAY_S);
    }

    const tasks = await api.tasks(org.id);
    expect(tasks.map((t) => t.id).sort()).toEqual([outputs.taskIds.hourly, outputs.taskIds.daily].sort());
    for (const task of tasks) {
      expect(task.status, task.name).toBe("active");
      expect(task.every ?? task.cron, task.name).toBeTruthy();
    }

    const auths = await api.authorizations(org.id);
    const created = auths.filter((a) =>
      [outputs.tokens.writer, outputs.tokens.reader, outputs.tokens.monitor].includes(a.token),
    );
    expect(created).toHaveLength(3);
    for (const auth of created) {
      // Least privilege: every permission names its bucket or resource type within the org, none is all-access.
      expect(auth.permissions.length, auth.description).toBeGreaterThan(0);
      expect(auth.permissions.some((p) => p.resource.type === "authorizations" && p.action === "write")).toBe(false);
    }
    const writer = created.find((a) => a.token === outputs.tokens.writer)!;
    expect(
      writer.permissions.every((p) => p.action === "write" && p.resource.type === "buckets" && p.resource.id),
    ).toBe(true);
    const reader = created.find((a) => a.token === outputs.tokens.reader)!;
    expect(reader.permissions.every((p) => p.action === "read")).toBe(true);
  });

  test("a second pulumi up changes nothing", async () => {
    const res = await pulumi(["preview", "--expect-no-changes", "--json"]);
    const changes = changedSteps(res.stdout);
    expect(changes).toEqual([]);
    await pulumi(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
  });

  test("the writer, configured from `pulumi stack output`, delivers every event with its tags and fields", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ha-influx-e2e-writer-"));
    try {
      const configFile = join(dir, "writerConfig.json");
      writeFileSync(configFile, (await ws.ok(["stack", "output", "writerConfig", "--show-secrets", "--json"])).stdout);
      const loaded = await loadConfig({ env: {}, file: configFile });
      const writer = await startWriter({
        ...loaded,
        logLevel: "warn",
        spool: { ...loaded.spool, dir: join(dir, "spool") },
        ingest: { ...loaded.ingest, host: "127.0.0.1", port: 0 },
        homeAssistant: undefined,
      });
      const base = Date.parse("2026-11-20T08:00:00Z");
      const events = Array.from({ length: 200 }, (_, i) => ({
        entity_id: i % 2 === 0 ? "sensor.living_room_temperature" : "binary_sensor.front_door",
        state: i % 2 === 0 ? (19 + (i % 7) * 0.5).toFixed(1) : i % 4 === 1 ? "on" : "off",
        attributes:
          i % 2 === 0
            ? {
                device_name: 'Living room, "north" wall',
                device_class: "temperature",
                unit_of_measurement: "°C",
                area: "living room",
              }
            : { device_name: "Front door", device_class: "door" },
        timestamp: new Date(base + i * 1000).toISOString(),
      }));
      const results = await writer.pipeline.submit(events, "e2e");
      expect(results.filter((r) => r.status !== "accepted")).toEqual([]);
      const flushed = await writer.stop(30_000);
      expect(flushed).toEqual({ drained: true, pendingEvents: 0 });

      const reader = new InfluxApi(influxd.url, outputs.tokens.reader);
      const rows = await reader.query(
        `from(bucket: "home_assistant_events")
          |> range(start: 2026-11-20T00:00:00Z, stop: 2026-11-21T00:00:00Z)
          |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
          |> group()
          |> sort(columns: ["_time"])`,
      );
      expect(rows).toHaveLength(events.length);
      for (const [i, row] of rows.entries()) {
        const event = events[i]!;
        expect(row._time).toBe(event.timestamp.replace(".000Z", "Z"));
        expect(row.entity_id).toBe(event.entity_id);
        expect(row.domain).toBe(event.entity_id.split(".")[0]);
        expect(row.device_class).toBe(event.attributes.device_class);
        expect(row.device_name).toBe(event.attributes.device_name);
        expect(row.state_value).toBe(event.state);
        expect(row.time_of_day).toBe("morning");
        if (i % 2 === 0) {
          expect(row.area).toBe("living room");
          expect(row.unit_of_measurement).toBe("°C");
          expect(row.normalized_value).toBe(Number(event.state));
        } else {
          expect(row.normalized_value).toBe(event.state === "on" ? 1 : 0);
        }
        if (i >= 2) expect(row.previous_state).toBe(events[i - 2]!.state);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("running the tasks fills the hourly and daily rollups with the right values", async () => {
    // Raw points at known times, written with the writer's token straight through the API.
    const writer = new InfluxApi(influxd.url, outputs.tokens.writer);
    const day1 = Date.parse("2026-11-10T00:00:00Z");
    const day2 = day1 + DAY_S * 1000;
    const lines = [
      // 10:00–11:00 on day 2: 10 for 10 min, 20 for 10 min, 30 for 40 min → time-weighted mean 25,
      // min 10, max 30, count 3; 11:00–12:00: 40 (the 30 carried in is held for no time).
      point("sensor.office_temperature", "temperature", 10, day2 + 10 * 3600_000),
      point("sensor.office_temperature", "temperature", 20, day2 + 10 * 3600_000 + 600_000),
      point("sensor.office_temperature", "temperature", 30, day2 + 10 * 3600_000 + 1_200_000),
      point("sensor.office_temperature", "temperature", 40, day2 + 11 * 3600_000),
      // An energy meter: 2 kWh counted on day 1, then 1 kWh across midnight and 3.5 kWh on day 2.
      point("sensor.grid_energy", "energy", 10, day1 + 12 * 3600_000),
      point("sensor.grid_energy", "energy", 12, day1 + 20 * 3600_000),
      point("sensor.grid_energy", "energy", 13, day2 + 8 * 3600_000),
      point("sensor.grid_energy", "energy", 16.5, day2 + 20 * 3600_000),
    ];
    await writer.write("home_assistant_events", lines.join("\n"));

    await api.runTask(outputs.taskIds.hourly, new Date(day2 + 12 * 3600_000));
    const hourly = await api.query(
      `from(bucket: "home_assistant_hourly") |> range(start: ${iso(day2)}, stop: ${iso(day2 + DAY_S * 1000)})
        |> filter(fn: (r) => r.entity_id == "sensor.office_temperature")
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value") |> group() |> sort(columns: ["_time"])`,
    );
    expect(hourly.map((r) => [r._time, r.mean, r.min, r.max, r.count])).toEqual([
      [iso(day2 + 10 * 3600_000), 25, 10, 30, 3],
      [iso(day2 + 11 * 3600_000), 40, 40, 40, 1],
    ]);

    await api.runTask(outputs.taskIds.daily, new Date(day2 + DAY_S * 1000));
    const daily = await api.query(
      `from(bucket: "home_assistant_daily") |> range(start: ${iso(day1)}, stop: ${iso(day2 + DAY_S * 1000)})
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value") |> group()
        |> sort(columns: ["entity_id", "_time"])`,
    );
    const byKey = Object.fromEntries(daily.map((r) => [`${r.entity_id} ${r._time}`, r]));
    // day 2 from 10:00: 10, 20 and 30 as above, then 40 until midnight (13 h), 14 h known in all
    expect(byKey[`sensor.office_temperature ${iso(day2)}`]).toMatchObject({
      mean: (10 * 10 + 20 * 10 + 30 * 40 + 40 * 780) / 840,
      min: 10,
      max: 40,
      count: 4,
      coverage_seconds: 840 * 60,
    });
    // the meter's 12 is carried in from day 1 and held until 08:00, so it is the day's minimum
    expect(byKey[`sensor.grid_energy ${iso(day2)}`]).toMatchObject({ energy_kwh: 4.5, min: 12, max: 16.5, count: 2 });
  });

  test("a retention change in the stack config previews as an in-place update of that bucket alone", async () => {
    await config("buckets.system.retentionDays", "45");
    const res = await pulumi(["preview", "--json", "--diff"]);
    const changes = changedSteps(res.stdout);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ op: "update" });
    expect(changes[0]!.urn).toMatch(/system/);
    expect(changes[0]!.changedInputs).toEqual(["retentionSeconds"]);

    await pulumi(["up", "--yes", "--skip-preview"]);
    const buckets = await api.buckets(outputs.orgId);
    expect(buckets.system_metrics!.retentionSeconds).toBe(45 * DAY_S);
    expect(buckets.system_metrics!.id).toBe(outputs.buckets.system.id);
  });

  test("a retention changed on the server is reported by the drift command and repaired by pulumi up --refresh", async () => {
    const events = outputs.buckets.events.id;
    await api.patchBucket(events, {
      retentionRules: [{ type: "expire", everySeconds: 10 * DAY_S, shardGroupDurationSeconds: 7 * DAY_S }],
    });

    const drift = await ws.run(["run", "--silent", "drift", "--", "--stack", "e2e"], { command: ["npm"] });
    transcript.push(drift.stdout, drift.stderr);
    expect(drift.code, ws.redact(drift.stdout + drift.stderr)).toBe(3);
    expect(drift.stdout).toMatch(/events/);
    expect(drift.stdout).toMatch(/retentionSeconds/);

    await pulumi(["up", "--yes", "--skip-preview", "--refresh"]);
    expect((await api.buckets(outputs.orgId)).home_assistant_events!.retentionSeconds).toBe(365 * DAY_S);

    const clean = await ws.run(["run", "--silent", "drift", "--", "--stack", "e2e"], { command: ["npm"] });
    transcript.push(clean.stdout, clean.stderr);
    expect(clean.code, ws.redact(clean.stdout + clean.stderr)).toBe(0);
  });

  test("pulumi destroy keeps every bucket with its points, says so in its preview, and removes the tasks and tokens", async () => {
    const buckets = await api.buckets(outputs.orgId);
    const points = await pointCounts(api, Object.keys(buckets));
    expect(points.home_assistant_events).toBeGreaterThanOrEqual(200);
    expect(points.home_assistant_hourly).toBeGreaterThan(0);

    // The workspace skips confirmations (an implied --yes), which a preview-only destroy refuses.
    const preview = await ws.ok(["destroy", "--preview-only", "--diff"], {
      env: { PULUMI_SKIP_CONFIRMATIONS: "false" },
    });
    transcript.push(preview.stdout, preview.stderr);
    const retained = preview.stdout.split("\n").filter((line) => /Bucket/.test(line) && /retain/i.test(line));
    expect(retained, ws.redact(preview.stdout)).toHaveLength(6);

    await pulumi(["destroy", "--yes", "--skip-preview"]);
    expect(await api.buckets(outputs.orgId)).toEqual(buckets);
    expect(await pointCounts(api, Object.keys(buckets))).toEqual(points);
    expect(await api.orgNames()).toEqual([...before.orgs, "home_assistant"].sort());
    expect(await api.tasks(outputs.orgId)).toEqual([]);
    expect((await api.authorizations()).map((a) => a.id).sort()).toEqual(before.authorizationIds);
    kept = { buckets, points };
  });

  test("a new stack with the admin token adopts the organisation and buckets with their points; a second up changes nothing", async () => {
    await pulumi(["stack", "init", "e2e-again", "--secrets-provider", "passphrase"]);
    await config("server.runtime", "external");
    await config("server.url", influxd.url);
    await config("server.adminToken", influxd.token, true);
    await config("writer.enabled", "false");
    await config("timeZone", "UTC");
    await pulumi(["up", "--yes", "--skip-preview"]);
    again = await stackOutputs(ws, transcript);

    expect(again.orgId).toBe(outputs.orgId);
    for (const [role, bucket] of Object.entries(outputs.buckets)) expect(again.buckets[role], role).toEqual(bucket);
    // The same buckets with the same points; their settings are the new stack's (system: the default 30 d
    // again, where the first stack had set 45 d).
    expect(await api.buckets(again.orgId)).toEqual({
      ...kept.buckets,
      system_metrics: { ...kept.buckets.system_metrics!, retentionSeconds: 30 * DAY_S },
    });
    expect(await pointCounts(api, Object.keys(kept.buckets))).toEqual(kept.points);
    expect(await api.tasks(again.orgId)).toHaveLength(2);

    const res = await pulumi(["preview", "--expect-no-changes", "--json"]);
    expect(changedSteps(res.stdout)).toEqual([]);
    await pulumi(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
  });

  test("a bucket updated without a shard group keeps the duration the server has", async () => {
    const weather = again.buckets.weather.id;
    // Set on the server by hand; the stack declares no shard group for weather.
    await api.patchBucket(weather, {
      retentionRules: [{ type: "expire", everySeconds: 180 * DAY_S, shardGroupDurationSeconds: 2 * DAY_S }],
    });
    await config("buckets.weather.retentionDays", "200");
    const preview = changedSteps((await pulumi(["preview", "--json", "--diff"])).stdout);
    expect(preview).toHaveLength(1);
    expect(preview[0]).toMatchObject({ op: "update", changedInputs: ["retentionSeconds"] });
    expect(preview[0]!.urn).toMatch(/weather/);

    await pulumi(["up", "--yes", "--skip-preview"]);
    expect((await api.buckets(again.orgId)).weather_data).toEqual({
      id: weather,
      retentionSeconds: 200 * DAY_S,
      shardGroupDurationSeconds: 2 * DAY_S,
    });
    expect(changedSteps((await pulumi(["preview", "--expect-no-changes", "--json"])).stdout)).toEqual([]);
  });

  test("no token value appears in the state files or in anything the CLI printed", () => {
    const tokens = [influxd.token, ...Object.values(outputs.tokens), ...Object.values(again.tokens)];
    const files = listFiles(ws.backendDir);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      for (const token of tokens)
        expect(text.includes(token), `a token in ${file.slice(ws.backendDir.length)}`).toBe(false);
    }
    const printed = transcript.join("\n");
    for (const token of tokens) expect(printed.includes(token), "a token in the CLI output").toBe(false);
  });
});

interface StackOutputs {
  orgId: string;
  buckets: Record<string, { name: string; id: string }>;
  taskIds: { hourly: string; daily: string };
  tokens: { writer: string; reader: string; monitor: string };
}

/** Reads the outputs, registering every token as a secret that must never be printed. */
async function stackOutputs(ws: PulumiWorkspace, transcript: string[]): Promise<StackOutputs> {
  const plain = await ws.ok(["stack", "output", "--json"]);
  transcript.push(plain.stdout);
  const all = JSON.parse((await ws.ok(["stack", "output", "--json", "--show-secrets"])).stdout) as StackOutputs;
  for (const token of Object.values(all.tokens)) ws.secret(token);
  return all;
}

interface Step {
  op: string;
  urn: string;
  /** Inputs whose value differs between the old and the new state. */
  changedInputs: string[];
}

interface PreviewStep {
  op: string;
  urn: string;
  oldState?: { inputs?: Record<string, unknown> };
  newState?: { inputs?: Record<string, unknown> };
}

/**
 * The steps of a `pulumi preview --json` that change something. Dynamic providers cannot name the
 * changed properties in their diff answer, so they are read off the old and new inputs, as the
 * CLI's own `--diff` display does.
 */
function changedSteps(json: string): Step[] {
  const preview = JSON.parse(json) as { steps?: PreviewStep[] };
  return (preview.steps ?? [])
    .filter((s) => s.op !== "same")
    .map((s) => {
      const olds = s.oldState?.inputs ?? {};
      const news = s.newState?.inputs ?? {};
      const keys = [...new Set([...Object.keys(olds), ...Object.keys(news)])];
      return {
        op: s.op,
        urn: s.urn,
        changedInputs: keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k])).sort(),
      };
    });
}

/** Points per bucket, counted by the server over all time. */
async function pointCounts(api: InfluxApi, buckets: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const bucket of buckets) {
    const rows = await api.query(`from(bucket: "${bucket}") |> range(start: 0) |> group() |> count()`);
    counts[bucket] = rows.reduce((sum, row) => sum + Number(row._value), 0);
  }
  return counts;
}

function point(entity: string, deviceClass: string, value: number, ms: number): string {
  const [domain] = entity.split(".");
  return `home_assistant_events,device_class=${deviceClass},domain=${domain},entity_id=${entity} normalized_value=${value.toFixed(1)},state_value="${value}" ${ms * 1_000_000}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

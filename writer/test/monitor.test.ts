import { Registry } from "prom-client";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MonitorConfigSchema } from "../src/monitor/config";
import { InfluxApi } from "../src/monitor/influxApi";
import { StorageMonitor } from "../src/monitor/monitor";
import { parsePrometheusText } from "../src/monitor/prometheusText";
import { type Sample, takeSample } from "../src/monitor/sampler";
import type { TaskSample } from "../src/monitor/tasks";
import { type FakeInfluxApi, type FakeRoutes, startFakeInfluxApi } from "./helpers/fakeInfluxApi";
import { memoryLogger } from "./helpers/setup";

const START = Date.parse("2026-01-01T00:00:00Z");
const INTERVAL_S = 300;

function config(overrides: Record<string, unknown> = {}) {
  return MonitorConfigSchema.parse({ token: "monitor-token-secret", intervalSeconds: INTERVAL_S, ...overrides });
}

function task(failing: boolean, at: number): TaskSample {
  return {
    id: "t1",
    name: "rollup-hourly",
    status: "active",
    everySeconds: 3600,
    offsetSeconds: 300,
    targetBucket: "home_assistant_hourly",
    consecutiveFailures: failing ? 1 : 0,
    lastRunStatus: failing ? "failed" : "success",
    lastRunAt: at,
    lastSuccessAt: at,
    lagSeconds: 0,
    lagWindows: 0,
    ...(failing ? { lastError: 'could not find bucket "x"' } : {}),
  };
}

/** A sample of three buckets growing by 1 MB a round, on a 100 GB disk. */
function syntheticSample(at: number, round: number, failingTask: boolean): Sample {
  const buckets = ["home_assistant_events", "home_assistant_hourly", "system_metrics"].map((name, i) => ({
    name,
    id: `id${i}`,
    retentionSeconds: 365 * 86_400,
    shardGroupSeconds: 7 * 86_400,
    diskBytes: 1e9 + round * 1e6 * (i + 1),
    walBytes: 1e5,
    shards: 3,
    series: 1000 + i,
    oldestPointAt: START - 30 * 86_400_000,
    newestPointAt: at,
    pointsLastDay: 5000,
  }));
  return {
    at,
    buckets,
    tasks: [task(failingTask, at)],
    disk: { source: "configured", capacityBytes: 100e9, usedBytes: 10e9 + round * 6e6 },
    problems: [],
  };
}

describe("the storage monitor over many intervals (fake clock)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps memory, metrics and logs bounded: history within the growth window, one log line per change", {
    timeout: 120_000,
  }, async () => {
    vi.useFakeTimers({ now: START });
    const { logger, lines } = memoryLogger();
    const registry = new Registry();
    let round = 0;
    const stored: number[] = [];
    const monitor = new StorageMonitor(config({ growthWindowDays: 1 }), {
      logger,
      registry,
      now: () => Date.now(),
      sample: async () => {
        round++;
        // Every 300th round the server is unreachable; the task fails for rounds 1000–1099 and 2000–2099.
        if (round % 300 === 0) throw new Error("GET /api/v2/buckets: server unreachable (ECONNREFUSED)");
        return syntheticSample(Date.now(), round, (round >= 1000 && round < 1100) || (round >= 2000 && round < 2100));
      },
      store: async (sample) => {
        stored.push(sample.at);
        if (stored.length > 10) stored.shift();
      },
    });
    monitor.start();
    const ROUNDS = 3_001; // 10 days of 5-minute samples, ten times the growth window, ending on a round that works
    let metricsAtHalf = 0;
    for (let i = 1; i < ROUNDS; i++) {
      await vi.advanceTimersByTimeAsync(INTERVAL_S * 1000);
      if (round === 1500) metricsAtHalf = (await registry.metrics()).length;
    }
    await monitor.stop();
    expect(round).toBe(ROUNDS);

    // A day of 5-minute samples, two series (bytes, series count) per bucket, three buckets.
    const perWindow = 86_400 / INTERVAL_S + 1;
    expect(monitor.historySize()).toBeLessThanOrEqual(3 * 2 * perWindow);
    // …and full: the rounds of the last day less the outage among them are all there.
    expect(monitor.historySize()).toBeGreaterThanOrEqual(3 * 2 * (perWindow - 5));
    expect((await registry.metrics()).length).toBeLessThanOrEqual(metricsAtHalf + 200);

    // 10 outages (each logged when it starts and when it ends) and two task failures (start, clear).
    const messages = lines.map((line) => JSON.parse(line) as { msg: string }).map((entry) => entry.msg);
    expect(messages.filter((m) => m.startsWith("storage monitor: sampling failed"))).toHaveLength(10);
    expect(messages.filter((m) => m === "storage monitor: sampling works again")).toHaveLength(10);
    expect(messages.filter((m) => m.startsWith("storage alert: task rollup-hourly"))).toHaveLength(2);
    expect(messages.filter((m) => m.startsWith("storage alert cleared: task_failing"))).toHaveLength(2);
    expect(lines.length).toBe(24);

    const status = monitor.status();
    expect(status).toMatchObject({ healthy: true, alerts: [] });
    // Growth is fitted from the window: 1, 2 and 3 MB a round = 288, 576 and 864 MB a day.
    expect(status.buckets.map((b) => b.growthBytesPerDay)).toEqual([288e6, 576e6, 864e6]);
    expect(status.disk).toMatchObject({ verdict: "fills", source: "configured" });
  });

  it("does not overlap rounds when a sample takes longer than the interval", async () => {
    vi.useFakeTimers({ now: START });
    let running = 0;
    let maxRunning = 0;
    let rounds = 0;
    const monitor = new StorageMonitor(config(), {
      logger: memoryLogger().logger,
      registry: new Registry(),
      sample: async () => {
        rounds++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL_S * 1000));
        running--;
        return syntheticSample(Date.now(), rounds, false);
      },
      store: async () => {},
    });
    monitor.start();
    await vi.advanceTimersByTimeAsync(19 * INTERVAL_S * 1000);
    const stopped = monitor.stop();
    await vi.advanceTimersByTimeAsync(3 * INTERVAL_S * 1000); // the round in progress ends; no new one starts
    await stopped;
    expect(maxRunning).toBe(1);
    expect(rounds).toBe(5); // rounds start every 4 intervals: 3 of sampling plus the wait
  });
});

describe("the storage monitor when the server is down or answers garbage", () => {
  const servers: FakeInfluxApi[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function fakeServer(routes: FakeRoutes): Promise<string> {
    const server = await startFakeInfluxApi(routes);
    servers.push(server);
    return server.url;
  }

  async function statusAfterRounds(url: string, rounds = 3) {
    const { logger, lines } = memoryLogger();
    const api = new InfluxApi({ url, org: "home_assistant", token: "monitor-token-secret", timeoutMs: 2_000 });
    const monitor = new StorageMonitor(config(), {
      logger,
      registry: new Registry(),
      sample: () => takeSample({ api }),
      store: async () => {},
    });
    for (let i = 0; i < rounds; i++) await monitor.sampleOnce();
    return { status: monitor.status(), lines };
  }

  const BUCKETS = JSON.stringify({
    buckets: [
      {
        id: "b1",
        name: "home_assistant_events",
        type: "user",
        retentionRules: [{ type: "expire", everySeconds: 86_400 }],
      },
    ],
  });

  it.each<{ name: string; routes?: FakeRoutes; message: RegExp }>([
    {
      name: "nothing listens",
      routes: undefined,
      message: /^sampling fails: GET \/api\/v2\/buckets: server unreachable \(ECONNREFUSED\)$/,
    },
    {
      name: "HTML instead of JSON",
      routes: { "/api/v2/buckets": { body: "<html>proxy error</html>" } },
      message: /^sampling fails: GET \/api\/v2\/buckets: answer is not JSON: "<html>proxy error<\/html>"$/,
    },
    {
      name: "a JSON object without buckets",
      routes: { "/api/v2/buckets": { body: '{"hello":1}' } },
      message: /^sampling fails: GET \/api\/v2\/buckets: answer has no buckets list$/,
    },
    {
      name: "the token is refused",
      routes: { "/api/v2/buckets": { status: 401, body: '{"code":"unauthorized","message":"unauthorized access"}' } },
      message: /^sampling fails: GET \/api\/v2\/buckets: HTTP 401: unauthorized access$/,
    },
    {
      name: "/metrics is not Prometheus text",
      routes: { "/api/v2/buckets": { body: BUCKETS }, "/metrics": { body: "{not: prometheus}" } },
      message: /^sampling fails: GET \/metrics: not Prometheus text \(line 1 is not Prometheus text/,
    },
    {
      name: "/metrics of something else",
      routes: { "/api/v2/buckets": { body: BUCKETS }, "/metrics": { body: "# TYPE up gauge\nup 1\n" } },
      message: /^sampling fails: GET \/metrics: no storage_\* metrics/,
    },
  ])("$name: a clear status, one log line, no crash", async ({ routes, message }) => {
    const url = await fakeServer(routes ?? {});
    // Without routes: a port that was free a moment ago, where nothing listens any more.
    if (!routes) await servers.pop()!.close();
    const { status, lines } = await statusAfterRounds(url);
    expect(status.healthy).toBe(false);
    expect(status.message).toMatch(message);
    expect(status.lastError).toBeDefined();
    expect(lines.filter((line) => line.includes("sampling failed"))).toHaveLength(1);
    expect(lines.join("\n")).not.toContain("monitor-token-secret");
  });

  it("a Flux query that fails is a problem of that bucket; the sizes are still reported", async () => {
    const metrics =
      '# TYPE storage_shard_disk_size gauge\nstorage_shard_disk_size{bucket="b1",engine="tsm1",id="7",path="/d",walPath="/w"} 1234\n# TYPE storage_wal_size gauge\nstorage_wal_size{bucket="b1",engine="tsm1",id="7",path="/d",walPath="/w"} 34\n';
    const url = await fakeServer({
      "/api/v2/buckets": { body: BUCKETS },
      "/metrics": { body: metrics },
      "/api/v2/query": { status: 500, body: '{"code":"internal error","message":"engine is closed"}' },
      "/api/v2/tasks": { body: '{"tasks":[]}' },
    });
    const { status } = await statusAfterRounds(url, 1);
    expect(status.healthy).toBe(true);
    expect(status.buckets).toEqual([
      expect.objectContaining({
        name: "home_assistant_events",
        diskBytes: 1234,
        walBytes: 34,
        shards: 1,
        problem: "Flux query (figures of home_assistant_events): HTTP 500: engine is closed",
      }),
    ]);
    expect(status.problems).toEqual([
      "bucket home_assistant_events: Flux query (figures of home_assistant_events): HTTP 500: engine is closed",
    ]);
  });
});

describe("task health from the runs API", () => {
  it("takes a failed run's error from its log before the task's lastRunError is set, and counts failures and lag", async () => {
    const hour = 3_600_000;
    const now = Date.parse("2026-06-01T12:00:00Z");
    const run = (status: string, hoursAgo: number, log: string[] = []) => ({
      id: `r${hoursAgo}`,
      status,
      scheduledFor: new Date(now - hoursAgo * hour).toISOString(),
      log: log.map((message) => ({ message })),
    });
    const routes: Record<string, string> = {
      "/api/v2/buckets": JSON.stringify({
        buckets: [{ id: "b2", name: "home_assistant_hourly", type: "user", retentionRules: [] }],
      }),
      "/metrics": "# TYPE storage_shard_disk_size gauge\n",
      "/api/v2/query": "",
      "/api/v2/tasks": JSON.stringify({
        tasks: [
          {
            id: "t1",
            name: "rollup-hourly",
            status: "active",
            every: "1h",
            offset: "5m",
            lastRunStatus: "success",
            flux: 'x |> to(bucket: "home_assistant_hourly")',
          },
        ],
      }),
      "/api/v2/tasks/t1/runs": JSON.stringify({
        runs: [
          run("success", 5),
          run("failed", 3, [
            'Started task from script: "…"',
            "Completed(failed)",
            'could not find bucket "raw"',
            'Task encountered unrecoverable error, requires admin action: could not find bucket "raw"',
          ]),
          run("failed", 2, ['Started task from script: "…"', "Completed(failed)", 'could not find bucket "raw"']),
          run("failed", 1, ['Started task from script: "…"', "Completed(failed)", 'could not find bucket "raw"']),
          run("started", 0),
        ],
      }),
    };
    const server = await startFakeInfluxApi(
      Object.fromEntries(Object.entries(routes).map(([path, body]) => [path, { body }])),
    );
    try {
      const api = new InfluxApi({ url: server.url, org: "o", token: "t", timeoutMs: 2_000 });
      const sample = await takeSample({ api, now: () => now });
      expect(sample.tasks).toEqual([
        expect.objectContaining({
          name: "rollup-hourly",
          targetBucket: "home_assistant_hourly",
          lastRunStatus: "failed",
          lastRunAt: now - hour,
          consecutiveFailures: 3,
          lastError: 'could not find bucket "raw"',
          lastSuccessAt: now - 5 * hour,
          lagSeconds: 5 * 3_600 - 300,
          lagWindows: 4,
        }),
      ]);
    } finally {
      await server.close();
    }
  });
});

describe("parsePrometheusText", () => {
  it("reads the wanted families with escaped label values and special values", () => {
    const text = [
      "# HELP storage_shard_disk_size Gauge of the disk size for the shard",
      "# TYPE storage_shard_disk_size gauge",
      'storage_shard_disk_size{bucket="a",path="C:\\\\data \\"x\\"\\n"} 12',
      "storage_shard_disk_size 3.5e3 1700000000000",
      'other{bucket="a"} 1',
      "storage_wal_size{} +Inf",
      "",
    ].join("\n");
    const families = parsePrometheusText(text, ["storage_shard_disk_size", "storage_wal_size"]);
    expect(families.get("storage_shard_disk_size")).toEqual([
      { labels: { bucket: "a", path: 'C:\\data "x"\n' }, value: 12 },
      { labels: {}, value: 3500 },
    ]);
    expect(families.get("storage_wal_size")).toEqual([{ labels: {}, value: Infinity }]);
  });

  it.each(["<html>", 'm{a="1"} lots', "m{a=1} 2"])("refuses %j", (line) => {
    expect(() => parsePrometheusText(line, ["m"])).toThrow(/line 1/);
  });
});

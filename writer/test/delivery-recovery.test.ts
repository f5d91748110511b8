/**
 * Prompt recovery, honest health and a full spool, against the InfluxDB-like fake server:
 * - a long backoff ends as soon as a health probe is answered again;
 * - a stop during a long backoff still delivers within its deadline;
 * - a hung write or a failing probe makes `/status` and `/readyz` unhealthy within the health timeout,
 *   and a write that succeeds clears it;
 * - at its byte bound the spool refuses ingest (never drops what it acknowledged) and makes the other
 *   sources wait, and every accepted event is delivered exactly.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMetrics, type WriterMetrics } from "../src/metrics";
import { createPipeline, type Pipeline } from "../src/pipeline";
import { SinkFullError } from "../src/sources/sink";
import { type FakeInflux, type SeenRequest, startFakeInflux } from "./helpers/fakeInflux";
import { eventually, memoryLogger, stateOf, tempDir, testConfig } from "./helpers/setup";

const isProbe = (request: SeenRequest) => request.lines.length === 0;
const down = { status: 503, body: { code: "unavailable", message: "down" } };

describe("recovery and health", () => {
  let fake: FakeInflux;
  let spool: ReturnType<typeof tempDir>;
  let pipeline: Pipeline | undefined;
  let metrics: WriterMetrics;

  /** A pipeline whose backoff is a full minute, as production's reaches during an outage. */
  async function start(
    overrides: Record<string, unknown> = {},
    retry = { baseMs: 60_000, maxMs: 60_000 },
  ): Promise<Pipeline> {
    metrics = createMetrics({ processMetrics: false });
    pipeline = createPipeline(testConfig(fake.url, spool.dir, overrides), {
      logger: memoryLogger().logger,
      metrics,
      retry,
    });
    await pipeline.start();
    return pipeline;
  }

  const events = (count: number, from = 0, entity = "sensor.power") =>
    Array.from({ length: count }, (_, i) => ({
      entity_id: entity,
      state: String(from + i),
      timestamp: new Date(Date.UTC(2026, 0, 1) + (from + i) * 1000).toISOString(),
    }));

  beforeEach(async () => {
    fake = await startFakeInflux();
    spool = tempDir();
  });
  afterEach(async () => {
    await pipeline?.stop(1000);
    pipeline = undefined;
    await fake.close();
    spool.remove();
  });

  it("ends a minute-long backoff as soon as InfluxDB answers its health probe again", async () => {
    let up = false;
    fake.answer = () => (up ? undefined : down);
    const writer = await start();
    await writer.submit(events(5), "test");
    await eventually(() => fake.requests.some((request) => !isProbe(request)));
    up = true;
    // Well inside the backoff (30–60 s): only the probe can have ended it.
    await eventually(() => fake.acceptedLines().filter((line) => line.length > 0).length === 5, 8000);
    expect(fake.requests.some(isProbe)).toBe(true);
  });

  it("a stop during a minute-long backoff still delivers within its deadline", async () => {
    let up = false;
    // The probe keeps failing: only the stop's flush may cut the backoff short here.
    fake.answer = (request) => (isProbe(request) || !up ? down : undefined);
    const writer = await start();
    await writer.submit(events(5), "test");
    await eventually(() => fake.requests.some((request) => !isProbe(request)));
    up = true;
    expect(await writer.stop(3000)).toEqual({ drained: true, pendingEvents: 0 });
    expect(fake.acceptedLines().map(stateOf)).toEqual(["0", "1", "2", "3", "4"]);
  });

  it("a stop is not held up by a health probe that hangs", async () => {
    fake.answer = (request) => (isProbe(request) ? "hang" : down);
    const writer = await start({ influxdb: { readTimeoutSeconds: 20 } });
    await writer.submit(events(2), "test");
    await eventually(() => fake.requests.some(isProbe), 5000);
    const started = Date.now();
    expect(await writer.stop(300)).toEqual({ drained: false, pendingEvents: 2 });
    // Far below the probe's own 20 s timeout: the stop cancelled it.
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("a write unanswered for longer than the health timeout makes /status and /readyz unhealthy; a 204 clears it", async () => {
    fake.answer = (_request, index) => (index === 0 ? "hang" : undefined);
    const writer = await start(
      { influxdb: { writeTimeoutSeconds: 2, healthTimeoutSeconds: 0.3 } },
      { baseMs: 5, maxMs: 40 },
    );
    await writer.submit(events(3), "test");
    await eventually(() => writer.status().healthy === false);
    expect(writer.status().message).toMatch(/no answer for \d+ s .*InfluxDB hangs/);
    expect(await writer.checkWritable()).toMatchObject({ ok: false });
    // The write timeout ends the hung request; the retry gets its 204.
    await eventually(() => fake.acceptedLines().length === 3);
    await eventually(() => writer.status().healthy);
    expect((await writer.checkWritable()).ok).toBe(true);
  });

  it("a write that times out is unhealthy at once, not after three failures", async () => {
    let hang = true;
    fake.answer = () => (hang ? "hang" : undefined);
    const writer = await start({ influxdb: { writeTimeoutSeconds: 0.2 } }, { baseMs: 2000, maxMs: 2000 });
    await writer.submit(events(2), "test");
    await eventually(() => writer.status().details?.consecutiveFailures === 1);
    expect(writer.status()).toMatchObject({ healthy: false });
    expect(writer.status().message).toMatch(/no answer within the write timeout/);
    hang = false;
    await eventually(() => fake.acceptedLines().length === 2);
    await eventually(() => writer.status().healthy);
  });

  it("a failing health probe during a backoff makes InfluxDB unhealthy after the first failure", async () => {
    fake.answer = () => down;
    const writer = await start();
    await writer.submit(events(2), "test");
    await eventually(() => fake.requests.some(isProbe), 5000);
    await eventually(() => writer.status().healthy === false);
    expect(writer.status().message).toMatch(/does not answer its health probe/);
    expect(writer.status().details?.consecutiveFailures).toBe(1);
  });

  it("with nothing to write, a health probe finds a hung InfluxDB and a working one clears it", async () => {
    let hang = true;
    fake.answer = (request) => (isProbe(request) && hang ? "hang" : undefined);
    const writer = await start(
      { influxdb: { readTimeoutSeconds: 0.3, healthTimeoutSeconds: 1 } },
      { baseMs: 5, maxMs: 40 },
    );
    await eventually(() => writer.status().healthy === false, 5000);
    expect(writer.status().message).toMatch(/does not answer its health probe/);
    hang = false;
    await eventually(() => writer.status().healthy, 5000);
  });

  it("at its bound refuses ingest instead of dropping, makes other sources wait, and delivers every accepted event exactly", async () => {
    let up = false;
    fake.answer = () => (up ? undefined : down);
    const writer = await start({ spool: { dir: spool.dir, maxBytes: 1024 * 1024 } }, { baseMs: 20, maxMs: 50 });
    let accepted = 0;
    let refused = 0;
    for (let round = 0; round < 60; round++) {
      try {
        const results = await writer.submit(events(500, round * 500), "ingest");
        accepted += results.filter((result) => result.status === "accepted").length;
      } catch (error) {
        expect(error).toBeInstanceOf(SinkFullError);
        refused += 500;
      }
    }
    expect(refused).toBeGreaterThan(0);
    // Read-ahead into memory counts as pending: exactly what was accepted, nothing dropped.
    expect(writer.status().details).toMatchObject({
      spoolEvents: accepted,
      spoolDroppedEvents: 0,
      spoolRefusedEvents: refused,
    });
    expect(writer.status().details!.spoolDiskBytes as number).toBeLessThanOrEqual(1024 * 1024);
    const refusedMetric = (await metrics.spoolRefusedEvents.get()).values;
    expect(refusedMetric).toEqual([expect.objectContaining({ labels: { source: "ingest" }, value: refused })]);

    // Another source waits for room rather than being refused.
    let waited = false;
    const websocket = writer.submit(events(500, 100_000, "sensor.other"), "websocket").then(() => (waited = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(waited).toBe(false);
    up = true;
    await websocket;
    await eventually(async () => (await writer.flush(200)).drained);
    const stored = new Set(fake.acceptedLines().map((line) => `${line.split(",")[1]} ${stateOf(line)}`));
    expect(stored.size).toBe(accepted + 500);
  });
});

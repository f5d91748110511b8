/**
 * Delivery against a local server that answers as InfluxDB 2.7 does: every retry class, 413 splitting,
 * 400/422 isolation into the dead-letter file, 401 keeping the data, and "delivered means 204".
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { offendingLines, retryDelayMs } from "../src/delivery";
import { classify, parseRetryAfter } from "../src/influxClient";
import { eventually, stateChanged, stateOf, usePipelineHarness } from "./helpers/setup";

function events(count: number, entity = "sensor.power"): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) =>
    stateChanged(entity, String(i), new Date(Date.UTC(2026, 0, 1, 12, 0, 0) + i * 1000).toISOString()),
  );
}

describe("delivery against an InfluxDB-like server", () => {
  const harness = usePipelineHarness();

  async function run(count: number, overrides: Record<string, unknown> = {}) {
    const started = await harness.start(overrides);
    const results = await started.pipeline.submit(events(count), "test");
    expect(results.every((result) => result.status === "accepted")).toBe(true);
    return started;
  }

  it("writes gzip-compressed line protocol with the token, org, bucket and microsecond precision", async () => {
    await run(3);
    await eventually(() => harness.fake.acceptedLines().length === 3);
    const request = harness.fake.requests[0]!;
    expect(request).toMatchObject({
      bucket: "home_assistant_events",
      org: "home_assistant",
      precision: "us",
      contentEncoding: "gzip",
    });
    expect(request.authorization).toBe("Token test-token-123456");
    expect(harness.fake.acceptedLines().map(stateOf)).toEqual(["0", "1", "2"]);
  });

  it.each([
    [
      "429 with Retry-After",
      { status: 429, body: { code: "too many requests", message: "slow down" }, headers: { "Retry-After": "0" } },
      "rate_limited",
    ],
    ["500", { status: 500, body: { code: "internal error", message: "boom" } }, "server_error"],
    ["503", { status: 503, body: { code: "unavailable", message: "starting" } }, "unavailable"],
    ["a dropped connection", "drop" as const, "network"],
  ])("retries after %s and then delivers everything", async (_name, failure, reason) => {
    harness.fake.answer = (_request, index) => (index < 2 ? failure : undefined);
    const { metrics } = await run(5);
    await eventually(() => harness.fake.acceptedLines().length === 5);
    expect(harness.fake.requests.length).toBe(3);
    expect(harness.fake.acceptedLines().map(stateOf)).toEqual(["0", "1", "2", "3", "4"]);
    const retried = await metrics.batchesRetried.get();
    expect(retried.values.find((value) => value.labels.reason === reason)?.value).toBe(2);
    await eventually(async () => (await harness.pipeline.flush(1000)).pendingEvents === 0);
  });

  it("splits a batch answered 413 until the parts fit", async () => {
    harness.fake.answer = (request) =>
      request.lines.length > 2 ? { status: 413, body: { code: "request too large", message: "too large" } } : undefined;
    await run(7);
    await eventually(() => harness.fake.acceptedLines().length === 7);
    expect(harness.fake.acceptedLines().map(stateOf).sort()).toEqual(["0", "1", "2", "3", "4", "5", "6"]);
    expect(
      harness.fake.requests.filter((request) => request.lines.length <= 2).every((request) => request.lines.length > 0),
    ).toBe(true);
  });

  it("moves lines a 400 names to the dead-letter file with the server's reason and delivers the rest", async () => {
    harness.fake.answer = (request) => {
      const bad = request.lines.findIndex((line) => stateOf(line) === "3");
      if (bad === -1) return undefined;
      return {
        status: 400,
        body: {
          code: "invalid",
          message: `unable to parse '${request.lines[bad]}': invalid field format`,
          line: bad + 1,
        },
      };
    };
    await run(6);
    await eventually(() => harness.fake.acceptedLines().length === 5);
    expect(harness.fake.acceptedLines().map(stateOf)).toEqual(["0", "1", "2", "4", "5"]);
    const deadLetterPath = join(harness.spoolDir, "dead-letter.ndjson");
    await eventually(() => existsSync(deadLetterPath));
    const dead = readFileSync(deadLetterPath, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ bucket: "home_assistant_events", status: 400 });
    expect(dead[0].reason).toContain("invalid field format");
    expect(stateOf(dead[0].line)).toBe("3");
  });

  it("logs refused lines when the dead-letter file cannot take them, and delivers the rest", async () => {
    mkdirSync(join(harness.spoolDir, "dead-letter.ndjson"));
    harness.fake.answer = (request) => {
      const bad = request.lines.findIndex((line) => stateOf(line) === "1");
      return bad === -1
        ? undefined
        : {
            status: 400,
            body: { code: "invalid", message: `unable to parse '${request.lines[bad]}': invalid number` },
          };
    };
    const { logLines } = await run(3);
    await eventually(() => harness.fake.acceptedLines().length === 2);
    const entry = logLines
      .map((line) => JSON.parse(line))
      .find((record) => record.msg?.includes("could not write the dead-letter file"));
    expect(entry.records).toContain('state_value=\\"1\\"');
  });

  it("isolates lines a 422 rejects without naming them by bisecting, and delivers the rest", async () => {
    // Points "2" and "5" violate the retention policy; InfluxDB writes the rest but names none.
    harness.fake.answer = (request) => {
      const dropped = request.lines.filter((line) => ["2", "5"].includes(stateOf(line))).length;
      if (dropped === 0) return undefined;
      return {
        status: 422,
        body: {
          code: "unprocessable entity",
          message: `failure writing points to database: partial write: dropped ${dropped} points outside retention policy dropped=${dropped}`,
        },
      };
    };
    await run(8);
    await eventually(() => harness.fake.acceptedLines().length === 6);
    expect(harness.fake.acceptedLines().map(stateOf).sort()).toEqual(["0", "1", "3", "4", "6", "7"]);
    const deadLetterPath = join(harness.spoolDir, "dead-letter.ndjson");
    await eventually(
      () => existsSync(deadLetterPath) && readFileSync(deadLetterPath, "utf8").trim().split("\n").length === 2,
    );
    const dead = readFileSync(deadLetterPath, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(dead.map((record) => stateOf(record.line)).sort()).toEqual(["2", "5"]);
    expect(dead.every((record) => record.status === 422 && record.reason.includes("retention policy"))).toBe(true);
  });

  it.each([
    [401, { code: "unauthorized", message: "unauthorized access" }],
    [403, { code: "forbidden", message: "insufficient permissions for write" }],
  ])("keeps the data and reports unhealthy on %d, then delivers once the token works", async (status, body) => {
    let authorised = false;
    harness.fake.answer = () => (authorised ? undefined : { status, body });
    await run(4);
    await eventually(() => harness.pipeline.status().healthy === false && harness.fake.requests.length >= 2);
    const influxdb = harness.pipeline.status();
    expect(influxdb.message).toMatch(/refuses the token/);
    expect(influxdb.details?.spoolEvents).toBe(4);
    expect((await harness.pipeline.checkWritable()).ok).toBe(false);
    expect(harness.fake.acceptedLines()).toHaveLength(0);
    authorised = true;
    await eventually(() => harness.fake.acceptedLines().length === 4);
    await eventually(() => harness.pipeline.status().healthy);
  });

  it("gives up on a write that gets no answer within the write timeout and sends it again", async () => {
    harness.fake.answer = (_request, index) => (index === 0 ? "hang" : undefined);
    const { metrics } = await run(3, { influxdb: { writeTimeoutSeconds: 0.2 } });
    await eventually(() => harness.fake.acceptedLines().length === 3);
    expect(harness.fake.acceptedLines().map(stateOf)).toEqual(["0", "1", "2"]);
    expect(harness.fake.requests).toHaveLength(2);
    expect((await metrics.batchesFailed.get()).values).toEqual([
      expect.objectContaining({ labels: { bucket: "home_assistant_events", reason: "timeout" }, value: 1 }),
    ]);
  });

  it("stops within its deadline while a write hangs, and keeps the batch for the next start", async () => {
    harness.fake.answer = () => "hang";
    await run(3);
    await eventually(() => harness.fake.requests.length >= 1);
    expect(await harness.pipeline.stop(200)).toEqual({ drained: false, pendingEvents: 3 });
    harness.fake.answer = () => undefined;
    const restarted = await harness.start();
    await restarted.pipeline.flush(5000);
    expect(harness.fake.acceptedLines().map(stateOf)).toEqual(["0", "1", "2"]);
  });

  it("keeps memory bounded during an outage: the spool takes the load, not the heap", async () => {
    harness.fake.answer = () => ({ status: 503, body: { code: "unavailable", message: "down" } });
    const { pipeline } = await harness.start({ influxdb: { batchSize: 100 } });
    for (let round = 0; round < 50; round++) {
      await pipeline.submit(
        Array.from({ length: 200 }, (_, i) => ({ entity_id: "sensor.load", state: String(round * 200 + i) })),
        "test",
      );
    }
    const details = pipeline.status().details!;
    expect(details.spoolEvents).toBe(10_000);
    // At most the read-ahead window of 16 batches is held in memory, however long the outage.
    expect(details.inMemoryEvents).toBeLessThanOrEqual(16 * 100);
    harness.fake.answer = () => undefined;
    await eventually(async () => (await pipeline.flush(100)).drained);
    expect(new Set(harness.fake.acceptedLines().map(stateOf)).size).toBe(10_000);
  });

  it("does not run more than sixteen batches ahead of the spool's cursor while one write hangs", async () => {
    // Whatever is delivered past the cursor is sent again after a crash: that must stay a small window.
    harness.fake.answer = (_request, index) => (index === 0 ? "hang" : undefined);
    const { pipeline } = await harness.start({ influxdb: { batchSize: 100 } });
    for (let round = 0; round < 50; round++) {
      await pipeline.submit(
        Array.from({ length: 100 }, (_, i) => ({ entity_id: "sensor.window", state: String(round * 100 + i) })),
        "test",
      );
    }
    await eventually(() => harness.fake.requests.length >= 16);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(harness.fake.acceptedLines().length).toBeLessThanOrEqual(1500);
    expect(pipeline.status().details).toMatchObject({ spoolEvents: 5000 });
    expect(pipeline.status().details!.inMemoryEvents).toBeLessThanOrEqual(1600);
  });

  it("counts an event as pending until the server answered 204 for it", async () => {
    harness.fake.answer = () => ({ status: 503, body: { code: "unavailable", message: "down" } });
    await run(3);
    await eventually(() => harness.fake.requests.length >= 3);
    const flushed = await harness.pipeline.flush(50);
    expect(flushed).toEqual({ drained: false, pendingEvents: 3 });
    harness.fake.answer = () => undefined;
    await eventually(async () => (await harness.pipeline.flush(100)).drained);
    expect(harness.fake.acceptedLines()).toHaveLength(3);
  });
});

describe("retry rules", () => {
  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30_000);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it("classifies InfluxDB's answers", () => {
    expect(classify(429, "x", "3")).toMatchObject({ kind: "retry", reason: "rate_limited", retryAfterMs: 3000 });
    expect(classify(503, "x", null)).toMatchObject({ kind: "retry", reason: "unavailable" });
    expect(classify(502, "x", null)).toMatchObject({ kind: "retry", reason: "server_error" });
    expect(classify(413, "x", null)).toMatchObject({ kind: "too_large" });
    expect(classify(400, "x", null)).toMatchObject({ kind: "rejected", status: 400 });
    expect(classify(422, "x", null)).toMatchObject({ kind: "rejected", status: 422 });
    expect(classify(401, "x", null)).toMatchObject({ kind: "unauthorized", status: 401 });
    expect(classify(403, "x", null)).toMatchObject({ kind: "unauthorized", status: 403 });
    expect(classify(404, "bucket not found", null)).toMatchObject({ kind: "unauthorized", status: 404 });
  });

  it("backs off exponentially with jitter, capped, and honours Retry-After", () => {
    const policy = { baseMs: 1000, maxMs: 60_000 };
    expect(retryDelayMs(1, policy, undefined, () => 0)).toBe(500);
    expect(retryDelayMs(1, policy, undefined, () => 1)).toBe(1000);
    expect(retryDelayMs(4, policy, undefined, () => 1)).toBe(8000);
    expect(retryDelayMs(30, policy, undefined, () => 1)).toBe(60_000);
    expect(retryDelayMs(30, policy, undefined, () => 0)).toBe(30_000);
    expect(retryDelayMs(1, policy, 12_000, () => 0)).toBe(12_000);
    expect(retryDelayMs(1, policy, 12_000, () => 1)).toBeCloseTo(13_200);
  });

  it("finds the lines an error message names, by number or by quoted text", () => {
    const lines = ["m a=1 1", "m a=oops 2", "m a=3 3"];
    expect([...offendingLines("unable to parse 'm a=oops 2': invalid number", lines)]).toEqual([1]);
    expect([...offendingLines("partial write: line 3: field type conflict", lines)]).toEqual([2]);
    expect([...offendingLines("points beyond retention policy dropped=1", lines)]).toEqual([]);
  });
});

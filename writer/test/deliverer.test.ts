/**
 * The deliverer on its own, against an in-memory spool and a scripted client: what goes to InfluxDB in
 * which batches, when the spool's cursor moves, how far reading runs ahead, what a 413, a 400 and a
 * failed write lead to, what flush and stop do, and what metrics, logs and health show.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Deliverer, type DelivererOptions } from "../src/delivery";
import type { WriteOutcome } from "../src/influxClient";
import { createMetrics, type WriterMetrics } from "../src/metrics";
import type { Spool, SpoolEntry, SpoolPosition } from "../src/spool";
import { eventually, memoryLogger, tempDir } from "./helpers/setup";

const DELIVERED: WriteOutcome = { kind: "delivered" };
const SERVER_ERROR: WriteOutcome = { kind: "retry", reason: "server_error", message: "boom" };

/** A spool in memory: records are pushed by the test; reads, acknowledgements and their order are kept. */
class MemorySpool {
  /** `maxBytes` of every read, in call order. */
  readonly reads: number[] = [];
  /** Every acknowledgement, in call order. */
  readonly acks: { end: SpoolPosition; events: number }[] = [];
  /** Records handed out per read (all that are queued by default). */
  perRead = Number.POSITIVE_INFINITY;
  /** Reads that fail before reading works again. */
  failingReads = 0;
  spoolHealth = { healthy: true, message: "spool works", faults: [] };
  private readonly queue: SpoolEntry[] = [];
  private waiters: (() => void)[] = [];
  private offset = 0;
  private events = 0;

  /** Appends one record of `lines` (each written with its `\n`) for `bucket`. */
  push(bucket: string, lines: string[]): void {
    this.pushRaw(bucket, Buffer.from(lines.map((line) => `${line}\n`).join("")), lines.length);
  }

  /** Appends one record of `count` lines as the bytes `data`. */
  pushRaw(bucket: string, data: Buffer, count: number): void {
    this.offset += 1;
    this.events += count;
    this.queue.push({ bucket, data, count, end: { segment: 1, offset: this.offset } });
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Records not yet handed to a reader. */
  unread(): number {
    return this.queue.length;
  }

  async read(maxBytes: number, signal?: AbortSignal): Promise<SpoolEntry[]> {
    this.reads.push(maxBytes);
    if (this.failingReads > 0) {
      this.failingReads--;
      throw new Error("disk on fire");
    }
    while (this.queue.length === 0) {
      if (signal?.aborted) return [];
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        signal?.addEventListener("abort", () => resolve(), { once: true });
      });
    }
    return this.queue.splice(0, this.perRead);
  }

  ack(end: SpoolPosition, events: number): void {
    this.acks.push({ end, events });
  }

  stats(): { events: number } {
    return { events: this.events - this.acks.reduce((sum, ack) => sum + ack.events, 0) };
  }

  health(): { healthy: boolean; message: string; faults: never[] } {
    return this.spoolHealth;
  }
}

/** One write request as the client saw it. */
interface Request {
  bucket: string;
  lines: string[];
  at: number;
}

/** A client whose answers the test scripts; `hang` waits until the writer cancels the request. */
class ScriptedClient {
  readonly requests: Request[] = [];
  readonly probes: { bucket: string; at: number }[] = [];
  answer: (lines: string[], index: number, signal: AbortSignal | undefined) => WriteOutcome | Promise<WriteOutcome> =
    () => DELIVERED;
  probeAnswer: () => WriteOutcome | Promise<WriteOutcome> = () => DELIVERED;

  async write(bucket: string, body: Buffer, signal?: AbortSignal): Promise<WriteOutcome> {
    // Every line goes out with its newline: a body not ending in one would show as an extra marker line.
    const text = body.toString("utf8");
    const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : [...text.split("\n"), "<no newline>"];
    this.requests.push({ bucket, lines, at: Date.now() });
    return this.answer(lines, this.requests.length - 1, signal);
  }

  async probe(bucket: string): Promise<WriteOutcome> {
    this.probes.push({ bucket, at: Date.now() });
    return this.probeAnswer();
  }

  /** The lines of every request, in the order they were sent. */
  sentLines(): string[][] {
    return this.requests.map((request) => request.lines);
  }
}

/** Resolves with `outcome` once the request is cancelled (the writer stopping), as the real client does. */
function untilCancelled(signal: AbortSignal | undefined, outcome: WriteOutcome): Promise<WriteOutcome> {
  return new Promise((resolve) => signal?.addEventListener("abort", () => resolve(outcome), { once: true }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe("the deliverer", () => {
  let spool: MemorySpool;
  let client: ScriptedClient;
  let metrics: WriterMetrics;
  let log: string[];
  let dir: ReturnType<typeof tempDir>;
  let deliverer: Deliverer | undefined;

  beforeEach(() => {
    spool = new MemorySpool();
    client = new ScriptedClient();
    metrics = createMetrics({ processMetrics: false });
    dir = tempDir();
  });
  afterEach(async () => {
    await deliverer?.stop();
    deliverer = undefined;
    dir.remove();
  });

  function start(options: Partial<DelivererOptions> = {}): Deliverer {
    const memory = memoryLogger();
    log = memory.lines;
    deliverer = new Deliverer({
      spool: spool as unknown as Spool,
      client,
      probeBucket: "probe_bucket",
      batchSize: 1000,
      batchTimeoutMs: 20,
      healthTimeoutMs: 10_000,
      retry: { baseMs: 5, maxMs: 40 },
      deadLetterPath: join(dir.dir, "dead-letter.ndjson"),
      logger: memory.logger,
      metrics,
      ...options,
    });
    deliverer.start();
    return deliverer;
  }

  const logged = () => log.map((line) => JSON.parse(line) as { level: number; msg: string } & Record<string, unknown>);
  const metric = async (counter: keyof WriterMetrics, labels: Record<string, string> = {}) => {
    const values = (await (metrics[counter] as WriterMetrics["pointsWritten"]).get()).values;
    return values
      .filter((value) => Object.entries(labels).every(([key, label]) => value.labels[key as "bucket"] === label))
      .reduce((sum, value) => sum + value.value, 0);
  };
  const ackedOffsets = () => spool.acks.map((ack) => ack.end.offset);
  const deadLetters = () =>
    readFileSync(join(dir.dir, "dead-letter.ndjson"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  describe("batching", () => {
    it("fills batches of batchSize lines across records and sends a partial batch once batchTimeoutMs has passed", async () => {
      spool.push("events", ["a0", "a1"]);
      spool.push("events", ["b0", "b1"]);
      spool.push("events", ["c0", "c1"]);
      spool.push("events", ["d0", "d1"]);
      const started = Date.now();
      start({ batchSize: 3, batchTimeoutMs: 300 });
      await eventually(() => client.requests.length === 2);
      const full = client.sentLines().sort((a, b) => a[0]!.localeCompare(b[0]!));
      expect(full).toEqual([
        ["a0", "a1", "b0"],
        ["b1", "c0", "c1"],
      ]);
      await eventually(() => spool.acks.length === 3);
      expect(spool.acks).toEqual([
        { end: { segment: 1, offset: 1 }, events: 2 },
        { end: { segment: 1, offset: 2 }, events: 2 },
        { end: { segment: 1, offset: 3 }, events: 2 },
      ]);
      // The last two lines wait for the batch timeout.
      expect(client.requests).toHaveLength(2);
      await eventually(() => client.requests.length === 3);
      expect(client.requests[2]!.lines).toEqual(["d0", "d1"]);
      expect(client.requests[2]!.at - started).toBeGreaterThanOrEqual(280);
      await eventually(() => spool.acks.length === 4);
      expect(spool.acks[3]).toEqual({ end: { segment: 1, offset: 4 }, events: 2 });
      expect(deliverer!.pendingInMemory()).toBe(0);
    });

    it("keeps one batch per bucket: a bucket's lines never go out with another's, each to its own bucket", async () => {
      spool.push("a", ["a0"]);
      spool.push("b", ["b0", "b1"]);
      spool.push("a", ["a1", "a2"]);
      spool.push("b", ["b2"]);
      start({ batchSize: 3 });
      await eventually(() => client.requests.length === 2);
      const byBucket = Object.fromEntries(client.requests.map((request) => [request.bucket, request.lines]));
      expect(byBucket).toEqual({ a: ["a0", "a1", "a2"], b: ["b0", "b1", "b2"] });
      await eventually(() => spool.acks.length === 4);
      expect(ackedOffsets()).toEqual([1, 2, 3, 4]);
    });

    it("asks the spool for about one batch of bytes per read, never less than 64 KiB", async () => {
      start({ batchSize: 1000 });
      await eventually(() => spool.reads.length === 1);
      expect(spool.reads[0]).toBe(200_000);
      await deliverer!.stop();
      spool = new MemorySpool();
      start({ batchSize: 10 });
      await eventually(() => spool.reads.length === 1);
      expect(spool.reads[0]).toBe(64 * 1024);
    });

    it("starting twice still runs one reader", async () => {
      const writer = start();
      writer.start();
      await sleep(50);
      expect(spool.reads).toHaveLength(1);
    });
  });

  describe("the cursor", () => {
    it("passes a record only when all its lines are acknowledged, and only after every record before it", async () => {
      let releaseFirst: (outcome: WriteOutcome) => void = () => {};
      client.answer = (lines) =>
        lines[0] === "r1" ? new Promise<WriteOutcome>((resolve) => (releaseFirst = resolve)) : DELIVERED;
      spool.push("events", ["r1"]);
      spool.push("events", ["r2a", "r2b"]);
      spool.push("events", ["r3"]);
      const writer = start({ batchSize: 2 });
      await eventually(() => client.requests.length === 2);
      // The second batch (r2b, r3) is acknowledged first: r2 and r3 wait for r1's batch.
      await sleep(50);
      expect(spool.acks).toEqual([]);
      expect(writer.pendingInMemory()).toBe(4);
      releaseFirst(DELIVERED);
      await eventually(() => spool.acks.length === 3);
      expect(spool.acks.map((ack) => [ack.end.offset, ack.events])).toEqual([
        [1, 1],
        [2, 2],
        [3, 1],
      ]);
      expect(writer.pendingInMemory()).toBe(0);
    });

    it("acknowledges every one of thousands of records exactly once and in log order", async () => {
      for (let i = 0; i < 1500; i++) spool.push("events", [`l${i}`]);
      start({ batchSize: 100 });
      await eventually(() => spool.acks.length === 1500);
      for (let i = 1500; i < 1600; i++) spool.push("events", [`l${i}`]);
      await eventually(() => spool.acks.length >= 1600);
      await sleep(50);
      expect(ackedOffsets()).toEqual(Array.from({ length: 1600 }, (_, i) => i + 1));
      expect(client.sentLines().flat()).toHaveLength(1600);
    });

    it("reads no more than sixteen batches ahead of the cursor, and reads on as acknowledgements make room", async () => {
      let hold = true;
      const held: (() => void)[] = [];
      client.answer = () =>
        hold ? new Promise<WriteOutcome>((resolve) => held.push(() => resolve(DELIVERED))) : DELIVERED;
      spool.perRead = 1;
      for (let i = 0; i < 100; i++) spool.push("events", [`l${i}`]);
      const writer = start({ batchSize: 2 });
      await eventually(() => writer.pendingInMemory() === 32);
      await sleep(100);
      expect(writer.pendingInMemory()).toBe(32);
      expect(spool.unread()).toBe(68);
      hold = false;
      for (const release of held.splice(0)) release();
      await eventually(() => spool.acks.length === 100);
      expect(spool.unread()).toBe(0);
      expect(new Set(client.sentLines().flat()).size).toBe(100);
    });
  });

  describe("refused requests", () => {
    it("splits a batch answered 413 into halves sent in order, and dead-letters a single line still too large", async () => {
      client.answer = (lines) =>
        lines.length > 2 || lines.includes("L3") ? { kind: "too_large", message: "request too large" } : DELIVERED;
      spool.push("events", names("L", 5));
      start({ batchSize: 5 });
      await eventually(() => spool.acks.length === 1);
      expect(client.sentLines()).toEqual([
        ["L0", "L1", "L2", "L3", "L4"],
        ["L0", "L1", "L2"],
        ["L0", "L1"],
        ["L2"],
        ["L3", "L4"],
        ["L3"],
        ["L4"],
      ]);
      expect(spool.acks).toEqual([{ end: { segment: 1, offset: 1 }, events: 5 }]);
      const dead = deadLetters();
      expect(dead).toEqual([
        { time: expect.any(String), bucket: "events", status: 413, reason: "request too large", line: "L3" },
      ]);
      expect(Math.abs(Date.parse(dead[0]!.time as string) - Date.now())).toBeLessThan(10_000);
      expect(await metric("pointsWritten", { bucket: "events" })).toBe(4);
      expect(await metric("batchesWritten", { bucket: "events" })).toBe(3);
      expect(await metric("batchesFailed", { bucket: "events", reason: "too_large" })).toBe(4);
      expect(await metric("batchesRetried")).toBe(0);
      expect(await metric("deadLetterLines", { bucket: "events" })).toBe(1);
    });

    it("dead-letters the lines a 400 names and sends the rest together in one request", async () => {
      client.answer = (lines) =>
        lines.includes("L1")
          ? { kind: "rejected", status: 400, message: "unable to parse 'L1': bad; unable to parse 'L3': bad" }
          : DELIVERED;
      spool.push("events", names("L", 5));
      start({ batchSize: 5 });
      await eventually(() => spool.acks.length === 1);
      expect(client.sentLines()).toEqual([
        ["L0", "L1", "L2", "L3", "L4"],
        ["L0", "L2", "L4"],
      ]);
      expect(deadLetters().map(({ line, status, bucket }) => ({ line, status, bucket }))).toEqual([
        { line: "L1", status: 400, bucket: "events" },
        { line: "L3", status: 400, bucket: "events" },
      ]);
      expect(await metric("deadLetterLines", { bucket: "events" })).toBe(2);
      expect(await metric("batchesFailed", { bucket: "events", reason: "rejected_400" })).toBe(1);
      const entry = logged().find((record) => record.msg.includes("rejected lines for good"));
      expect(entry).toMatchObject({
        level: 50,
        bucket: "events",
        lines: 2,
        status: 400,
        deadLetterFile: join(dir.dir, "dead-letter.ndjson"),
      });
    });

    it("splits a record whose last line lacks its newline into whole lines", async () => {
      client.answer = (lines) => (lines.length > 1 ? { kind: "too_large", message: "too large" } : DELIVERED);
      spool.pushRaw("events", Buffer.from("a\nb"), 2);
      start({ batchSize: 2 });
      await eventually(() => spool.acks.length === 1);
      expect(client.sentLines()).toEqual([["a", "b", "<no newline>"], ["a"], ["b"]]);
    });

    it("with every line of a request refused, sends nothing more for it and moves the cursor on", async () => {
      client.answer = () => ({ kind: "rejected", status: 400, message: "line 1: bad, line 2: bad" });
      spool.push("events", ["x", "y"]);
      start({ batchSize: 2 });
      await eventually(() => spool.acks.length === 1);
      await sleep(50);
      expect(client.requests).toHaveLength(1);
      expect(deadLetters().map((record) => record.line)).toEqual(["x", "y"]);
    });

    it("keeps refused lines in the error log when the dead-letter file cannot take them, and moves on", async () => {
      mkdirSync(join(dir.dir, "dead-letter.ndjson"));
      client.answer = (lines) => (lines.length === 1 ? { kind: "too_large", message: "too large" } : DELIVERED);
      spool.push("events", ["only"]);
      start();
      await eventually(() => spool.acks.length === 1);
      const entry = logged().find((record) => record.msg.includes("could not write the dead-letter file"));
      expect(entry).toMatchObject({ level: 50, bucket: "events", status: 413, reason: "too large" });
      expect(JSON.parse(entry!.records as string)).toMatchObject({ line: "only", status: 413 });
      expect(await metric("deadLetterLines", { bucket: "events" })).toBe(1);
    });
  });

  describe("failed writes", () => {
    it("sends the same lines again after each failure, counts it, and logs the first as an error, later ones as warnings", async () => {
      client.answer = (_lines, index) => (index < 3 ? SERVER_ERROR : DELIVERED);
      spool.push("events", ["a", "b"]);
      const writer = start();
      await eventually(() => spool.acks.length === 1);
      expect(client.sentLines()).toEqual([
        ["a", "b"],
        ["a", "b"],
        ["a", "b"],
        ["a", "b"],
      ]);
      expect(await metric("batchesFailed", { bucket: "events", reason: "server_error" })).toBe(3);
      expect(await metric("batchesRetried", { bucket: "events", reason: "server_error" })).toBe(3);
      expect(await metric("batchesWritten", { bucket: "events" })).toBe(1);
      expect(await metric("pointsWritten", { bucket: "events" })).toBe(2);
      expect((await metrics.batchSuccessRate.get()).values[0]!.value).toBe(0.25);
      expect((await metrics.writeLatency.get()).values.find((value) => value.metricName?.endsWith("_count"))).toEqual(
        expect.objectContaining({ labels: { bucket: "events" }, value: 4 }),
      );
      const failures = logged().filter((record) => record.msg.startsWith("write to InfluxDB failed"));
      expect(failures.map((record) => record.level)).toEqual([50, 40, 40]);
      expect(failures[0]).toMatchObject({
        bucket: "events",
        lines: 2,
        outcome: "retry",
        reason: "server_error",
        error: "boom",
        retryInMs: expect.any(Number),
      });
      const recoveries = logged().filter((record) => record.msg === "InfluxDB accepts writes again");
      expect(recoveries).toEqual([expect.objectContaining({ level: 30, bucket: "events" })]);
      expect(writer.health).toMatchObject({ consecutiveFailures: 0, unauthorized: false, lastError: "retry: boom" });
    });

    it("says nothing about recovery when no write had failed", async () => {
      spool.push("events", ["a"]);
      start();
      await eventually(() => spool.acks.length === 1);
      expect(logged().some((record) => record.msg === "InfluxDB accepts writes again")).toBe(false);
    });

    it("logs every refusal of the token as an error and recovers once it works", async () => {
      client.answer = (_lines, index) =>
        index < 3 ? { kind: "unauthorized", status: 401, message: "unauthorized access" } : DELIVERED;
      spool.push("events", ["a"]);
      start();
      await eventually(() => spool.acks.length === 1);
      const failures = logged().filter((record) => record.msg.startsWith("write to InfluxDB failed"));
      expect(failures.map((record) => record.level)).toEqual([50, 50, 50]);
      expect(await metric("batchesRetried", { reason: "http_401" })).toBe(3);
      expect(logged().filter((record) => record.msg === "InfluxDB accepts writes again")).toHaveLength(1);
    });

    it("holds every sender back for the backoff after a failure", async () => {
      // Two buckets, two senders: the second bucket's batch waits out the backoff the first one's failure set.
      client.answer = (_lines, index) =>
        index === 0 ? { kind: "retry", reason: "rate_limited", message: "slow down", retryAfterMs: 400 } : DELIVERED;
      spool.push("a", ["a0"]);
      start({ batchTimeoutMs: 10 });
      await eventually(() => client.requests.length === 1);
      spool.push("b", ["b0"]);
      await eventually(() => client.requests.length === 3);
      const [failed, ...later] = client.requests;
      for (const request of later) expect(request.at - failed!.at).toBeGreaterThanOrEqual(380);
    });

    it("a failure with a short backoff does not shorten a longer backoff already running", async () => {
      // Both batches are in flight at once: a0 is answered at once with a long Retry-After, b0 a moment
      // later with an error whose own backoff is a few milliseconds.
      client.answer = async (_lines, index) => {
        if (index > 1) return DELIVERED;
        if (index === 0) return { kind: "retry", reason: "rate_limited", message: "slow down", retryAfterMs: 600 };
        await sleep(50);
        return SERVER_ERROR;
      };
      spool.push("a", ["a0"]);
      spool.push("b", ["b0"]);
      start({ batchSize: 1 });
      await eventually(() => client.requests.length === 4);
      const first = client.requests[0]!.at;
      expect(client.requests[1]!.at - first).toBeLessThan(500);
      for (const retry of client.requests.slice(2)) expect(retry.at - first).toBeGreaterThanOrEqual(580);
    });

    it("does not let a health probe cut short a wait the server asked for with Retry-After", async () => {
      client.answer = (_lines, index) =>
        index === 0 ? { kind: "retry", reason: "rate_limited", message: "slow down", retryAfterMs: 1500 } : DELIVERED;
      spool.push("events", ["a"]);
      start();
      await eventually(() => spool.acks.length === 1, 15_000);
      // A probe would have gone out after one second and ended the wait there.
      expect(client.requests[1]!.at - client.requests[0]!.at).toBeGreaterThanOrEqual(1450);
      expect(client.probes).toEqual([]);
    });

    it("ends a long backoff as soon as a health probe is answered, and not while probes fail", async () => {
      let probes = 0;
      client.answer = (_lines, index) => (index === 0 ? SERVER_ERROR : DELIVERED);
      client.probeAnswer = () => (++probes === 1 ? SERVER_ERROR : DELIVERED);
      spool.push("events", ["a"]);
      const writer = start({ retry: { baseMs: 60_000, maxMs: 60_000 } });
      await eventually(() => client.probes.length === 1, 5000);
      await eventually(() => writer.verdict().message.includes("does not answer its health probe"));
      expect(client.requests).toHaveLength(1);
      await eventually(() => spool.acks.length === 1, 5000);
      expect(client.probes.map((probe) => probe.bucket)).toEqual(["probe_bucket", "probe_bucket"]);
      const [first, second] = client.probes;
      expect(first!.at - client.requests[0]!.at).toBeGreaterThanOrEqual(900);
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(900);
      expect(client.requests[1]!.at - second!.at).toBeLessThan(500);
      const recovered = logged().find((record) => record.msg.includes("answers its health probe again"));
      // The backoff had most of its 30–60 s left.
      expect(recovered?.backoffLeftMs).toBeGreaterThan(20_000);
      expect(writer.verdict()).toEqual({ healthy: true, message: "InfluxDB accepts writes" });
    });
  });

  describe("flush and stop", () => {
    it("flush sends an open batch at once and resolves true once the spool holds nothing unacknowledged", async () => {
      spool.push("events", ["a", "b"]);
      const writer = start({ batchTimeoutMs: 60_000 });
      await eventually(() => writer.pendingInMemory() === 2);
      const started = Date.now();
      expect(await writer.flush(5000)).toBe(true);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(client.sentLines()).toEqual([["a", "b"]]);
      expect(spool.acks).toHaveLength(1);
    });

    it("flush sends lines that arrive while it runs at once", async () => {
      client.answer = async (_lines, index) => {
        if (index === 0) await sleep(100);
        return DELIVERED;
      };
      spool.push("events", ["a"]);
      const writer = start({ batchTimeoutMs: 60_000 });
      await eventually(() => writer.pendingInMemory() === 1);
      const flushed = writer.flush(5000);
      await eventually(() => client.requests.length === 1);
      spool.push("events", ["b"]);
      expect(await flushed).toBe(true);
      expect(client.sentLines().flat()).toEqual(["a", "b"]);
      expect(ackedOffsets()).toEqual([1, 2]);
    });

    it("flush resolves false at its deadline while writes keep failing", async () => {
      client.answer = () => SERVER_ERROR;
      spool.push("events", ["a"]);
      const writer = start();
      const started = Date.now();
      expect(await writer.flush(300)).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(spool.acks).toEqual([]);
    });

    it("flush resolves true at once when nothing is pending", async () => {
      const writer = start();
      const started = Date.now();
      expect(await writer.flush(5000)).toBe(true);
      expect(Date.now() - started).toBeLessThan(500);
    });

    it("during a flush, retries follow a minute-long backoff's failures every 250 ms", async () => {
      client.answer = (_lines, index) => (index < 2 ? SERVER_ERROR : DELIVERED);
      spool.push("events", ["a"]);
      const writer = start({ retry: { baseMs: 60_000, maxMs: 60_000 } });
      await eventually(() => client.requests.length === 1);
      expect(await writer.flush(5000)).toBe(true);
      const times = client.requests.map((request) => request.at);
      expect(times).toHaveLength(3);
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(230);
      expect(times[2]! - times[1]!).toBeLessThan(1000);
    });

    it("a flush after stop reports what is left instead of waiting", async () => {
      client.answer = () => SERVER_ERROR;
      spool.push("events", ["a"]);
      const writer = start();
      await eventually(() => client.requests.length >= 1);
      await writer.stop();
      const started = Date.now();
      expect(await writer.flush(5000)).toBe(false);
      expect(Date.now() - started).toBeLessThan(500);
    });

    it("stop cancels a write in flight and leaves its lines unacknowledged, whatever the cancelled request answers", async () => {
      client.answer = (_lines, _index, signal) => untilCancelled(signal, DELIVERED);
      spool.push("events", ["a"]);
      const writer = start();
      await eventually(() => client.requests.length === 1);
      await writer.stop();
      expect(spool.acks).toEqual([]);
      expect(await metric("batchesWritten")).toBe(0);
      spool.push("events", ["b"]);
      await sleep(100);
      expect(client.requests).toHaveLength(1);
      expect(writer.health.consecutiveFailures).toBe(0);
    });

    it("stop ends a flush that waits for acknowledgements", async () => {
      client.answer = (_lines, _index, signal) => untilCancelled(signal, SERVER_ERROR);
      spool.push("events", ["a"]);
      const writer = start();
      const flushed = writer.flush(5000);
      await eventually(() => client.requests.length === 1);
      const started = Date.now();
      await writer.stop();
      expect(await flushed).toBe(false);
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it("logs a delivery loop that fails as fatal", async () => {
      client.answer = () => {
        throw new Error("client broke");
      };
      spool.push("events", ["a"]);
      start();
      const entry = await eventually(() => logged().find((record) => record.msg === "delivery loop failed") ?? false);
      expect(entry).toMatchObject({ level: 60, err: { message: "client broke" } });
    });

    it("stop ends a backoff in progress without another attempt", async () => {
      client.answer = () => SERVER_ERROR;
      spool.push("events", ["a"]);
      const writer = start({ retry: { baseMs: 60_000, maxMs: 60_000 } });
      await eventually(() => client.requests.length === 1);
      const started = Date.now();
      await writer.stop();
      expect(Date.now() - started).toBeLessThan(1000);
      expect(client.requests).toHaveLength(1);
      expect(client.probes).toEqual([]);
    });
  });

  describe("health", () => {
    it("with nothing to write, probes InfluxDB every half health timeout and reports a failing probe", async () => {
      client.probeAnswer = () => SERVER_ERROR;
      const started = Date.now();
      const writer = start({ healthTimeoutMs: 3000 });
      await sleep(1200);
      expect(client.probes).toEqual([]);
      await eventually(() => client.probes.length === 1, 5000);
      expect(client.probes[0]!.at - started).toBeGreaterThanOrEqual(1400);
      expect(client.probes[0]!.bucket).toBe("probe_bucket");
      expect(writer.verdict()).toEqual({
        healthy: false,
        message: "InfluxDB does not answer its health probe (retry: boom)",
      });
    });

    it("sends no second quiet probe while the first has no answer", async () => {
      client.probeAnswer = () => new Promise<WriteOutcome>(() => {});
      start({ healthTimeoutMs: 1000 });
      await eventually(() => client.probes.length === 1, 5000);
      await sleep(1300);
      expect(client.probes).toHaveLength(1);
    });

    it("does not probe while writes succeed", async () => {
      start({ healthTimeoutMs: 1000, batchTimeoutMs: 5 });
      const until = Date.now() + 1300;
      let i = 0;
      while (Date.now() < until) {
        spool.push("events", [`l${i++}`]);
        await sleep(100);
      }
      expect(client.probes).toEqual([]);
    });

    it("reports a spool that does not keep what it is given before anything about InfluxDB", async () => {
      spool.spoolHealth = { healthy: false, message: "an fsync of the spool failed", faults: [] };
      const writer = start();
      expect(writer.verdict()).toMatchObject({ healthy: false, message: "an fsync of the spool failed" });
    });

    it("reports a failed spool read and reads again a second later", async () => {
      spool.failingReads = 1;
      spool.push("events", ["a"]);
      const writer = start();
      await eventually(() => writer.health.lastError !== undefined);
      expect(writer.health.lastError).toBe("reading the spool failed: disk on fire");
      expect(writer.health.lastErrorAt).toBeInstanceOf(Date);
      expect(logged().find((record) => record.msg.startsWith("reading the spool failed"))).toMatchObject({ level: 50 });
      await sleep(500);
      expect(spool.reads).toHaveLength(1);
      await eventually(() => spool.acks.length === 1, 5000);
    });
  });
});

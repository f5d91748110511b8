/**
 * Batching and delivery: reads records from the spool, cuts them into batches per bucket (by size,
 * default 1000 lines, and by time, default 5 s), sends each batch until InfluxDB answers 204, and
 * moves the spool's cursor over records whose every line was acknowledged (or dead-lettered).
 *
 * Retry policy, per answer:
 * - 429, 503 and other 5xx, network errors, timeouts: retry with exponential backoff and full jitter,
 *   or after `Retry-After` when the server sends one; all senders wait out the same backoff;
 * - 413: split the batch in halves and send each (a single line too large goes to the dead letters);
 * - 400/422: lines the server names are moved to the dead-letter file with its reason and the rest is
 *   sent again; when it names none, the batch is bisected until the offending lines stand alone;
 * - 401/403/404: keep the batch, mark InfluxDB unhealthy and keep retrying at the longest backoff.
 * Nothing is ever dropped by a retry; only the spool's byte bound can drop, and it says so.
 */
import { appendFile } from "node:fs/promises";
import type { Logger } from "./logger";
import type { InfluxClient, WriteOutcome } from "./influxClient";
import type { WriterMetrics } from "./metrics";
import type { Spool, SpoolEntry, SpoolPosition } from "./spool";

/** Timing of retries. */
export interface RetryPolicy {
  /** First backoff, milliseconds. */
  baseMs: number;
  /** Longest backoff, milliseconds (also the pace of retries while unauthorised). */
  maxMs: number;
}

/** Production retry timing: 1 s doubling to 60 s. */
export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1000, maxMs: 60_000 };

/** Retry-After values above this are capped, so a misconfigured proxy cannot park the writer for days. */
const MAX_RETRY_AFTER_MS = 15 * 60_000;

/**
 * Delay before retry number `attempt` (1-based): `Retry-After` when given (plus up to 10 % jitter so
 * many writers do not return at once), else full jitter over `base · 2^(attempt-1)` capped at `max`,
 * never below half of it so a retry storm cannot form.
 */
export function retryDelayMs(attempt: number, policy: RetryPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, MAX_RETRY_AFTER_MS) * (1 + 0.1 * random());
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + (ceiling / 2) * random();
}

/**
 * Indexes (0-based) of the lines an InfluxDB error message names: `line 3` style references (1-based,
 * as the server counts) and the text quoted in `unable to parse '<line>'`.
 */
export function offendingLines(message: string, lines: readonly string[]): Set<number> {
  const found = new Set<number>();
  for (const match of message.matchAll(/\bline (\d+)\b/gi)) {
    const index = Number(match[1]) - 1;
    if (index >= 0 && index < lines.length) found.add(index);
  }
  for (const match of message.matchAll(/unable to parse '((?:[^']|'(?!: ))*)'/g)) {
    const quoted = match[1]!;
    lines.forEach((line, index) => {
      if (line === quoted) found.add(index);
    });
  }
  return found;
}

/** Health of delivery, as `status()` reports it. */
export interface DeliveryHealth {
  /** The last write was refused for authorisation (or a missing org/bucket). */
  unauthorized: boolean;
  /** Failed write attempts since the last success. */
  consecutiveFailures: number;
  /** The last error, for the status page. */
  lastError?: string;
  /** When the last error happened. */
  lastErrorAt?: Date;
  /** When InfluxDB last answered 204. */
  lastSuccessAt?: Date;
}

interface Tracker {
  end: SpoolPosition;
  events: number;
  remaining: number;
}

interface Batch {
  bucket: string;
  chunks: Buffer[];
  lines: number;
  parts: { tracker: Tracker; lines: number }[];
  timer?: NodeJS.Timeout;
}

/** Options of the deliverer. */
export interface DelivererOptions {
  /** Where the lines come from and whose cursor acknowledgements move. */
  spool: Spool;
  /** Sends one request and classifies the answer. */
  client: InfluxClient;
  /** Lines per batch. */
  batchSize: number;
  /** Longest time a line waits in an unfilled batch, milliseconds. */
  batchTimeoutMs: number;
  /** Backoff timing. */
  retry: RetryPolicy;
  /** Path of the dead-letter file (NDJSON). */
  deadLetterPath: string;
  /** Logger for failures, recoveries and dead letters. */
  logger: Logger;
  /** Batch and latency metrics to update. */
  metrics: WriterMetrics;
}

const SENDERS = 4;
/**
 * How many batches reading may run ahead of the spool's cursor: what a crash can resend at most.
 * Four senders plus two spare batches left senders idle behind one slow answer (about 12 % less
 * throughput in the benchmark); sixteen keeps them busy and the resend window still small.
 */
const READ_AHEAD_BATCHES = 16;

/** Moves spooled lines into InfluxDB. */
export class Deliverer {
  readonly health: DeliveryHealth = { unauthorized: false, consecutiveFailures: 0 };
  private readonly open = new Map<string, Batch>();
  private readonly ready: Batch[] = [];
  private trackers: Tracker[] = [];
  private trackerHead = 0;
  /** Lines read from the spool that the cursor has not passed yet. */
  private linesInMemory = 0;
  private readonly maxLinesInMemory: number;
  private notBefore = 0;
  private running = false;
  private urgent = false;
  private readonly stopController = new AbortController();
  private readyWaiters: (() => void)[] = [];
  private roomWaiters: (() => void)[] = [];
  private loops: Promise<void>[] = [];

  constructor(private readonly options: DelivererOptions) {
    this.maxLinesInMemory = options.batchSize * READ_AHEAD_BATCHES;
  }

  /** Starts the reader and the senders. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = [this.readLoop(), ...Array.from({ length: SENDERS }, () => this.sendLoop())];
    for (const loop of this.loops) {
      loop.catch((error: unknown) => this.options.logger.fatal({ err: error }, "delivery loop failed"));
    }
  }

  /** Lines read from the spool and not yet acknowledged. */
  pendingInMemory(): number {
    return this.linesInMemory;
  }

  /**
   * Sends every open batch now and keeps doing so for new lines until the spool holds nothing
   * unacknowledged or `timeoutMs` passes. Resolves true when drained.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    this.urgent = true;
    try {
      for (;;) {
        for (const batch of [...this.open.values()]) this.markReady(batch);
        if (this.options.spool.stats().events === 0 && this.linesInMemory === 0) return true;
        if (Date.now() >= deadline || !this.running) return false;
        await sleep(Math.min(10, Math.max(1, deadline - Date.now())));
      }
    } finally {
      this.urgent = false;
    }
  }

  /** Stops reading and sending; batches not yet acknowledged stay in the spool for the next start. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopController.abort();
    for (const batch of this.open.values()) clearTimeout(batch.timer);
    for (const wake of [...this.readyWaiters.splice(0), ...this.roomWaiters.splice(0)]) wake();
    await Promise.allSettled(this.loops);
  }

  // -------------------------------------------------------------------------------------------------

  private async readLoop(): Promise<void> {
    const { spool, batchSize } = this.options;
    const signal = this.stopController.signal;
    while (this.running) {
      while (this.linesInMemory >= this.maxLinesInMemory && this.running) {
        await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      }
      try {
        // Roughly one batch worth of bytes per read keeps the read-ahead (and memory) small.
        const entries = await spool.read(Math.max(64 * 1024, batchSize * 200), signal);
        for (const entry of entries) this.addEntry(entry);
      } catch (error) {
        // A disk error must not end delivery for good: say so, and try again in a moment.
        this.health.lastError = `reading the spool failed: ${(error as Error).message}`;
        this.health.lastErrorAt = new Date();
        this.options.logger.error({ err: error }, "reading the spool failed; retrying in 1 s");
        await sleep(1000, signal);
      }
    }
  }

  private addEntry(entry: SpoolEntry): void {
    const tracker: Tracker = { end: entry.end, events: entry.count, remaining: entry.count };
    this.trackers.push(tracker);
    this.linesInMemory += entry.count;
    let data = entry.data;
    let left = entry.count;
    while (left > 0) {
      const batch = this.openBatch(entry.bucket);
      const room = this.options.batchSize - batch.lines;
      const take = Math.min(room, left);
      const cut = take === left ? data.length : afterNthNewline(data, take);
      batch.chunks.push(data.subarray(0, cut));
      batch.lines += take;
      batch.parts.push({ tracker, lines: take });
      data = data.subarray(cut);
      left -= take;
      if (batch.lines >= this.options.batchSize || this.urgent) this.markReady(batch);
    }
  }

  private openBatch(bucket: string): Batch {
    let batch = this.open.get(bucket);
    if (batch === undefined) {
      const created: Batch = { bucket, chunks: [], lines: 0, parts: [] };
      created.timer = setTimeout(() => this.markReady(created), this.options.batchTimeoutMs);
      this.open.set(bucket, created);
      batch = created;
    }
    return batch;
  }

  private markReady(batch: Batch): void {
    if (this.open.get(batch.bucket) !== batch) return;
    this.open.delete(batch.bucket);
    clearTimeout(batch.timer);
    this.ready.push(batch);
    this.readyWaiters.shift()?.();
  }

  private async sendLoop(): Promise<void> {
    while (this.running) {
      const batch = this.ready.shift();
      if (batch === undefined) {
        await new Promise<void>((resolve) => this.readyWaiters.push(resolve));
        continue;
      }
      const body = batch.chunks.length === 1 ? batch.chunks[0]! : Buffer.concat(batch.chunks);
      if (!(await this.deliver(batch.bucket, body, batch.lines))) return;
      this.complete(batch);
    }
  }

  /** Sends `body` until every line is acknowledged or dead-lettered; false when stopped first. */
  private async deliver(bucket: string, body: Buffer, lines: number): Promise<boolean> {
    const { client, metrics, retry, logger } = this.options;
    let current = body;
    let count = lines;
    for (;;) {
      if (!(await this.waitForGate())) return false;
      const stopTimer = metrics.writeLatency.startTimer({ bucket });
      const outcome = await client.write(bucket, current, this.stopController.signal);
      stopTimer();
      // Stopping cut the request short: the batch stays in the spool for the next start.
      if (!this.running) return false;
      metrics.recordBatchOutcome(outcome.kind === "delivered");
      if (outcome.kind === "delivered") {
        metrics.batchesWritten.inc({ bucket });
        metrics.pointsWritten.inc({ bucket }, count);
        if (this.health.unauthorized || this.health.consecutiveFailures > 0) {
          logger.info({ bucket, failures: this.health.consecutiveFailures }, "InfluxDB accepts writes again");
        }
        this.health.unauthorized = false;
        this.health.consecutiveFailures = 0;
        this.health.lastSuccessAt = new Date();
        return true;
      }
      metrics.batchesFailed.inc({ bucket, reason: failureReason(outcome) });
      this.noteFailure(outcome);

      if (outcome.kind === "retry" || outcome.kind === "unauthorized") {
        this.health.consecutiveFailures++;
        const attempt = outcome.kind === "unauthorized" ? Number.POSITIVE_INFINITY : this.health.consecutiveFailures;
        const delay = retryDelayMs(Math.min(attempt, 64), retry, outcome.kind === "retry" ? outcome.retryAfterMs : undefined);
        this.notBefore = Math.max(this.notBefore, Date.now() + delay);
        metrics.batchesRetried.inc({ bucket, reason: failureReason(outcome) });
        const log = this.health.consecutiveFailures === 1 || outcome.kind === "unauthorized" ? logger.error.bind(logger) : logger.warn.bind(logger);
        log({ bucket, lines: count, outcome: outcome.kind, reason: failureReason(outcome), retryInMs: Math.round(delay), error: outcome.message }, "write to InfluxDB failed; the batch stays spooled and will be retried");
        continue;
      }

      const split = splitLines(current);
      if (outcome.kind === "too_large") {
        if (split.length === 1) {
          await this.deadLetter(bucket, split, 413, outcome.message);
          return true;
        }
        const half = Math.ceil(split.length / 2);
        return (
          (await this.deliver(bucket, joinLines(split.slice(0, half)), half)) &&
          (await this.deliver(bucket, joinLines(split.slice(half)), split.length - half))
        );
      }

      // 400/422: isolate what the server names, or bisect until the bad lines stand alone.
      const named = offendingLines(outcome.message, split.map((line) => line.toString("utf8", 0, line.length - 1)));
      if (named.size > 0) {
        await this.deadLetter(bucket, split.filter((_, index) => named.has(index)), outcome.status, outcome.message);
        const rest = split.filter((_, index) => !named.has(index));
        if (rest.length === 0) return true;
        current = joinLines(rest);
        count = rest.length;
        continue;
      }
      if (split.length === 1) {
        await this.deadLetter(bucket, split, outcome.status, outcome.message);
        return true;
      }
      const half = Math.ceil(split.length / 2);
      return (
        (await this.deliver(bucket, joinLines(split.slice(0, half)), half)) &&
        (await this.deliver(bucket, joinLines(split.slice(half)), split.length - half))
      );
    }
  }

  private noteFailure(outcome: Exclude<WriteOutcome, { kind: "delivered" }>): void {
    this.health.lastError = `${outcome.kind}: ${outcome.message}`;
    this.health.lastErrorAt = new Date();
    if (outcome.kind === "unauthorized") this.health.unauthorized = true;
  }

  /** Waits out the shared backoff; false when stopped meanwhile. */
  private async waitForGate(): Promise<boolean> {
    while (this.running) {
      const wait = this.notBefore - Date.now();
      if (wait <= 0) return true;
      await sleep(wait, this.stopController.signal);
    }
    return false;
  }

  private async deadLetter(bucket: string, lines: Buffer[], status: number, reason: string): Promise<void> {
    const time = new Date().toISOString();
    const records = lines
      .map((line) => JSON.stringify({ time, bucket, status, reason, line: line.toString("utf8", 0, line.length - 1) }))
      .join("\n");
    try {
      await appendFile(this.options.deadLetterPath, `${records}\n`);
    } catch (error) {
      // The file cannot take them (a full disk): the log is the last place these lines are kept.
      this.options.logger.error({ err: error, bucket, status, reason, records }, "could not write the dead-letter file; the refused lines follow in this log entry");
    }
    this.options.metrics.deadLetterLines.inc({ bucket }, lines.length);
    this.options.logger.error(
      { bucket, lines: lines.length, status, reason, deadLetterFile: this.options.deadLetterPath },
      "InfluxDB rejected lines for good; they are kept in the dead-letter file",
    );
  }

  /** Counts a batch's lines off their records and moves the spool cursor over finished records. */
  private complete(batch: Batch): void {
    for (const part of batch.parts) part.tracker.remaining -= part.lines;
    while (this.trackerHead < this.trackers.length && this.trackers[this.trackerHead]!.remaining === 0) {
      const done = this.trackers[this.trackerHead++]!;
      this.options.spool.ack(done.end, done.events);
      // Counted off only when the cursor passes them: reading never runs more than the window ahead
      // of the cursor, so a restart resends at most that window, even if one batch hangs long.
      this.linesInMemory -= done.events;
    }
    if (this.trackerHead > 1024 && this.trackerHead * 2 > this.trackers.length) {
      this.trackers = this.trackers.slice(this.trackerHead);
      this.trackerHead = 0;
    }
    for (const wake of this.roomWaiters.splice(0)) wake();
  }
}

function failureReason(outcome: Exclude<WriteOutcome, { kind: "delivered" }>): string {
  switch (outcome.kind) {
    case "retry":
      return outcome.reason;
    case "unauthorized":
      return `http_${outcome.status}`;
    case "too_large":
      return "too_large";
    case "rejected":
      return `rejected_${outcome.status}`;
  }
}

/** Byte offset just after the `n`-th newline of `data`. */
function afterNthNewline(data: Buffer, n: number): number {
  let at = -1;
  for (let i = 0; i < n; i++) at = data.indexOf(10, at + 1);
  return at + 1;
}

/** Lines of a body, each keeping its `\n`. */
function splitLines(body: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let end = body.indexOf(10); end !== -1; end = body.indexOf(10, start)) {
    lines.push(body.subarray(start, end + 1));
    start = end + 1;
  }
  if (start < body.length) lines.push(Buffer.concat([body.subarray(start), Buffer.from("\n")]));
  return lines;
}

function joinLines(lines: Buffer[]): Buffer {
  return Buffer.concat(lines);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

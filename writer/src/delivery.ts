/**
 * Batching and delivery: reads records from the spool, cuts them into batches per bucket (by size,
 * default 1000 lines, and by time, default 5 s), sends each batch until InfluxDB answers 204, and
 * moves the spool's cursor over records whose every line was acknowledged (or dead-lettered).
 *
 * What to do after each answer is decided by `decide` (`delivery/decide.ts`); this module carries it
 * out. All senders wait out one shared backoff; while they wait, a health probe every second ends the
 * wait as soon as InfluxDB answers again, and a flush (a stop) cuts the wait short too, so recovery
 * after an outage takes at most about `PROBE_INTERVAL_MS` plus one probe, not the backoff's 60 s.
 * Nothing is ever dropped by a retry. (Longer than most modules: batching, the read-ahead window and
 * the executor share the trackers that move the spool's cursor.)
 */
import { appendFile } from "node:fs/promises";
import { DEFAULT_RETRY, type RetryPolicy, retryDelayMs, sleep } from "./backoff";
import { decide, failureReason, offendingLines } from "./delivery/decide";
import { type DeliveryHealth, HealthTracker, type HealthVerdict } from "./delivery/health";
import type { InfluxClient } from "./influxClient";
import type { Logger } from "./logger";
import type { WriterMetrics } from "./metrics";
import type { Spool, SpoolEntry, SpoolPosition } from "./spool";

// Sources import the backoff from here; it lives in its own module now.
export { DEFAULT_RETRY, type DeliveryHealth, type HealthVerdict, offendingLines, type RetryPolicy, retryDelayMs };

/** How often a health probe asks InfluxDB whether it is back while senders wait out a backoff. */
export const PROBE_INTERVAL_MS = 1000;
/** While flushing for a stop, attempts follow each other at this pace at most, whatever the backoff. */
const FLUSH_RETRY_MS = 250;

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
  /** Sends one request and classifies the answer; probes InfluxDB. */
  client: Pick<InfluxClient, "write" | "probe">;
  /** Bucket the health probe writes nothing to. */
  probeBucket: string;
  /** Lines per batch. */
  batchSize: number;
  /** Longest time a line waits in an unfilled batch, milliseconds. */
  batchTimeoutMs: number;
  /** A write unanswered this long reports InfluxDB unhealthy, milliseconds. */
  healthTimeoutMs: number;
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
  private readonly tracker: HealthTracker;
  private readonly open = new Map<string, Batch>();
  private readonly ready: Batch[] = [];
  private trackers: Tracker[] = [];
  private trackerHead = 0;
  /** Lines read from the spool that the cursor has not passed yet. */
  private linesInMemory = 0;
  private readonly maxLinesInMemory: number;
  /** No attempt before this time (the shared backoff). */
  private notBefore = 0;
  /** Whether a probe may end the current backoff early (not when the server sent Retry-After). */
  private probeMayCut = false;
  private lastAttemptAt = 0;
  private prober: Promise<void> | undefined;
  private running = false;
  private flushing = 0;
  private readonly stopController = new AbortController();
  private readyWaiters: (() => void)[] = [];
  private roomWaiters: (() => void)[] = [];
  private gateWaiters: (() => void)[] = [];
  private progressWaiters: (() => void)[] = [];
  private loops: Promise<void>[] = [];
  private watchTimer: NodeJS.Timeout | undefined;
  private watching = false;

  constructor(private readonly options: DelivererOptions) {
    this.maxLinesInMemory = options.batchSize * READ_AHEAD_BATCHES;
    this.tracker = new HealthTracker(options.healthTimeoutMs);
  }

  /** Delivery's figures and last error. */
  get health(): DeliveryHealth {
    return this.tracker.state;
  }

  /** Whether InfluxDB takes writes, and whether the spool keeps what it is given. */
  verdict(): HealthVerdict {
    const spool = this.options.spool.health();
    if (!spool.healthy) return spool;
    return this.tracker.verdict();
  }

  /** Starts the reader and the senders. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = [this.readLoop(), ...Array.from({ length: SENDERS }, () => this.sendLoop())];
    for (const loop of this.loops) {
      loop.catch((error: unknown) => this.options.logger.fatal({ err: error }, "delivery loop failed"));
    }
    // With nothing to write, a frozen InfluxDB shows nowhere: probe it while writes are quiet.
    const every = Math.max(1000, this.options.healthTimeoutMs / 2);
    this.watchTimer = setInterval(() => void this.watch(every), every);
    this.watchTimer.unref();
  }

  /** Lines read from the spool and not yet acknowledged (the spool counts them as pending too). */
  pendingInMemory(): number {
    return this.linesInMemory;
  }

  /**
   * Sends every open batch now and keeps doing so for new lines until the spool holds nothing
   * unacknowledged or `timeoutMs` passes; a backoff in progress is cut short. Resolves true when drained.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    this.flushing++;
    this.wakeGate();
    try {
      for (;;) {
        for (const batch of [...this.open.values()]) this.markReady(batch);
        if (this.options.spool.stats().events === 0 && this.linesInMemory === 0) return true;
        if (Date.now() >= deadline || !this.running) return false;
        await this.progress(deadline - Date.now());
      }
    } finally {
      this.flushing--;
    }
  }

  /** Stops reading and sending; batches not yet acknowledged stay in the spool for the next start. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.watchTimer);
    this.stopController.abort();
    for (const batch of this.open.values()) clearTimeout(batch.timer);
    for (const wake of [...this.readyWaiters.splice(0), ...this.roomWaiters.splice(0)]) wake();
    this.wakeGate();
    this.wakeProgress();
    await Promise.allSettled([...this.loops, this.prober]);
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
        // Records found damaged and skipped change what is pending: a flush waiting on it looks again.
        this.wakeProgress();
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
      if (batch.lines >= this.options.batchSize || this.flushing > 0) this.markReady(batch);
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

  /**
   * Carries out `decide` until every line is acknowledged or dead-lettered; false when stopped first.
   * Parts of a split batch wait on a stack, first part on top, so lines go out in their order.
   */
  private async deliver(bucket: string, body: Buffer, lines: number): Promise<boolean> {
    const { client, metrics, retry, logger } = this.options;
    const work: { body: Buffer; count: number; lines?: Buffer[] }[] = [{ body, count: lines }];
    while (work.length > 0) {
      const item = work[work.length - 1]!;
      if (!(await this.waitForGate())) return false;
      const stopTimer = metrics.writeLatency.startTimer({ bucket });
      this.lastAttemptAt = Date.now();
      const id = this.tracker.writeStarted();
      const outcome = await client.write(bucket, item.body, this.stopController.signal);
      stopTimer();
      // Stopping cut the request short: the batch stays in the spool for the next start.
      if (!this.running) {
        this.tracker.writeEnded(id, undefined);
        return false;
      }
      const recovering = this.health.unauthorized || this.health.consecutiveFailures > 0;
      this.tracker.writeEnded(id, outcome);
      metrics.recordBatchOutcome(outcome.kind === "delivered");
      if (outcome.kind === "delivered") {
        metrics.batchesWritten.inc({ bucket });
        metrics.pointsWritten.inc({ bucket }, item.count);
        if (recovering) logger.info({ bucket }, "InfluxDB accepts writes again");
        work.pop();
        continue;
      }
      metrics.batchesFailed.inc({ bucket, reason: failureReason(outcome) });
      item.lines ??= splitLines(item.body);
      const itemLines = item.lines;
      const decision = decide(
        outcome,
        {
          lineCount: item.count,
          attempt: this.health.consecutiveFailures,
          lineTexts: () => itemLines.map((line) => line.toString("utf8", 0, line.length - 1)),
        },
        retry,
      );
      switch (decision.kind) {
        case "done":
          work.pop();
          break;
        case "retry": {
          this.delayAll(decision.delayMs, decision.probe);
          metrics.batchesRetried.inc({ bucket, reason: failureReason(outcome) });
          const log =
            this.health.consecutiveFailures === 1 || outcome.kind === "unauthorized"
              ? logger.error.bind(logger)
              : logger.warn.bind(logger);
          log(
            {
              bucket,
              lines: item.count,
              outcome: outcome.kind,
              reason: failureReason(outcome),
              retryInMs: Math.round(decision.delayMs),
              error: outcome.message,
            },
            "write to InfluxDB failed; the batch stays spooled and will be retried",
          );
          break;
        }
        case "split":
          work.pop();
          for (const [from, to] of [...decision.parts].reverse()) {
            const part = itemLines.slice(from, to);
            work.push({ body: Buffer.concat(part), count: part.length, lines: part });
          }
          break;
        case "dead-letter": {
          const status = outcome.kind === "rejected" ? outcome.status : 413;
          await this.deadLetter(
            bucket,
            decision.lines.map((index) => itemLines[index]!),
            status,
            outcome.message,
          );
          work.pop();
          if (decision.rest.length > 0) {
            const rest = decision.rest.map((index) => itemLines[index]!);
            work.push({ body: Buffer.concat(rest), count: rest.length, lines: rest });
          }
          break;
        }
      }
    }
    return true;
  }

  /** Holds every sender back for `delayMs`; with `probe`, a probe every second may end the wait early. */
  private delayAll(delayMs: number, probe: boolean): void {
    const until = Date.now() + delayMs;
    if (until > this.notBefore) {
      this.notBefore = until;
      this.probeMayCut = probe;
    }
    if (this.probeMayCut && this.prober === undefined) {
      this.prober = this.probeUntilBack().finally(() => (this.prober = undefined));
    }
  }

  private async probeUntilBack(): Promise<void> {
    const signal = this.stopController.signal;
    while (this.running && this.probeMayCut && this.notBefore - Date.now() > PROBE_INTERVAL_MS) {
      await sleep(PROBE_INTERVAL_MS, signal);
      if (!this.running || Date.now() >= this.notBefore) return;
      const outcome = await this.options.client.probe(this.options.probeBucket, signal);
      if (!this.running) return;
      this.tracker.probed(outcome);
      if (outcome.kind === "delivered" && this.running) {
        this.options.logger.info(
          { backoffLeftMs: Math.round(this.notBefore - Date.now()) },
          "InfluxDB answers its health probe again; ending the backoff",
        );
        this.notBefore = 0;
        this.wakeGate();
        return;
      }
    }
  }

  /** One probe when no write went out or succeeded for `quietMs` and no backoff prober runs. */
  private async watch(quietMs: number): Promise<void> {
    const lastSuccess = this.health.lastSuccessAt?.getTime() ?? 0;
    const quiet = Date.now() - Math.max(lastSuccess, this.lastAttemptAt) >= quietMs;
    if (!this.running || this.watching || this.prober !== undefined || !quiet) return;
    this.watching = true;
    try {
      const outcome = await this.options.client.probe(this.options.probeBucket, this.stopController.signal);
      if (this.running) this.tracker.probed(outcome);
    } finally {
      this.watching = false;
    }
  }

  /** Waits out the shared backoff (a flush paces it at `FLUSH_RETRY_MS` instead); false when stopped meanwhile. */
  private async waitForGate(): Promise<boolean> {
    while (this.running) {
      const until = this.flushing > 0 ? Math.min(this.notBefore, this.lastAttemptAt + FLUSH_RETRY_MS) : this.notBefore;
      const wait = until - Date.now();
      if (wait <= 0) return true;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          const index = this.gateWaiters.indexOf(done);
          if (index !== -1) this.gateWaiters.splice(index, 1);
          resolve();
        };
        const timer = setTimeout(done, wait);
        this.gateWaiters.push(done);
      });
    }
    return false;
  }

  private wakeGate(): void {
    for (const wake of this.gateWaiters.splice(0)) wake();
  }

  /** Resolves on the next acknowledgement or after `ms`. */
  private progress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.progressWaiters.push(done);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private wakeProgress(): void {
    for (const wake of this.progressWaiters.splice(0)) wake();
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
      this.options.logger.error(
        { err: error, bucket, status, reason, records },
        "could not write the dead-letter file; the refused lines follow in this log entry",
      );
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
    this.wakeProgress();
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

/**
 * The writer's core with its lifecycle: validate → filter → map → route → spool (durable) → batch →
 * deliver. Sources call `submit`; the HTTP server reads `status`, `weatherStatus` and `checkWritable`;
 * `startWriter` calls `start` and, on SIGTERM, `stop`.
 *
 * The work is done by its parts: `processor.ts` turns a batch into lines and a memory delta,
 * `entityMemory.ts` holds what is remembered per entity (and `entities.json`), `weatherContext.ts`
 * the weather readings, the spool keeps the lines, `delivery.ts` sends them, `pipelineHealth.ts` and
 * `selfStatistics.ts` report. This module wires them and keeps the order that makes a batch's memory
 * change only once its lines are durable.
 */
import { join } from "node:path";
import type { ComponentStatus } from "./componentStatus";
import type { WriterConfig } from "./config";
import { DEFAULT_RETRY, Deliverer, type RetryPolicy } from "./delivery";
import { EntityMemory, MemoryFile } from "./entityMemory";
import { InFlight } from "./inFlight";
import { InfluxClient } from "./influxClient";
import type { Logger } from "./logger";
import type { WriterMetrics } from "./metrics";
import { influxdbStatus, type WritableCheck, writableCheck } from "./pipelineHealth";
import { EventProcessor } from "./processor";
import { SelfStatistics } from "./selfStatistics";
import { INGEST_SOURCE, SinkFullError, type SubmitResult } from "./sources/sink";
import { Spool, type SpoolFs, SpoolFullError } from "./spool";
import { ZoneClock } from "./timezone";
import { WeatherContext } from "./weatherContext";

export type { ComponentStatus } from "./componentStatus";
export type { WritableCheck } from "./pipelineHealth";
// The contracts sources and the server depend on live in their own modules; re-exported for callers of the pipeline.
export type { SubmitResult } from "./sources/sink";

/** Outcome of `flush` / `stop`. */
export interface FlushResult {
  /** True when everything accepted so far was acknowledged by InfluxDB before the deadline. */
  drained: boolean;
  /** Events still waiting in the spool (kept on disk for the next start). */
  pendingEvents: number;
}

/** The writer's core with its lifecycle. */
export interface Pipeline {
  /** Opens (and recovers) the spool and starts delivering. */
  start(): Promise<void>;
  /**
   * Validates, filters, maps and routes the events and appends the accepted ones to the spool with a
   * single write; resolves when they are durable. Awaits (backpressure) while the spool's write queue
   * is full.
   */
  submit(rawEvents: readonly unknown[], source: string): Promise<SubmitResult[]>;
  /** Health of the InfluxDB delivery (unhealthy on 401/403 and while writes keep failing). */
  status(): ComponentStatus;
  /** Health of the weather context (fresh readings from the configured weather entity or events). */
  weatherStatus(): ComponentStatus;
  /** Asks InfluxDB whether it is reachable and the token may write, for `/readyz`. */
  checkWritable(): Promise<WritableCheck>;
  /** Sends what is batched now and waits, at most `timeoutMs` milliseconds, for acknowledgement. */
  flush(timeoutMs: number): Promise<FlushResult>;
  /** Stops accepting events, flushes within `timeoutMs` milliseconds, and closes the spool. */
  stop(timeoutMs: number): Promise<FlushResult>;
  /** Home Assistant's time zone, for `time_of_day`; ignored when the configuration names one. */
  useTimeZone?(timeZone: string): void;
}

/** Collaborators a pipeline needs. */
export interface PipelineDeps {
  /** Logger (already redacting secrets). */
  logger: Logger;
  /** Metric objects to update. */
  metrics: WriterMetrics;
  /** Retry timing; production defaults when absent (tests shorten it). */
  retry?: RetryPolicy;
  /** The spool's file access; the real file system when absent (tests inject faults). */
  spoolFs?: SpoolFs;
}

/** Creates the pipeline; nothing touches the disk or the network before `start()`. */
export function createPipeline(config: WriterConfig, deps: PipelineDeps): Pipeline {
  return new WriterPipeline(config, deps);
}

class WriterPipeline implements Pipeline {
  private readonly client: InfluxClient;
  private readonly weather: WeatherContext;
  private readonly processor: EventProcessor;
  private readonly memory: EntityMemory;
  private readonly memoryFile: MemoryFile;
  private readonly submits = new InFlight();
  private spool: Spool | undefined;
  private deliverer: Deliverer | undefined;
  private statistics: SelfStatistics | undefined;
  private state: "new" | "running" | "stopping" | "stopped" = "new";

  constructor(
    private readonly config: WriterConfig,
    private readonly deps: PipelineDeps,
  ) {
    this.weather = new WeatherContext(config.homeAssistant?.weatherEntity, deps.logger);
    this.processor = new EventProcessor(config, this.weather);
    this.memory = new EntityMemory(() => this.memoryFile.changed());
    this.memoryFile = new MemoryFile(config.spool.dir, deps.logger, () => {
      const latest = this.weather.latest();
      return { entities: this.memory.entries(), weather: latest ? [latest] : [] };
    });
    // Delivery's client, and the probe of `/readyz`: one keep-alive agent for both.
    this.client = new InfluxClient({
      url: config.influxdb.url,
      org: config.influxdb.org,
      token: config.influxdb.token,
      writeTimeoutMs: config.influxdb.writeTimeoutSeconds * 1000,
      readTimeoutMs: config.influxdb.readTimeoutSeconds * 1000,
    });
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`pipeline cannot start: it is ${this.state}`);
    const { metrics, logger } = this.deps;
    const saved = await this.memoryFile.load();
    for (const [entityId, state] of saved.entities) this.memory.restore(entityId, state);
    for (const { atUs, reading } of saved.weather) this.weather.restore(atUs, reading);
    this.spool = await Spool.open({
      dir: this.config.spool.dir,
      maxBytes: this.config.spool.maxBytes,
      logger,
      onDrop: (events) => metrics.spoolDroppedEvents.inc(events),
      onRefuse: (events, source) => metrics.spoolRefusedEvents.inc({ source }, events),
      onFault: (fault) => metrics.spoolFaults.inc({ kind: fault.kind }),
      ...(this.deps.spoolFs ? { fs: this.deps.spoolFs } : {}),
    });
    this.deliverer = new Deliverer({
      spool: this.spool,
      client: this.client,
      batchSize: this.config.influxdb.batchSize,
      batchTimeoutMs: this.config.influxdb.batchTimeoutSeconds * 1000,
      healthTimeoutMs: (this.config.influxdb.healthTimeoutSeconds ?? this.config.influxdb.writeTimeoutSeconds) * 1000,
      probeBucket: this.config.influxdb.buckets.events,
      retry: this.deps.retry ?? DEFAULT_RETRY,
      deadLetterPath: join(this.config.spool.dir, "dead-letter.ndjson"),
      logger,
      metrics,
    });
    this.deliverer.start();
    this.state = "running";
    this.statistics = new SelfStatistics({
      spool: this.spool,
      metrics,
      logger,
      bucket: this.config.influxdb.buckets.system,
      intervalMs: this.config.statsIntervalSeconds * 1000,
    });
    this.statistics.start();
  }

  async submit(rawEvents: readonly unknown[], source: string): Promise<SubmitResult[]> {
    if (this.state !== "running" || this.spool === undefined)
      throw new Error(`pipeline is not accepting events: it is ${this.state}`);
    this.submits.enter();
    try {
      await this.spool.waitForRoom();
      // Nothing awaits between processing and the append call: batches are computed in the order
      // they are appended, each against the memory the ones before it leave (held deltas included).
      const batch = this.processor.process(rawEvents, source, Date.now() * 1000, this.memory);
      const held = this.memory.hold(batch.delta);
      try {
        // A full spool refuses HTTP ingest (its client is answered 503 and resends) and makes the
        // other sources wait (backpressure), so nothing acknowledged is ever dropped for room.
        await this.spool.append(batch.records, {
          source,
          whenFull: source === INGEST_SOURCE ? "refuse" : "wait",
        });
      } catch (error) {
        // Nothing of this call is durable: what it taught about its entities is forgotten, or the
        // caller's retry of the same events would be taken for repeats and skipped.
        this.memory.settle(held, false);
        // Sources know the sink's refusal, not the spool's.
        throw error instanceof SpoolFullError
          ? new SinkFullError(error.message, error.retryAfterSeconds, { cause: error })
          : error;
      }
      this.memory.settle(held, true);
      // The weather readings are saved with the entities.
      if (batch.accepted > 0) this.memoryFile.changed();
      const { metrics } = this.deps;
      metrics.eventsReceived.inc({ source }, rawEvents.length);
      if (batch.accepted > 0) metrics.eventsAccepted.inc({ source }, batch.accepted);
      for (const [reason, count] of batch.rejected) metrics.eventsRejected.inc({ source, reason }, count);
      for (const [reason, count] of batch.filtered) metrics.eventsFiltered.inc({ source, reason }, count);
      return batch.results;
    } finally {
      this.submits.leave();
    }
  }

  useTimeZone(timeZone: string): void {
    if (this.config.timeZone !== undefined || timeZone === this.processor.clock.timeZone) return;
    try {
      this.processor.clock = new ZoneClock(timeZone);
      this.deps.logger.info({ timeZone }, "time_of_day follows Home Assistant's time zone");
    } catch {
      this.deps.logger.warn(
        { timeZone },
        "Home Assistant's time zone is unknown to this runtime; time_of_day stays in UTC",
      );
    }
  }

  status(): ComponentStatus {
    return influxdbStatus({ state: this.state, spool: this.spool, deliverer: this.deliverer });
  }

  weatherStatus(): ComponentStatus {
    return this.weather.status();
  }

  checkWritable(): Promise<WritableCheck> {
    return writableCheck(this.deliverer, this.client, this.config.influxdb.buckets.events);
  }

  async flush(timeoutMs: number): Promise<FlushResult> {
    const drained = this.deliverer ? await this.deliverer.flush(timeoutMs) : true;
    return { drained, pendingEvents: this.spool?.stats().events ?? 0 };
  }

  async stop(timeoutMs: number): Promise<FlushResult> {
    if (this.state !== "running") return { drained: true, pendingEvents: this.spool?.stats().events ?? 0 };
    const deadline = Date.now() + timeoutMs;
    this.state = "stopping";
    this.statistics?.stop();
    await untilDeadline(this.submits.drained(), deadline);
    const result = await this.flush(Math.max(0, deadline - Date.now()));
    await this.memoryFile.close();
    await this.deliverer?.stop();
    this.client.close();
    await this.spool?.close();
    this.state = "stopped";
    const level = result.drained ? "info" : "warn";
    this.deps.logger[level](
      { pendingEvents: result.pendingEvents },
      result.drained
        ? "pipeline stopped; everything delivered"
        : "pipeline stopped before everything was delivered; the rest stays in the spool",
    );
    return result;
  }
}

/** Resolves when `promise` does or at `deadline` (epoch milliseconds), whichever comes first. */
async function untilDeadline(promise: Promise<void>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadline - Date.now());
    });
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

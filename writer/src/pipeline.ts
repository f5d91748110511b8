/**
 * The writer's core: validate → filter → map → route → spool (durable) → batch → deliver.
 * Sources call `submit`; the HTTP server reads `status`, `weatherStatus` and `checkWritable`;
 * `startWriter` calls `start` and, on SIGTERM, `stop`.
 *
 * Timestamps are written at microsecond precision, Home Assistant's own (`last_updated` carries
 * microseconds), so real events never need to move. Two distinct events of one entity still never share
 * a timestamp: when an event's time falls on or before the last one written for the entity (same
 * instant, or events without a time received together), it is moved to one microsecond after it. An
 * event repeating the entity's last time and state (a snapshot after a reconnect) is the same event:
 * it is acknowledged without writing it twice. Events older than the entity's last one (a backfill)
 * keep their own time, except from the Home Assistant source: it sees each entity's changes in order
 * (live, or from the recorder's history after a reconnect), so a state of it that is not newer than
 * the entity's last one was written already, and writing it again with today's previous state would
 * corrupt the point.
 *
 * What the writer remembers per entity (last state, its start, the last time written) and the weather
 * readings are kept in `entities.json` beside the spool, saved a second after they change and on stop:
 * after a restart, `previous_state` and `duration_seconds` continue, and the snapshot's states that
 * were already written are recognised as repeats.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import type { ComponentStatus } from "./componentStatus";
import type { WriterConfig } from "./config";
import { DEFAULT_RETRY, Deliverer, type RetryPolicy } from "./delivery";
import { FILTER_REASONS, type HaEvent, parseEvent, type WeatherReading } from "./events";
import { EntityFilter } from "./filters";
import { InfluxClient } from "./influxClient";
import { escapeKey, escapeMeasurement, formatFloat, TimestampFormatter } from "./lineProtocol";
import type { Logger } from "./logger";
import { mapEvent, TagCache } from "./mapping";
import type { WriterMetrics } from "./metrics";
import { Router } from "./routing";
import { WRITER_STATS_MEASUREMENT } from "./schema";
import { HOME_ASSISTANT_SOURCE } from "./sources/homeassistant";
import { INGEST_SOURCE } from "./sources/ingest";
import type { SubmitResult } from "./sources/sink";
import { Spool, type SpoolRecord } from "./spool";
import { ZoneClock } from "./timezone";
import { WeatherTimeline, weatherReadingOf } from "./weather";

export type { ComponentStatus } from "./componentStatus";
// The contracts sources and the server depend on live in their own modules; re-exported for callers of the pipeline.
export type { SubmitResult } from "./sources/sink";

/** Answer of `checkWritable`, for `/readyz`. */
export interface WritableCheck {
  /** True when InfluxDB answers and accepts writes with the configured token. */
  ok: boolean;
  /** Explanation, free of secrets. */
  message: string;
}

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
}

/** What the writer remembers per entity between events. */
interface EntityMemory {
  /** Event time of the last event, as it arrived. */
  lastEventUs: number;
  /** Timestamp the last event was written with (may be moved forward). */
  lastWrittenUs: number;
  /** Whether the last event carried its own time. */
  lastHadTime: boolean;
  /** Its state. */
  state: string;
  /** When that state began. */
  changedUs: number;
}

const MAX_REMEMBERED_ENTITIES = 200_000;
/** The entity memory is saved at most this often (and on stop). */
const MEMORY_SAVE_MS = 1000;
const MEMORY_FILE = "entities.json";

const WeatherSchema = z.object({
  temperature: z.number().optional(),
  humidity: z.number().optional(),
  pressure: z.number().optional(),
  condition: z.string().optional(),
});
/** `entities.json`: per entity `[lastEventUs, lastWrittenUs, lastHadTime, state, changedUs]`. */
const MemoryFileSchema = z.object({
  version: z.literal(1),
  entities: z.record(z.string(), z.tuple([z.number(), z.number(), z.boolean(), z.string(), z.number()])),
  weather: z.array(z.object({ atUs: z.number(), reading: WeatherSchema.optional() })).default([]),
});
/** A 204 this recent answers /readyz without another probe. */
const RECENT_SUCCESS_MS = 30_000;
/** Weather readings older than this no longer count as current. */
const WEATHER_STALE_MS = 3 * 60 * 60 * 1000;

/** Creates the pipeline; nothing touches the disk or the network before `start()`. */
export function createPipeline(config: WriterConfig, deps: PipelineDeps): Pipeline {
  return new WriterPipeline(config, deps);
}

class WriterPipeline implements Pipeline {
  private clock: ZoneClock;
  private readonly filter: EntityFilter;
  private readonly router: Router;
  private readonly client: InfluxClient;
  private readonly entities = new Map<string, EntityMemory>();
  private readonly tagCache = new TagCache();
  private readonly timestamps = new TimestampFormatter();
  private readonly weatherEntity: string | undefined;
  private readonly weather = new WeatherTimeline(WEATHER_STALE_MS * 1000);
  private weatherAt: number | undefined;
  private readonly unknownUnitsLogged = new Set<string>();
  private memoryDirty = false;
  private memoryTimer: NodeJS.Timeout | undefined;
  private memorySave: Promise<void> = Promise.resolve();
  private spool: Spool | undefined;
  private deliverer: Deliverer | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private gaugeTimer: NodeJS.Timeout | undefined;
  private state: "new" | "running" | "stopping" | "stopped" = "new";
  private submitsInProgress = 0;
  private readonly statsPrefix: string;

  constructor(
    private readonly config: WriterConfig,
    private readonly deps: PipelineDeps,
  ) {
    this.clock = new ZoneClock(config.timeZone ?? "UTC");
    this.filter = new EntityFilter(config.filters);
    this.router = new Router(config);
    this.weatherEntity = config.homeAssistant?.weatherEntity;
    this.client = new InfluxClient({
      url: config.influxdb.url,
      org: config.influxdb.org,
      token: config.influxdb.token,
      writeTimeoutMs: config.influxdb.writeTimeoutSeconds * 1000,
      readTimeoutMs: config.influxdb.readTimeoutSeconds * 1000,
    });
    this.statsPrefix = `${escapeMeasurement(WRITER_STATS_MEASUREMENT)},host=${escapeKey(hostname())} `;
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`pipeline cannot start: it is ${this.state}`);
    const { metrics, logger } = this.deps;
    await this.loadMemory();
    this.spool = await Spool.open({
      dir: this.config.spool.dir,
      maxBytes: this.config.spool.maxBytes,
      logger,
      onDrop: (events) => metrics.spoolDroppedEvents.inc(events),
      onRefuse: (events, source) => metrics.spoolRefusedEvents.inc({ source }, events),
      onFault: (fault) => metrics.spoolFaults.inc({ kind: fault.kind }),
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
    this.updateGauges();
    this.gaugeTimer = setInterval(() => this.updateGauges(), 1000);
    this.gaugeTimer.unref();
    this.statsTimer = setInterval(() => void this.writeStatistics(), this.config.statsIntervalSeconds * 1000);
    this.statsTimer.unref();
  }

  async submit(rawEvents: readonly unknown[], source: string): Promise<SubmitResult[]> {
    if (this.state !== "running" || this.spool === undefined)
      throw new Error(`pipeline is not accepting events: it is ${this.state}`);
    this.submitsInProgress++;
    try {
      await this.spool.waitForRoom();
      const results = new Array<SubmitResult>(rawEvents.length);
      const receivedUs = Date.now() * 1000;
      const records = new Map<string, SpoolRecord>();
      const rejected = new Map<string, number>();
      const filtered = new Map<string, number>();
      let accepted = 0;

      for (let index = 0; index < rawEvents.length; index++) {
        const parsed = parseEvent(rawEvents[index], receivedUs, this.clock, this.config.limits);
        if (!parsed.ok) {
          const result: SubmitResult = { index, status: parsed.status, reason: parsed.reason, message: parsed.message };
          if (parsed.entityId !== undefined) result.entityId = parsed.entityId;
          results[index] = result;
          const tally = parsed.status === "rejected" ? rejected : filtered;
          tally.set(parsed.reason, (tally.get(parsed.reason) ?? 0) + 1);
          continue;
        }
        const event = parsed.event;
        if (event.entityId === this.weatherEntity) this.rememberWeather(event);
        const fromHomeAssistant = source === HOME_ASSISTANT_SOURCE;
        if (!this.filter.passes(event.entityId, event.domain)) {
          results[index] = {
            index,
            status: "filtered",
            reason: "excluded",
            message: FILTER_REASONS.excluded,
            entityId: event.entityId,
          };
          filtered.set("excluded", (filtered.get("excluded") ?? 0) + 1);
          continue;
        }
        results[index] = { index, status: "accepted", entityId: event.entityId };
        accepted++;
        const line = this.lineOf(event, fromHomeAssistant);
        if (line === undefined) continue;
        for (const bucket of this.router.route(event.entityId, event.domain)) {
          const record = records.get(bucket);
          if (record === undefined) records.set(bucket, { bucket, lines: line, count: 1 });
          else {
            record.lines += line;
            record.count++;
          }
        }
      }

      try {
        // A full spool refuses HTTP ingest (its client is answered 503 and resends) and makes the
        // other sources wait (backpressure), so nothing acknowledged is ever dropped for room.
        await this.spool.append([...records.values()], {
          source,
          whenFull: source === INGEST_SOURCE ? "refuse" : "wait",
        });
      } catch (error) {
        // Nothing of this call is durable: forget what it taught about its entities, or the caller's
        // retry of the same events would be taken for repeats and skipped.
        for (const result of results)
          if (result?.status === "accepted" && result.entityId) this.entities.delete(result.entityId);
        throw error;
      }
      if (accepted > 0) this.memoryChanged();
      const { metrics } = this.deps;
      metrics.eventsReceived.inc({ source }, rawEvents.length);
      if (accepted > 0) metrics.eventsAccepted.inc({ source }, accepted);
      for (const [reason, count] of rejected) metrics.eventsRejected.inc({ source, reason }, count);
      for (const [reason, count] of filtered) metrics.eventsFiltered.inc({ source, reason }, count);
      return results;
    } finally {
      this.submitsInProgress--;
    }
  }

  /** The event's line with a timestamp unique for its entity; undefined for a repeat of the last event. */
  private lineOf(event: HaEvent, fromHomeAssistant: boolean): string | undefined {
    const memory = this.entities.get(event.entityId);
    let time = event.timeUs;
    if (memory !== undefined) {
      const repeat = fromHomeAssistant
        ? !event.timeFromReceipt && memory.lastHadTime && event.timeUs <= memory.lastEventUs
        : !event.timeFromReceipt &&
          memory.lastHadTime &&
          event.timeUs === memory.lastEventUs &&
          event.state === memory.state;
      if (repeat) return undefined;
      if (event.timeUs >= memory.lastEventUs && event.timeUs <= memory.lastWrittenUs) time = memory.lastWrittenUs + 1;
    }
    const ownWeather = event.domain === "weather" ? this.readingOf(event) : undefined;
    const body = mapEvent(event, {
      clock: this.clock,
      ...(ownWeather !== undefined ? { ownWeather } : {}),
      weather: event.domain === "weather" ? undefined : this.weather.at(event.timeUs),
      previousState: memory?.state,
      previousChangedUs: memory?.changedUs,
      tagCache: this.tagCache,
    });
    if (memory === undefined) {
      if (this.entities.size >= MAX_REMEMBERED_ENTITIES) this.entities.delete(this.entities.keys().next().value!);
      this.entities.set(event.entityId, {
        lastEventUs: event.timeUs,
        lastWrittenUs: time,
        lastHadTime: !event.timeFromReceipt,
        state: event.state,
        changedUs: event.timeUs,
      });
    } else if (event.timeUs >= memory.lastEventUs) {
      if (memory.state !== event.state) {
        memory.state = event.state;
        memory.changedUs = event.timeUs;
      }
      memory.lastEventUs = event.timeUs;
      memory.lastWrittenUs = time;
      memory.lastHadTime = !event.timeFromReceipt;
    }
    return `${body} ${this.timestamps.format(time)}\n`;
  }

  /** A weather entity's reading in °C and hPa; unknown units are logged once each and left out. */
  private readingOf(event: HaEvent): WeatherReading | undefined {
    const { reading, unknownUnits } = weatherReadingOf(event.state, event.attributes);
    for (const unit of unknownUnits) {
      const key = `${event.entityId} ${unit}`;
      if (this.unknownUnitsLogged.has(key)) continue;
      this.unknownUnitsLogged.add(key);
      this.deps.logger.warn(
        { entityId: event.entityId, unit },
        "weather value in a unit the writer cannot convert to °C / hPa; that value is not written",
      );
    }
    return reading;
  }

  private rememberWeather(event: HaEvent): void {
    // An unavailable weather integration has no reading: from that time on, events carry no weather
    // (not `unavailable` as a condition, nor the reading from before the outage as if it were current).
    this.weather.record(event.timeUs, this.readingOf(event));
    this.weatherAt = Date.now();
  }

  private currentWeather(): WeatherReading | undefined {
    return this.weather.at(Date.now() * 1000);
  }

  useTimeZone(timeZone: string): void {
    if (this.config.timeZone !== undefined || timeZone === this.clock.timeZone) return;
    try {
      this.clock = new ZoneClock(timeZone);
      this.deps.logger.info({ timeZone }, "time_of_day follows Home Assistant's time zone");
    } catch {
      this.deps.logger.warn(
        { timeZone },
        "Home Assistant's time zone is unknown to this runtime; time_of_day stays in UTC",
      );
    }
  }

  private async loadMemory(): Promise<void> {
    const file = join(this.config.spool.dir, MEMORY_FILE);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch {
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = MemoryFileSchema.safeParse(json);
    if (!parsed.success) {
      this.deps.logger.warn(
        { file },
        "the entity memory is unreadable; previous_state and duration_seconds start afresh",
      );
      return;
    }
    for (const [entityId, [lastEventUs, lastWrittenUs, lastHadTime, state, changedUs]] of Object.entries(
      parsed.data.entities,
    )) {
      this.entities.set(entityId, { lastEventUs, lastWrittenUs, lastHadTime, state, changedUs });
    }
    for (const { atUs, reading } of parsed.data.weather) this.weather.record(atUs, reading);
  }

  private memoryChanged(): void {
    this.memoryDirty = true;
    if (this.memoryTimer !== undefined) return;
    this.memoryTimer = setTimeout(() => {
      this.memoryTimer = undefined;
      this.memorySave = this.memorySave.then(() => this.saveMemory());
    }, MEMORY_SAVE_MS);
    this.memoryTimer.unref();
  }

  /** Writes the memory to a temporary file and renames it over the old one, so a crash leaves one whole file. */
  private async saveMemory(): Promise<void> {
    if (!this.memoryDirty) return;
    this.memoryDirty = false;
    const entities: Record<string, [number, number, boolean, string, number]> = {};
    for (const [entityId, m] of this.entities)
      entities[entityId] = [m.lastEventUs, m.lastWrittenUs, m.lastHadTime, m.state, m.changedUs];
    const latest = this.weather.latest();
    const file = join(this.config.spool.dir, MEMORY_FILE);
    try {
      await writeFile(`${file}.tmp`, JSON.stringify({ version: 1, entities, weather: latest ? [latest] : [] }));
      await rename(`${file}.tmp`, file);
    } catch (error) {
      this.memoryDirty = true;
      this.deps.logger.warn({ err: error, file }, "could not save the entity memory");
    }
  }

  status(): ComponentStatus {
    const health = this.deliverer?.health;
    const spool = this.spool?.stats() ?? { bytes: 0, diskBytes: 0, events: 0, droppedEvents: 0, refusedEvents: 0 };
    const details = {
      spoolBytes: spool.bytes,
      spoolEvents: spool.events,
      spoolDroppedEvents: spool.droppedEvents,
      spoolRefusedEvents: spool.refusedEvents,
      spoolDiskBytes: spool.diskBytes,
      spoolFaults: this.spool?.health().faults ?? [],
      consecutiveFailures: health?.consecutiveFailures ?? 0,
      inMemoryEvents: this.deliverer?.pendingInMemory() ?? 0,
    };
    const base = {
      name: "influxdb",
      ...(health?.lastError !== undefined ? { lastError: health.lastError } : {}),
      ...(health?.lastErrorAt ? { lastErrorAt: health.lastErrorAt.toISOString() } : {}),
      ...(health?.lastSuccessAt ? { lastSuccessAt: health.lastSuccessAt.toISOString() } : {}),
      details,
    };
    if (health === undefined || this.deliverer === undefined)
      return { ...base, healthy: false, message: `pipeline is ${this.state}` };
    const verdict = this.deliverer.verdict();
    if (!verdict.healthy)
      return { ...base, healthy: false, message: `${verdict.message}; ${spool.events} events kept in the spool` };
    return { ...base, healthy: this.state === "running", message: `${spool.events} events waiting for delivery` };
  }

  weatherStatus(): ComponentStatus {
    const current = this.currentWeather();
    const at = this.weatherAt === undefined ? {} : { lastSuccessAt: new Date(this.weatherAt).toISOString() };
    if (this.weatherEntity === undefined) {
      return {
        name: "weather",
        healthy: true,
        message: "no weather entity configured; weather comes with events when they carry it",
      };
    }
    if (current === undefined) {
      return { name: "weather", healthy: false, message: `no current reading from ${this.weatherEntity}`, ...at };
    }
    return {
      name: "weather",
      healthy: true,
      message: `current reading from ${this.weatherEntity} (°C, hPa)`,
      ...at,
      details: { ...current },
    };
  }

  async checkWritable(): Promise<WritableCheck> {
    const health = this.deliverer?.health;
    const verdict = this.deliverer?.verdict();
    if (verdict !== undefined && !verdict.healthy)
      return { ok: false, message: health?.unauthorized && health.lastError ? health.lastError : verdict.message };
    if (
      health?.lastSuccessAt &&
      health.consecutiveFailures === 0 &&
      Date.now() - health.lastSuccessAt.getTime() < RECENT_SUCCESS_MS
    ) {
      return { ok: true, message: "InfluxDB accepted a write recently" };
    }
    const outcome = await this.client.probe(this.config.influxdb.buckets.events);
    if (outcome.kind === "delivered")
      return { ok: true, message: "InfluxDB is reachable and accepts writes with this token" };
    return { ok: false, message: `${outcome.kind}: ${outcome.message}` };
  }

  async flush(timeoutMs: number): Promise<FlushResult> {
    const drained = this.deliverer ? await this.deliverer.flush(timeoutMs) : true;
    return { drained, pendingEvents: this.spool?.stats().events ?? 0 };
  }

  async stop(timeoutMs: number): Promise<FlushResult> {
    if (this.state !== "running") return { drained: true, pendingEvents: this.spool?.stats().events ?? 0 };
    const deadline = Date.now() + timeoutMs;
    this.state = "stopping";
    clearInterval(this.statsTimer);
    clearInterval(this.gaugeTimer);
    while (this.submitsInProgress > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    const result = await this.flush(Math.max(0, deadline - Date.now()));
    clearTimeout(this.memoryTimer);
    this.memoryTimer = undefined;
    await this.memorySave;
    await this.saveMemory();
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

  private updateGauges(): void {
    const stats = this.spool?.stats();
    if (stats === undefined) return;
    this.deps.metrics.spoolBytes.set(stats.bytes);
    this.deps.metrics.spoolEvents.set(stats.events);
  }

  /** Appends one point of the writer's own figures for the system bucket. */
  private async writeStatistics(): Promise<void> {
    if (this.state !== "running" || this.spool === undefined) return;
    const { metrics } = this.deps;
    const spool = this.spool.stats();
    const figures: [string, number][] = [
      ["events_received", await total(metrics.eventsReceived)],
      ["events_accepted", await total(metrics.eventsAccepted)],
      ["events_rejected", await total(metrics.eventsRejected)],
      ["events_filtered", await total(metrics.eventsFiltered)],
      ["points_written", await total(metrics.pointsWritten)],
      ["batches_written", await total(metrics.batchesWritten)],
      ["batches_failed", await total(metrics.batchesFailed)],
      ["dead_letter_lines", await total(metrics.deadLetterLines)],
      ["spool_bytes", spool.bytes],
      ["spool_events", spool.events],
      ["spool_dropped_events", spool.droppedEvents],
    ];
    const fields = figures.map(([key, value]) => `${key}=${formatFloat(value)}`).join(",");
    const line = `${this.statsPrefix}${fields} ${Date.now() * 1000}\n`;
    try {
      await this.spool.append([{ bucket: this.config.influxdb.buckets.system, lines: line, count: 1 }], {
        source: "statistics",
      });
    } catch (error) {
      this.deps.logger.warn({ err: error }, "could not spool the writer's statistics");
    }
  }
}

async function total(metric: {
  get(): Promise<{ values: { value: number }[] }> | { values: { value: number }[] };
}): Promise<number> {
  const { values } = await metric.get();
  return values.reduce((sum, sample) => sum + sample.value, 0);
}

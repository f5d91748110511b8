/**
 * The writer's figures about itself: the spool gauges of `/metrics`, refreshed every second, and a
 * point of its counters in the system bucket every `statsIntervalSeconds` (measurement
 * `ha_influx_writer`, tag `host`), appended to the spool like any other line.
 */
import { hostname } from "node:os";
import { escapeKey, escapeMeasurement, formatFloat } from "./lineProtocol";
import type { Logger } from "./logger";
import type { WriterMetrics } from "./metrics";
import { WRITER_STATS_MEASUREMENT } from "./schema";
import type { Spool } from "./spool";

const GAUGE_INTERVAL_MS = 1000;

/** Options of the statistics. */
export interface SelfStatisticsOptions {
  spool: Spool;
  metrics: WriterMetrics;
  logger: Logger;
  /** Bucket of the statistics points. */
  bucket: string;
  /** Time between two points, milliseconds. */
  intervalMs: number;
}

/** Gauges and statistics points, between `start` and `stop`. */
export class SelfStatistics {
  private readonly prefix = `${escapeMeasurement(WRITER_STATS_MEASUREMENT)},host=${escapeKey(hostname())} `;
  private gaugeTimer: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly options: SelfStatisticsOptions) {}

  start(): void {
    this.running = true;
    this.updateGauges();
    this.gaugeTimer = setInterval(() => this.updateGauges(), GAUGE_INTERVAL_MS);
    this.gaugeTimer.unref();
    this.statsTimer = setInterval(() => void this.writeStatistics(), this.options.intervalMs);
    this.statsTimer.unref();
  }

  stop(): void {
    this.running = false;
    clearInterval(this.gaugeTimer);
    clearInterval(this.statsTimer);
  }

  private updateGauges(): void {
    const stats = this.options.spool.stats();
    this.options.metrics.spoolBytes.set(stats.bytes);
    this.options.metrics.spoolEvents.set(stats.events);
  }

  /** Appends one point of the writer's own figures for the system bucket. */
  private async writeStatistics(): Promise<void> {
    if (!this.running) return;
    const { metrics, spool } = this.options;
    const stats = spool.stats();
    const figures: [string, number][] = [
      ["events_received", await total(metrics.eventsReceived)],
      ["events_accepted", await total(metrics.eventsAccepted)],
      ["events_rejected", await total(metrics.eventsRejected)],
      ["events_filtered", await total(metrics.eventsFiltered)],
      ["points_written", await total(metrics.pointsWritten)],
      ["batches_written", await total(metrics.batchesWritten)],
      ["batches_failed", await total(metrics.batchesFailed)],
      ["dead_letter_lines", await total(metrics.deadLetterLines)],
      ["spool_bytes", stats.bytes],
      ["spool_events", stats.events],
      ["spool_dropped_events", stats.droppedEvents],
    ];
    const fields = figures.map(([key, value]) => `${key}=${formatFloat(value)}`).join(",");
    const line = `${this.prefix}${fields} ${Date.now() * 1000}\n`;
    try {
      await spool.append([{ bucket: this.options.bucket, lines: line, count: 1 }], { source: "statistics" });
    } catch (error) {
      this.options.logger.warn({ err: error }, "could not spool the writer's statistics");
    }
  }
}

async function total(metric: {
  get(): Promise<{ values: { value: number }[] }> | { values: { value: number }[] };
}): Promise<number> {
  const { values } = await metric.get();
  return values.reduce((sum, sample) => sum + sample.value, 0);
}

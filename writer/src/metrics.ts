/**
 * Prometheus metrics of the writer, in one registry the HTTP server exposes at
 * `/metrics`. The pipeline increments counters once per submit call or batch with a count, never once
 * per event: a labelled `inc()` costs about as much as mapping an event.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The writer's metric objects; other modules may register more on `registry`. */
export interface WriterMetrics {
  /** The registry to expose; holds Node.js process metrics too. */
  registry: Registry;
  /** Events handed to the pipeline, by source (`websocket`, `ingest`, `replay`). */
  eventsReceived: Counter<"source">;
  /** Events accepted into the spool, by source. */
  eventsAccepted: Counter<"source">;
  /** Events rejected as malformed, by source and reason code. */
  eventsRejected: Counter<"source" | "reason">;
  /** Valid events not written (filters, removed entities), by source and reason code. */
  eventsFiltered: Counter<"source" | "reason">;
  /** Ingest requests refused as a whole (never reaching the pipeline), by reason code. */
  ingestRequestsRejected: Counter<"reason">;
  /** Lines (points) InfluxDB acknowledged with 204, by bucket. */
  pointsWritten: Counter<"bucket">;
  /** Write requests answered 204, by bucket. */
  batchesWritten: Counter<"bucket">;
  /** Write requests that failed and were scheduled again, by bucket and failure class. */
  batchesRetried: Counter<"bucket" | "reason">;
  /** Write requests that did not get a 204, by bucket and failure class. */
  batchesFailed: Counter<"bucket" | "reason">;
  /** Lines moved to the dead-letter file (InfluxDB rejected them for good), by bucket. */
  deadLetterLines: Counter<"bucket">;
  /** Seconds from sending a write request to its answer, by bucket. */
  writeLatency: Histogram<"bucket">;
  /** Spooled bytes not yet delivered. */
  spoolBytes: Gauge;
  /** Events in the spool that are not yet acknowledged (read into memory for delivery or not). */
  spoolEvents: Gauge;
  /** Events acknowledged to a source that will never be delivered: records found damaged on disk. */
  spoolDroppedEvents: Counter;
  /** Events refused (never acknowledged) because the spool was at its byte bound, by source. */
  spoolRefusedEvents: Counter<"source">;
  /** Spool faults (`fsync`, `corrupt`, `cursor`). */
  spoolFaults: Counter<"kind">;
  /** Share of the last write requests that got a 204 (1 when none were made yet). */
  batchSuccessRate: Gauge;
  /** Records the outcome of one write request for `batchSuccessRate`. */
  recordBatchOutcome(success: boolean): void;
}

const SUCCESS_WINDOW = 100;

/** Creates a fresh registry with the writer's metrics (one per writer; tests create their own). */
export function createMetrics(options: { processMetrics?: boolean } = {}): WriterMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const outcomes: boolean[] = [];
  let successes = 0;

  return {
    registry,
    eventsReceived: new Counter({
      name: "writer_events_received_total",
      help: "Events handed to the pipeline",
      labelNames: ["source"],
      registers,
    }),
    eventsAccepted: new Counter({
      name: "writer_events_accepted_total",
      help: "Events accepted into the spool",
      labelNames: ["source"],
      registers,
    }),
    eventsRejected: new Counter({
      name: "writer_events_rejected_total",
      help: "Events rejected as malformed",
      labelNames: ["source", "reason"],
      registers,
    }),
    eventsFiltered: new Counter({
      name: "writer_events_filtered_total",
      help: "Valid events deliberately not written",
      labelNames: ["source", "reason"],
      registers,
    }),
    ingestRequestsRejected: new Counter({
      name: "writer_ingest_requests_rejected_total",
      help: "Ingest requests refused as a whole (unauthorized, body too large, too many events, unsupported media type, unreadable body)",
      labelNames: ["reason"],
      registers,
    }),
    pointsWritten: new Counter({
      name: "writer_points_written_total",
      help: "Points acknowledged by InfluxDB",
      labelNames: ["bucket"],
      registers,
    }),
    batchesWritten: new Counter({
      name: "writer_batches_written_total",
      help: "Write requests answered 204",
      labelNames: ["bucket"],
      registers,
    }),
    batchesRetried: new Counter({
      name: "writer_batches_retried_total",
      help: "Write requests scheduled again after a failure",
      labelNames: ["bucket", "reason"],
      registers,
    }),
    batchesFailed: new Counter({
      name: "writer_batches_failed_total",
      help: "Write requests that did not get a 204",
      labelNames: ["bucket", "reason"],
      registers,
    }),
    deadLetterLines: new Counter({
      name: "writer_dead_letter_lines_total",
      help: "Lines InfluxDB rejected for good, kept in the dead-letter file",
      labelNames: ["bucket"],
      registers,
    }),
    writeLatency: new Histogram({
      name: "writer_write_latency_seconds",
      help: "Seconds from sending a write request to its answer",
      labelNames: ["bucket"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    spoolBytes: new Gauge({ name: "writer_spool_bytes", help: "Spooled bytes not yet delivered", registers }),
    spoolEvents: new Gauge({ name: "writer_spool_events", help: "Spooled events not yet acknowledged", registers }),
    spoolDroppedEvents: new Counter({
      name: "writer_spool_dropped_events_total",
      help: "Acknowledged events that will never be delivered (damaged spool records)",
      registers,
    }),
    spoolRefusedEvents: new Counter({
      name: "writer_spool_refused_events_total",
      help: "Events refused, never acknowledged, because the spool was full",
      labelNames: ["source"],
      registers,
    }),
    spoolFaults: new Counter({
      name: "writer_spool_faults_total",
      help: "Spool faults: failed fsync, damaged records, unusable cursor",
      labelNames: ["kind"],
      registers,
    }),
    batchSuccessRate: new Gauge({
      name: "writer_batch_success_rate",
      help: `Share of the last ${SUCCESS_WINDOW} write requests answered 204`,
      registers,
      collect() {
        this.set(outcomes.length === 0 ? 1 : successes / outcomes.length);
      },
    }),
    recordBatchOutcome(success: boolean): void {
      outcomes.push(success);
      if (success) successes++;
      if (outcomes.length > SUCCESS_WINDOW && outcomes.shift()) successes--;
    },
  };
}

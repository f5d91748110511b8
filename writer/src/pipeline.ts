/**
 * The writer's core: validate → filter → map → route → spool (durable) → batch → deliver.
 * Sources call `submit`; the HTTP server reads `status`, `weatherStatus` and `checkWritable`;
 * `startWriter` calls `start` and, on SIGTERM, `stop`.
 */
import type { WriterConfig } from "./config";
import type { FilterReason, RejectReason } from "./events";
import type { Logger } from "./logger";
import type { WriterMetrics } from "./metrics";

/** What happened to one submitted event. */
export interface SubmitResult {
  /** Position of the event in the submitted array. */
  index: number;
  /** `accepted`: durable in the spool; `rejected`: malformed; `filtered`: valid but not written. */
  status: "accepted" | "rejected" | "filtered";
  /** Stable machine-readable code when not accepted. */
  reason?: RejectReason | FilterReason;
  /** Human-readable explanation when not accepted. */
  message?: string;
  /** The event's entity id, when it had a readable one. */
  entityId?: string;
}

/** Health of one component, as in the specification's ServiceStatus. */
export interface ComponentStatus {
  /** Component name: `influxdb`, `weather`, … */
  name: string;
  /** Whether the component currently works. */
  healthy: boolean;
  /** One line on the current state. */
  message: string;
  /** The last error, already free of secrets. */
  lastError?: string;
  /** ISO time of the last error. */
  lastErrorAt?: string;
  /** ISO time of the last success (for `influxdb`: the last 204). */
  lastSuccessAt?: string;
  /** Component-specific figures (spool bytes and events, …). */
  details?: Record<string, unknown>;
}

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
}

/** Collaborators a pipeline needs. */
export interface PipelineDeps {
  /** Logger (already redacting secrets). */
  logger: Logger;
  /** Metric objects to update. */
  metrics: WriterMetrics;
}

/** Creates the pipeline; nothing touches the disk or the network before `start()`. */
export function createPipeline(config: WriterConfig, deps: PipelineDeps): Pipeline {
  void config;
  void deps;
  throw new Error("createPipeline: the implementation lands in the next commits");
}

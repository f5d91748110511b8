import type { FilterReason, RejectReason } from "../events";

/**
 * The source names whose events the pipeline treats apart. Home Assistant's source sees each entity's
 * changes in order, so a state not newer than the entity's last one is a repeat; HTTP ingest is
 * refused (503, its client resends) rather than kept waiting when the spool is full.
 */
export const HOME_ASSISTANT_SOURCE = "websocket";
/** Source name of `POST /events`. */
export const INGEST_SOURCE = "ingest";

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

/**
 * The one thing a source needs from the pipeline: hand over raw events and learn, per event, whether
 * it was accepted (durable in the spool), filtered or rejected. Sources depend on this, not on the
 * whole pipeline, so tests can drive them with a recording fake.
 */
export interface EventSink {
  /**
   * Validates, maps and spools the events; resolves when the accepted ones are durable. Rejects with
   * `SinkFullError` when there is no room for them now (nothing of the call accepted), and with other
   * errors when they could not be stored.
   */
  submit(rawEvents: readonly unknown[], source: string): Promise<SubmitResult[]>;
}

/**
 * How `EventSink.submit` refuses a whole call for now: there is no room to store the events (the
 * spool is at its bound while InfluxDB is unreachable or too slow), nothing of the call was accepted,
 * and offering the same events again after `retryAfterSeconds` is sensible. The pipeline refuses only
 * HTTP ingest this way (its client is answered 503 and resends); the other sources are kept waiting
 * for room instead, and see it only for a single submission larger than the whole spool.
 */
export class SinkFullError extends Error {
  override readonly name = "SinkFullError";

  constructor(
    message: string,
    /** Seconds after which trying again is sensible. */
    readonly retryAfterSeconds: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

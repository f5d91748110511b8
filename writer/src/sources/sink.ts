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
  /** Validates, maps and spools the events; resolves when the accepted ones are durable. */
  submit(rawEvents: readonly unknown[], source: string): Promise<SubmitResult[]>;
}

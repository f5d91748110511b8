import type { Pipeline } from "../pipeline";

/**
 * The one thing a source needs from the pipeline: hand over raw events and learn, per event, whether
 * it was accepted (durable in the spool), filtered or rejected. Sources depend on this, not on the
 * whole pipeline, so tests can drive them with a recording fake.
 */
export type EventSink = Pick<Pipeline, "submit">;

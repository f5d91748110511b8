/**
 * Hands Home Assistant's `state_changed` data to the sink: enriched from the registries, in batches of
 * what came in one I/O turn, and with backpressure: while too many batches await durability the
 * socket is paused, so Home Assistant (not the writer's heap) holds what comes next.
 */
import type { Logger } from "../logger";
import { ENRICHMENT_KEYS, type Registries } from "./haRegistries";
import type { EventSink } from "./sink";

/** Events collected in one I/O turn are submitted together, at most this many per call. */
const MAX_EVENTS_PER_SUBMIT = 1000;
/** Submissions awaiting durability before the socket is paused (backpressure on Home Assistant). */
export const MAX_SUBMITS_IN_FLIGHT = 4;

export interface SubmitterOptions {
  sink: EventSink;
  /** The source name passed to the sink. */
  source: string;
  registries: Registries;
  logger: Logger;
  /** Stops reading from Home Assistant, and reads on again. */
  pause: () => void;
  resume: () => void;
}

export class Submitter {
  private pending: object[] = [];
  private flushScheduled = false;
  private submitsInFlight = 0;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: SubmitterOptions) {}

  /** Queues `state_changed` data with the registries' enrichment of its entity. */
  enqueue(data: object): void {
    this.pending.push(enrich(data, this.options.registries));
    if (this.pending.length >= MAX_EVENTS_PER_SUBMIT) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Submits what is queued now. */
  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    this.submitsInFlight += 1;
    if (this.submitsInFlight >= MAX_SUBMITS_IN_FLIGHT) this.options.pause();
    const submission = this.options.sink
      .submit(events, this.options.source)
      .then(
        () => undefined,
        (error: Error) => {
          this.options.logger.error(
            { err: error, events: events.length },
            "could not hand Home Assistant events to the spool; they are lost",
          );
        },
      )
      .finally(() => {
        this.inFlight.delete(submission);
        this.submitsInFlight -= 1;
        if (this.submitsInFlight < MAX_SUBMITS_IN_FLIGHT) this.options.resume();
      });
    this.inFlight.add(submission);
  }

  /** Resolves when every submission made so far has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}

/** `data` with the registries' `area`, `device_name` and `integration` in its new state's attributes. */
export function enrich(data: object, registries: Registries): object {
  const record = data as { entity_id?: unknown; new_state?: unknown };
  const state = record.new_state as { entity_id?: unknown; attributes?: unknown } | null | undefined;
  if (state === null || typeof state !== "object") return data;
  const entityId = typeof record.entity_id === "string" ? record.entity_id : state.entity_id;
  if (typeof entityId !== "string") return data;
  const attributes =
    state.attributes !== null && typeof state.attributes === "object" && !Array.isArray(state.attributes)
      ? { ...(state.attributes as Record<string, unknown>) }
      : {};
  // The registries decide these keys, never an attribute of the same name.
  for (const key of ENRICHMENT_KEYS) delete attributes[key];
  Object.assign(attributes, registries.of(entityId));
  return { ...record, new_state: { ...state, attributes } };
}

/**
 * The event processor: for one batch of raw events, the answer per event, the line protocol per
 * bucket and the batch's memory delta — parse → filter → map (with the weather context and what is
 * remembered of the entity) → route. It changes no entity memory (`entityMemory.ts` says when the
 * delta is committed); it records weather readings as it meets them (`weatherContext.ts` says why).
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
 */
import type { WriterConfig } from "./config";
import type { MemoryDelta, MemoryView } from "./entityMemory";
import { FILTER_REASONS, type HaEvent, parseEvent } from "./events";
import { EntityFilter } from "./filters";
import { TimestampFormatter } from "./lineProtocol";
import { mapEvent, TagCache } from "./mapping";
import { Router } from "./routing";
import { HOME_ASSISTANT_SOURCE, type SubmitResult } from "./sources/sink";
import type { SpoolRecord } from "./spool";
import { ZoneClock } from "./timezone";
import type { WeatherContext } from "./weatherContext";

/** What one batch comes to. */
export interface ProcessedBatch {
  /** The answer per event, in submit order. */
  results: SubmitResult[];
  /** Line protocol per bucket, to append with one write. */
  records: SpoolRecord[];
  /** The entities' new memory, to commit once the records are durable. */
  delta: MemoryDelta;
  /** Events accepted (repeats included: they are acknowledged without a line). */
  accepted: number;
  /** Rejected and filtered events per reason. */
  rejected: Map<string, number>;
  filtered: Map<string, number>;
}

export class EventProcessor {
  /** The zone of `time_of_day`; the pipeline replaces it with Home Assistant's when configured to. */
  clock: ZoneClock;
  private readonly filter: EntityFilter;
  private readonly router: Router;
  private readonly tagCache = new TagCache();
  private readonly timestamps = new TimestampFormatter();

  constructor(
    private readonly config: WriterConfig,
    private readonly weather: WeatherContext,
  ) {
    this.clock = new ZoneClock(config.timeZone ?? "UTC");
    this.filter = new EntityFilter(config.filters);
    this.router = new Router(config);
  }

  /** Processes a batch against `memory`, which it reads and never changes. */
  process(rawEvents: readonly unknown[], source: string, receivedUs: number, memory: MemoryView): ProcessedBatch {
    const results = new Array<SubmitResult>(rawEvents.length);
    const records = new Map<string, SpoolRecord>();
    const delta: MemoryDelta = new Map();
    const rejected = new Map<string, number>();
    const filtered = new Map<string, number>();
    const fromHomeAssistant = source === HOME_ASSISTANT_SOURCE;
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
      if (event.entityId === this.weather.entityId) this.weather.record(event);
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
      const line = this.lineAndDelta(event, fromHomeAssistant, memory, delta);
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
    return { results, records: [...records.values()], delta, accepted, rejected, filtered };
  }

  /**
   * The event's line with a timestamp unique for its entity, its entity's new memory put in `delta`;
   * undefined for a repeat of the entity's last event.
   */
  private lineAndDelta(
    event: HaEvent,
    fromHomeAssistant: boolean,
    memory: MemoryView,
    delta: MemoryDelta,
  ): string | undefined {
    const known = delta.get(event.entityId) ?? memory.get(event.entityId);
    let time = event.timeUs;
    if (known !== undefined) {
      const repeat = fromHomeAssistant
        ? !event.timeFromReceipt && known.lastHadTime && event.timeUs <= known.lastEventUs
        : !event.timeFromReceipt &&
          known.lastHadTime &&
          event.timeUs === known.lastEventUs &&
          event.state === known.state;
      if (repeat) return undefined;
      if (event.timeUs >= known.lastEventUs && event.timeUs <= known.lastWrittenUs) time = known.lastWrittenUs + 1;
    }
    const ownWeather = event.domain === "weather" ? this.weather.readingOf(event) : undefined;
    const body = mapEvent(event, {
      clock: this.clock,
      ...(ownWeather !== undefined ? { ownWeather } : {}),
      weather: event.domain === "weather" ? undefined : this.weather.at(event.timeUs),
      previousState: known?.state,
      previousChangedUs: known?.changedUs,
      tagCache: this.tagCache,
    });
    // An older event (a backfill from another source) is written but teaches nothing about the present.
    if (known === undefined || event.timeUs >= known.lastEventUs) {
      delta.set(event.entityId, {
        lastEventUs: event.timeUs,
        lastWrittenUs: time,
        lastHadTime: !event.timeFromReceipt,
        state: event.state,
        changedUs: known === undefined || known.state !== event.state ? event.timeUs : known.changedUs,
      });
    }
    return `${body} ${this.timestamps.format(time)}\n`;
  }
}

/**
 * The weather context events are written with: the configured weather entity's readings over time
 * (`WeatherTimeline`), each weather entity's own reading in °C and hPa, and the `weather` component
 * of `/status`.
 *
 * A reading is recorded as soon as the processor sees the weather entity's event, before its batch
 * is durable, unlike the per-entity memory (`entityMemory.ts`): it is a fact about the weather, used
 * whether or not the entity's own event is written (a weather entity excluded by the filters still
 * gives the others their weather), and a source that resends the event after a failed append records
 * the same reading at the same time again, which replaces it.
 */
import type { ComponentStatus } from "./componentStatus";
import type { HaEvent, WeatherReading } from "./events";
import type { Logger } from "./logger";
import { WeatherTimeline, weatherReadingOf } from "./weather";

/** Weather readings older than this no longer count as current. */
const WEATHER_STALE_MS = 3 * 60 * 60 * 1000;

export class WeatherContext {
  private readonly timeline = new WeatherTimeline(WEATHER_STALE_MS * 1000);
  /** When the weather entity was last heard from (wall clock, milliseconds). */
  private heardAt: number | undefined;
  private readonly unknownUnitsLogged = new Set<string>();

  constructor(
    /** The configured weather entity (`weather.home`), if any. */
    readonly entityId: string | undefined,
    private readonly logger: Logger,
  ) {}

  /** A weather entity's reading in °C and hPa; unknown units are logged once each and left out. */
  readingOf(event: HaEvent): WeatherReading | undefined {
    const { reading, unknownUnits } = weatherReadingOf(event.state, event.attributes);
    for (const unit of unknownUnits) {
      const key = `${event.entityId} ${unit}`;
      if (this.unknownUnitsLogged.has(key)) continue;
      this.unknownUnitsLogged.add(key);
      this.logger.warn(
        { entityId: event.entityId, unit },
        "weather value in a unit the writer cannot convert to °C / hPa; that value is not written",
      );
    }
    return reading;
  }

  /** Records an event of the configured weather entity. */
  record(event: HaEvent): void {
    // An unavailable weather integration has no reading: from that time on, events carry no weather
    // (not `unavailable` as a condition, nor the reading from before the outage as if it were current).
    this.timeline.record(event.timeUs, this.readingOf(event));
    this.heardAt = Date.now();
  }

  /** Records a reading kept in the memory file. */
  restore(atUs: number, reading: WeatherReading | undefined): void {
    this.timeline.record(atUs, reading);
  }

  /** The reading in effect at `atUs`. */
  at(atUs: number): WeatherReading | undefined {
    return this.timeline.at(atUs);
  }

  /** The latest entry, for the memory file. */
  latest(): { atUs: number; reading: WeatherReading | undefined } | undefined {
    return this.timeline.latest();
  }

  /** The `weather` component: healthy while there is a current reading from the configured entity. */
  status(): ComponentStatus {
    const at = this.heardAt === undefined ? {} : { lastSuccessAt: new Date(this.heardAt).toISOString() };
    if (this.entityId === undefined) {
      return {
        name: "weather",
        healthy: true,
        message: "no weather entity configured; weather comes with events when they carry it",
      };
    }
    const current = this.timeline.at(Date.now() * 1000);
    if (current === undefined) {
      return { name: "weather", healthy: false, message: `no current reading from ${this.entityId}`, ...at };
    }
    return {
      name: "weather",
      healthy: true,
      message: `current reading from ${this.entityId} (°C, hPa)`,
      ...at,
      details: { ...current },
    };
  }
}

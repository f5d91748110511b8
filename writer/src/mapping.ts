/**
 * Schema mapping: one validated event → one point of `home_assistant_events` (see `schema.ts`).
 *
 * Tags (empty ones omitted; in `TAG_KEYS` order, which is sorted as InfluxDB prefers):
 * - `area`: attribute `area` (or `area_id`); `device_class`: attribute `device_class`;
 * - `device_name`: attribute `device_name`; `domain`: the entity id before the dot; `entity_id`;
 * - `integration`: attribute `integration` (or `platform`);
 *   (the Home Assistant source sets `area`, `device_name` and `integration` from Home Assistant's
 *   registries; `friendly_name` is not a tag: renaming an entity must not start a new series)
 * - `time_of_day`: `night` 0–6 h, `morning` 6–12 h, `afternoon` 12–18 h, `evening` 18–24 h, in the
 *   configured time zone;
 * - `weather_condition`: only from the event itself: a `weather.*` entity's own state, or the weather
 *   an event carries (flat shape). Never from the writer's weather context: a tag must be a pure
 *   function of the state, or writing the same state twice would put it into two series.
 *
 * Fields (numbers always floats, strings in their own fields):
 * - `state_value`: the state as text (always, `unknown`/`unavailable` included);
 * - `previous_state`: the state before this event;
 * - `normalized_value`: see `normalize.ts`;
 * - `confidence`: attribute `confidence` when it is a finite number;
 * - `duration_seconds`: how long the previous state had lasted when this event happened (event time
 *   minus the previous state's `last_changed`);
 * - `weather_temp` (°C), `weather_humidity` (%), `weather_pressure` (hPa): a `weather.*` entity's own
 *   values, else the weather the event carries, else the configured weather entity's reading that was
 *   current at the event's time (fields do not make a series, so a rewrite stays one point);
 * - `unit_of_measurement`: attribute `unit_of_measurement`.
 */
import type { HaEvent, WeatherReading } from "./events";
import { escapeKey, escapeMeasurement, formatFloat, quoteString } from "./lineProtocol";
import { normalizedText } from "./normalize";
import { MEASUREMENT, type TagKey } from "./schema";
import type { ZoneClock } from "./timezone";

/** What mapping needs besides the event itself. */
export interface MappingContext {
  /** Clock of the configured time zone, for `time_of_day`. */
  clock: ZoneClock;
  /** Weather fields for an event that carries no weather of its own (the configured entity's reading then). */
  weather?: WeatherReading;
  /** A `weather.*` entity's own reading (converted to °C and hPa); its condition becomes the tag. */
  ownWeather?: WeatherReading;
  /** Previous state known to the writer, for events that do not carry one. */
  previousState?: string;
  /** When `previousState` began, microseconds since the epoch. */
  previousChangedUs?: number;
  /** Per-entity cache of the escaped tag prefix; the pipeline keeps one (tests may leave it out). */
  tagCache?: TagCache;
}

/**
 * The measurement and the tags that come from the entity and its attributes (area … integration)
 * change rarely: they are escaped and joined once per entity and reused while the attributes match.
 */
export class TagCache {
  private readonly entries = new Map<
    string,
    { area?: string; deviceClass?: string; deviceName?: string; integration?: string; prefix: string }
  >();

  /** The prefix for these values, built on a miss. */
  prefix(
    entityId: string,
    domain: string,
    area?: string,
    deviceClass?: string,
    deviceName?: string,
    integration?: string,
  ): string {
    const cached = this.entries.get(entityId);
    if (
      cached !== undefined &&
      cached.area === area &&
      cached.deviceClass === deviceClass &&
      cached.deviceName === deviceName &&
      cached.integration === integration
    ) {
      return cached.prefix;
    }
    const prefix = buildPrefix(entityId, domain, area, deviceClass, deviceName, integration);
    if (this.entries.size >= MAX_CACHED_ENTITIES) this.entries.clear();
    this.entries.set(entityId, { area, deviceClass, deviceName, integration, prefix });
    return prefix;
  }
}

const MAX_CACHED_ENTITIES = 100_000;

function buildPrefix(
  entityId: string,
  domain: string,
  area?: string,
  deviceClass?: string,
  deviceName?: string,
  integration?: string,
): string {
  return `${MEASUREMENT_PREFIX}${tag("area", area)}${tag("device_class", deviceClass)}${tag("device_name", deviceName)}${tag("domain", domain)}${tag("entity_id", entityId)}${tag("integration", integration)}`;
}

const MEASUREMENT_PREFIX = escapeMeasurement(MEASUREMENT);

/** `time_of_day` of a local hour. */
export function timeOfDay(hour: number): "night" | "morning" | "afternoon" | "evening" {
  return hour < 6 ? "night" : hour < 12 ? "morning" : hour < 18 ? "afternoon" : "evening";
}

/**
 * The point of an event as line protocol without its timestamp: `measurement,tags fields`. The
 * pipeline appends the timestamp after making it unique per entity.
 */
export function mapEvent(event: HaEvent, context: MappingContext): string {
  const attrs = event.attributes;
  const own = context.ownWeather ?? event.weather;
  const weather = own ?? context.weather;

  const area = text(attrs.area) ?? text(attrs.area_id);
  const deviceClass = text(attrs.device_class);
  const deviceName = text(attrs.device_name);
  const integration = text(attrs.integration) ?? text(attrs.platform);
  let line = context.tagCache
    ? context.tagCache.prefix(event.entityId, event.domain, area, deviceClass, deviceName, integration)
    : buildPrefix(event.entityId, event.domain, area, deviceClass, deviceName, integration);
  line += TIME_OF_DAY_TAG[context.clock.hourAt(Math.floor(event.timeUs / 1000))]!;
  if (own?.condition) line += tag("weather_condition", own.condition);

  // Fields in key order; the first is preceded by the space that ends the tag set.
  let separator = " ";
  if (typeof attrs.confidence === "number" && Number.isFinite(attrs.confidence)) {
    line += `${separator}confidence=${formatFloat(attrs.confidence)}`;
    separator = ",";
  }
  const previousState = event.previousState ?? context.previousState;
  const previousChangedUs = event.previousState !== undefined ? event.previousChangedUs : context.previousChangedUs;
  if (previousChangedUs !== undefined && event.timeUs >= previousChangedUs) {
    line += `${separator}duration_seconds=${formatMicrosAsSeconds(event.timeUs - previousChangedUs)}`;
    separator = ",";
  }
  const normalized = normalizedText(event.state);
  if (normalized !== undefined) {
    line += `${separator}normalized_value=${normalized}`;
    separator = ",";
  }
  if (previousState !== undefined) {
    line += `${separator}previous_state=${quoteString(previousState)}`;
    separator = ",";
  }
  line += `${separator}state_value=${quoteString(event.state)}`;
  const unit = text(attrs.unit_of_measurement);
  if (unit !== undefined) line += `,unit_of_measurement=${quoteString(unit)}`;
  if (weather !== undefined) {
    line += numberField("weather_humidity", weather.humidity);
    line += numberField("weather_pressure", weather.pressure);
    line += numberField("weather_temp", weather.temperature);
  }
  return line;
}

/** The `time_of_day` tag per local hour, written out once. */
const TIME_OF_DAY_TAG: readonly string[] = Array.from({ length: 24 }, (_, hour) => `,time_of_day=${timeOfDay(hour)}`);

/**
 * Whole microseconds as decimal seconds (`90.500000`), from integers: turning a fractional double
 * into its shortest text is one of the costliest steps per event.
 */
export function formatMicrosAsSeconds(us: number): string {
  const whole = Math.floor(us / 1_000_000);
  const fraction = us - whole * 1_000_000;
  return fraction === 0 ? String(whole) : `${whole}.${String(fraction).padStart(6, "0")}`;
}

function tag(key: TagKey, value: string | undefined): string {
  if (value === undefined) return "";
  const escaped = escapeKey(value);
  return escaped === "" ? "" : `,${key}=${escaped}`;
}

function numberField(key: string, value: unknown): string {
  return typeof value === "number" && Number.isFinite(value) ? `,${key}=${formatFloat(value)}` : "";
}

/** A string attribute as a tag or field text; numbers become text, anything else is absent. */
function text(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

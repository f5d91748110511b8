/**
 * Incoming events: the two shapes the writer accepts and the parser the pipeline runs per event; the
 * contract is written down in `docs/schema.md`.
 *
 * Why a hand-written parser rather than a zod schema (the project's rule at other boundaries): the
 * throughput target leaves a few microseconds per event for the whole pipeline, and a zod `safeParse`
 * of the same rules costs several times what `parseEvent` does (figures in the writer README's
 * benchmark section). `parseEvent` reads each field once and builds no intermediate objects.
 *
 * Shapes:
 * - Home Assistant `state_changed`: `{ entity_id, old_state, new_state }` (the event's `data`), or the
 *   whole event `{ event_type: "state_changed", data: {...} }`. Each state is
 *   `{ entity_id, state, attributes, last_changed, last_updated }`.
 *   Sources may add the flat shape's `weather` object to it.
 * - Flat enriched (`docs/schema.md`): `{ entity_id, state, attributes?, timestamp?,
 *   weather?: { temperature?, humidity?, pressure?, condition? } }`.
 */
import { domainOf, isEntityId } from "./entityId";
import { STRING_FIELD_ATTRIBUTES, TAG_ATTRIBUTES } from "./schema";
import type { ZoneClock } from "./timezone";

/** Home Assistant caps a state at 255 characters; anything longer is not a state. */
export const MAX_STATE_LENGTH = 255;

/** Size limits, in bytes of UTF-8, of the values that become tags and string fields. */
export interface EventLimits {
  /** Each tag value (`area`, `device_class`, `device_name`, `integration`, `weather_condition`). */
  maxTagValueBytes: number;
  /** Each string field taken from attributes (`unit_of_measurement`). */
  maxStringFieldBytes: number;
}

/**
 * Defaults of `limits.*`. Tags: 1 KiB each keeps a point's series key far below InfluxDB's 65,535
 * bytes; the largest allowed (6 KiB) still does with every character escaped. String fields: InfluxDB
 * takes up to 1 MiB, but no attribute this writer stores is meant to be longer than a few words.
 */
export const DEFAULT_EVENT_LIMITS: EventLimits = { maxTagValueBytes: 1024, maxStringFieldBytes: 1024 };
/** Upper bounds of the settings: InfluxDB's series-key bound (see above) and its string-field bound. */
export const MAX_TAG_VALUE_BYTES = 6 * 1024;
export const MAX_STRING_FIELD_BYTES = 1024 * 1024;

/** Weather context that travels with an event (flat shape) or comes from the weather entity. */
export interface WeatherReading {
  /** Outside temperature in the weather entity's unit. */
  temperature?: number;
  /** Relative humidity, %. */
  humidity?: number;
  /** Air pressure in the weather entity's unit. */
  pressure?: number;
  /** Condition text such as `sunny`, `rainy`. */
  condition?: string;
}

/** An event after validation: one state of one entity at one instant, in a single internal shape. */
export interface HaEvent {
  /** `domain.object_id`. */
  entityId: string;
  /** The part of the entity id before the dot. */
  domain: string;
  /** The new state as Home Assistant reports it (numbers stay text here). */
  state: string;
  /** The new state's attributes (empty object when none were given). */
  attributes: Readonly<Record<string, unknown>>;
  /** Event time in microseconds since the Unix epoch (the write precision). */
  timeUs: number;
  /** True when the event carried no time and `timeUs` is the time it was received. */
  timeFromReceipt: boolean;
  /** The previous state, when the event carried one. */
  previousState?: string;
  /** When the previous state began (its `last_changed`), microseconds since the epoch. */
  previousChangedUs?: number;
  /** Weather context carried by the event itself. */
  weather?: WeatherReading;
}

/** Stable machine-readable codes for a rejected event. */
export const REJECT_REASONS = {
  not_an_object: "the event is not a JSON object",
  unknown_shape: "the event is neither a state_changed event nor a flat event with entity_id and state",
  missing_entity_id: "entity_id is missing",
  invalid_entity_id:
    "entity_id is not of the form domain.object_id (lower-case letters, digits, _; at most 255 characters)",
  missing_state: "state is missing",
  invalid_state: "state must be a string, a finite number or a boolean of at most 255 characters",
  invalid_attributes: "attributes must be an object",
  invalid_timestamp: "the timestamp is not an ISO 8601 date-time",
  invalid_old_state: "old_state must be null or a state object with a string state",
  invalid_weather: "weather must be an object of finite numbers and a condition string",
  tag_too_long: "a value that becomes a tag is longer than limits.maxTagValueBytes",
  field_too_long: "a value that becomes a string field is longer than limits.maxStringFieldBytes",
} as const;
export type RejectReason = keyof typeof REJECT_REASONS;

/** Codes for events that are valid but deliberately not written. */
export const FILTER_REASONS = {
  excluded: "excluded by the include/exclude filters",
  entity_removed: "the entity was removed (new_state is null)",
} as const;
export type FilterReason = keyof typeof FILTER_REASONS;

/** Outcome of `parseEvent`. */
export type ParseResult =
  | { ok: true; event: HaEvent }
  | { ok: false; status: "rejected"; reason: RejectReason; message: string; entityId?: string }
  | { ok: false; status: "filtered"; reason: FilterReason; message: string; entityId?: string };

// ---------------------------------------------------------------------------------------------------
// The hand-written parser.

type Json = Record<string, unknown>;

/** Validates one raw event and brings it into the internal shape. */
export function parseEvent(
  raw: unknown,
  receivedUs: number,
  clock: ZoneClock,
  limits: EventLimits = DEFAULT_EVENT_LIMITS,
): ParseResult {
  if (!isObject(raw)) return reject("not_an_object");
  let body: Json = raw;
  if (body.event_type !== undefined) {
    if (body.event_type !== "state_changed" || !isObject(body.data)) {
      return reject(
        "unknown_shape",
        undefined,
        `event_type ${JSON.stringify(body.event_type)} is not a state_changed event with data`,
      );
    }
    body = body.data;
  }
  if ("new_state" in body) return parseStateChanged(body, receivedUs, clock, limits);
  if ("state" in body || "entity_id" in body) return parseFlat(body, receivedUs, clock, limits);
  return reject("unknown_shape");
}

function parseStateChanged(data: Json, receivedUs: number, clock: ZoneClock, limits: EventLimits): ParseResult {
  const outer = data.entity_id;
  const newState = data.new_state;
  const inner = isObject(newState) ? newState.entity_id : undefined;
  const id = outer ?? inner;
  if (id === undefined) return reject("missing_entity_id");
  if (!isEntityId(id) || (inner !== undefined && inner !== id)) {
    return reject("invalid_entity_id", typeof id === "string" ? id : undefined);
  }
  if (newState === null) {
    return {
      ok: false,
      status: "filtered",
      reason: "entity_removed",
      message: FILTER_REASONS.entity_removed,
      entityId: id,
    };
  }
  if (!isObject(newState)) return reject("missing_state", id, "new_state must be a state object");
  const state = newState.state;
  if (state === undefined) return reject("missing_state", id);
  if (typeof state !== "string" || state.length > MAX_STATE_LENGTH) return reject("invalid_state", id);
  const attrs = newState.attributes;
  if (attrs !== undefined && !isObject(attrs)) return reject("invalid_attributes", id);
  if (attrs !== undefined) {
    const oversized = checkAttributeSizes(attrs, id, limits);
    if (oversized !== undefined) return oversized;
  }

  // The event's time is last_updated (it moves with attribute changes too), else last_changed.
  // Home Assistant sends the two equal when the state itself changed: that text is read once.
  const lastUpdated = newState.last_updated;
  const lastChanged = newState.last_changed;
  const updatedUs = timeOrFallback(lastUpdated, NaN, clock);
  if (lastUpdated !== undefined && Number.isNaN(updatedUs))
    return reject("invalid_timestamp", id, "new_state.last_updated is not an ISO 8601 date-time");
  const changedUs = lastChanged === lastUpdated ? updatedUs : timeOrFallback(lastChanged, NaN, clock);
  if (lastChanged !== undefined && Number.isNaN(changedUs))
    return reject("invalid_timestamp", id, "new_state.last_changed is not an ISO 8601 date-time");
  const timeFromReceipt = lastUpdated === undefined && lastChanged === undefined;
  const timeUs = timeFromReceipt ? receivedUs : lastUpdated !== undefined ? updatedUs : changedUs;

  const event: HaEvent = {
    entityId: id,
    domain: domainOf(id),
    state,
    attributes: attrs ?? EMPTY,
    timeUs,
    timeFromReceipt,
  };
  const old = data.old_state;
  if (old !== undefined && old !== null) {
    if (!isObject(old) || typeof old.state !== "string") return reject("invalid_old_state", id);
    if (old.state.length > MAX_STATE_LENGTH)
      return reject("invalid_old_state", id, `old_state.state is longer than ${MAX_STATE_LENGTH} characters`);
    event.previousState = old.state;
    if (old.last_changed !== undefined) {
      const changed = parseTimestampUs(old.last_changed, clock);
      if (Number.isNaN(changed))
        return reject("invalid_old_state", id, "old_state.last_changed is not an ISO 8601 date-time");
      event.previousChangedUs = changed;
    }
  }
  return attachWeather(event, data.weather, limits);
}

function parseFlat(body: Json, receivedUs: number, clock: ZoneClock, limits: EventLimits): ParseResult {
  const id = body.entity_id;
  if (id === undefined) return reject("missing_entity_id");
  if (!isEntityId(id)) return reject("invalid_entity_id", typeof id === "string" ? id : undefined);
  const raw = body.state;
  let state: string;
  if (raw === undefined) return reject("missing_state", id);
  if (typeof raw === "string") {
    if (raw.length > MAX_STATE_LENGTH) return reject("invalid_state", id);
    state = raw;
  } else if ((typeof raw === "number" && Number.isFinite(raw)) || typeof raw === "boolean") {
    state = String(raw);
  } else {
    return reject("invalid_state", id);
  }
  const attrs = body.attributes;
  if (attrs !== undefined && !isObject(attrs)) return reject("invalid_attributes", id);
  if (attrs !== undefined) {
    const oversized = checkAttributeSizes(attrs, id, limits);
    if (oversized !== undefined) return oversized;
  }

  const timeUs = timeOrFallback(body.timestamp, receivedUs, clock);
  if (Number.isNaN(timeUs)) return reject("invalid_timestamp", id);
  const timeFromReceipt = body.timestamp === undefined;
  const event: HaEvent = {
    entityId: id,
    domain: domainOf(id),
    state,
    attributes: attrs ?? EMPTY,
    timeUs,
    timeFromReceipt,
  };

  return attachWeather(event, body.weather, limits);
}

/** Refuses attributes whose text would make a tag or string field over its limit (InfluxDB would refuse or bloat). */
function checkAttributeSizes(attrs: Json, id: string, limits: EventLimits): ParseResult | undefined {
  for (const key of TAG_ATTRIBUTES) {
    const bytes = oversizeBytes(attrs[key], limits.maxTagValueBytes);
    if (bytes !== undefined) {
      return reject(
        "tag_too_long",
        id,
        `attribute ${key} is ${bytes} bytes; a tag value may have at most ${limits.maxTagValueBytes} (limits.maxTagValueBytes)`,
      );
    }
  }
  for (const key of STRING_FIELD_ATTRIBUTES) {
    const bytes = oversizeBytes(attrs[key], limits.maxStringFieldBytes);
    if (bytes !== undefined) {
      return reject(
        "field_too_long",
        id,
        `attribute ${key} is ${bytes} bytes; a string field may have at most ${limits.maxStringFieldBytes} (limits.maxStringFieldBytes)`,
      );
    }
  }
  return undefined;
}

/** The UTF-8 size of a string over `limit` bytes, else undefined (also for non-strings). */
function oversizeBytes(value: unknown, limit: number): number | undefined {
  // A UTF-16 unit is 1 to 3 bytes of UTF-8: most values are decided by their length alone.
  if (typeof value !== "string" || value.length * 3 <= limit) return undefined;
  const bytes = Buffer.byteLength(value, "utf8");
  return bytes > limit ? bytes : undefined;
}

/** Adds the event's own weather context (either shape may carry `weather`). */
function attachWeather(event: HaEvent, weather: unknown, limits: EventLimits): ParseResult {
  if (weather === undefined || weather === null) return { ok: true, event };
  const id = event.entityId;
  if (!isObject(weather)) return reject("invalid_weather", id);
  const reading: WeatherReading = {};
  for (const key of ["temperature", "humidity", "pressure"] as const) {
    const value = weather[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      return reject("invalid_weather", id, `weather.${key} must be a finite number`);
    }
    reading[key] = value;
  }
  const condition = weather.condition;
  if (condition !== undefined && condition !== null) {
    if (typeof condition !== "string") return reject("invalid_weather", id, "weather.condition must be a string");
    const bytes = oversizeBytes(condition, limits.maxTagValueBytes);
    if (bytes !== undefined) {
      return reject(
        "tag_too_long",
        id,
        `weather.condition is ${bytes} bytes; a tag value may have at most ${limits.maxTagValueBytes} (limits.maxTagValueBytes)`,
      );
    }
    reading.condition = condition;
  }
  event.weather = reading;
  return { ok: true, event };
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/** The time of an optional timestamp field: `fallbackUs` when absent, NaN when unreadable. */
function timeOrFallback(value: unknown, fallbackUs: number, clock: ZoneClock): number {
  return value === undefined ? fallbackUs : parseTimestampUs(value, clock);
}

function reject(reason: RejectReason, entityId?: string, message: string = REJECT_REASONS[reason]): ParseResult {
  return entityId === undefined
    ? { ok: false, status: "rejected", reason, message }
    : { ok: false, status: "rejected", reason, message, entityId };
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Microseconds since the epoch of an ISO 8601 date-time, or NaN. Accepted: `YYYY-MM-DD`, `T` (or a
 * space), `hh:mm`, optional `:ss` with an optional fraction of up to 9 digits (`.` or `,`), and an
 * optional zone `Z`, `±hh`, `±hhmm` or `±hh:mm`. A time without a zone is wall-clock time in the
 * configured zone (Python's naive `isoformat()`). Home Assistant writes microseconds, which
 * `Date.parse` would cut to milliseconds; and a regular expression plus `Date.parse` cost a large share
 * of the per-event budget, so the string is read by hand, digit by digit.
 */
export function parseTimestampUs(value: unknown, clock: ZoneClock): number {
  if (typeof value !== "string" || value.length < 16) return NaN;
  const year = digits(value, 0, 4);
  const month = digits(value, 5, 2);
  const day = digits(value, 8, 2);
  const hour = digits(value, 11, 2);
  const minute = digits(value, 14, 2);
  const separator = value.charCodeAt(10);
  if (
    value.charCodeAt(4) !== 45 ||
    value.charCodeAt(7) !== 45 ||
    value.charCodeAt(13) !== 58 ||
    (separator !== 84 && separator !== 116 && separator !== 32) ||
    !(month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && hour <= 23 && minute <= 59)
  ) {
    return NaN;
  }
  let at = 16;
  let second = 0;
  let fractionUs = 0;
  if (value.charCodeAt(at) === 58) {
    second = digits(value, 17, 2);
    if (!(second <= 59)) return NaN;
    at = 19;
    const mark = value.charCodeAt(at);
    if (mark === 46 || mark === 44) {
      const start = ++at;
      while (at < value.length && at - start < 9 && isDigit(value.charCodeAt(at))) {
        if (at - start < 6) fractionUs = fractionUs * 10 + (value.charCodeAt(at) - 48);
        at++;
      }
      if (at === start) return NaN;
      for (let place = Math.min(at - start, 6); place < 6; place++) fractionUs *= 10;
    }
  }
  const wallMs = Date.UTC(year, month - 1, day, hour, minute, second);
  if (at === value.length) return clock.wallClockToUtc(wallMs) * 1000 + fractionUs;
  const zone = value.charCodeAt(at);
  let offsetMinutes: number;
  if ((zone === 90 || zone === 122) && at + 1 === value.length) {
    offsetMinutes = 0;
  } else if (zone === 43 || zone === 45) {
    const rest = value.length - at - 1;
    const hours = digits(value, at + 1, 2);
    let minutes = 0;
    if (rest === 5 && value.charCodeAt(at + 3) === 58) minutes = digits(value, at + 4, 2);
    else if (rest === 4) minutes = digits(value, at + 3, 2);
    else if (rest !== 2) return NaN;
    if (!(hours <= 23 && minutes <= 59)) return NaN;
    offsetMinutes = (zone === 45 ? -1 : 1) * (hours * 60 + minutes);
  } else {
    return NaN;
  }
  return (wallMs - offsetMinutes * 60_000) * 1000 + fractionUs;
}

/** The number in `count` decimal digits at `from`, or NaN (which fails every range check). */
function digits(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return NaN;
    value = value * 10 + (c - 48);
  }
  return value;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Incoming events: the two shapes the writer accepts, their zod schemas (the documented contract) and
 * the hand-written parser the pipeline runs per event.
 *
 * Why two implementations: the throughput target leaves ~6 µs per event for the whole pipeline and a
 * zod parse of one event costs about 1.5 µs of it. `parseEvent` applies exactly the rules of
 * `IncomingEventSchema` (a table test holds them equal) without building zod's intermediate objects.
 *
 * Shapes:
 * - Home Assistant `state_changed`: `{ entity_id, old_state, new_state }` (the event's `data`), or the
 *   whole event `{ event_type: "state_changed", data: {...} }`. Each state is
 *   `{ entity_id, state, attributes, last_changed, last_updated }`.
 *   Sources may add the flat shape's `weather` object to it.
 * - Flat enriched (the specification's): `{ entity_id, state, attributes?, timestamp?,
 *   weather?: { temperature?, humidity?, pressure?, condition? } }`.
 */
import { z } from "zod";
import { ENTITY_ID_PATTERN } from "./config";
import type { ZoneClock } from "./timezone";

/** Home Assistant caps a state at 255 characters; anything longer is not a state. */
export const MAX_STATE_LENGTH = 255;

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
  invalid_entity_id: "entity_id is not of the form domain.object_id (lower-case letters, digits, _)",
  missing_state: "state is missing",
  invalid_state: "state must be a string, a finite number or a boolean of at most 255 characters",
  invalid_attributes: "attributes must be an object",
  invalid_timestamp: "the timestamp is not an ISO 8601 date-time",
  invalid_old_state: "old_state must be null or a state object with a string state",
  invalid_weather: "weather must be an object of finite numbers and a condition string",
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
// zod schemas: the contract, used by tests, documentation and any caller that wants zod's issues.

const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

const isoTimestamp = z.string().refine((value) => isValidCalendarTime(ISO_DATE_TIME.exec(value)) && !Number.isNaN(Date.parse(normaliseIso(value))));
const attributes = z.record(z.string(), z.unknown());
const entityId = z.string().regex(ENTITY_ID_PATTERN);
const finiteOrNull = z.number().finite().nullable().optional();

const haState = z.looseObject({
  entity_id: entityId.optional(),
  state: z.string().max(MAX_STATE_LENGTH),
  attributes: attributes.optional(),
  last_changed: isoTimestamp.optional(),
  last_updated: isoTimestamp.optional(),
});

const weatherSchema = z
  .looseObject({
    temperature: finiteOrNull,
    humidity: finiteOrNull,
    pressure: finiteOrNull,
    condition: z.string().nullable().optional(),
  })
  .nullable()
  .optional();

/** `state_changed` event data as Home Assistant sends it (a source may add `weather` context). */
export const StateChangedSchema = z
  .looseObject({
    entity_id: entityId.optional(),
    old_state: z.looseObject({ state: z.string(), last_changed: isoTimestamp.optional() }).nullable().optional(),
    new_state: haState.nullable(),
    weather: weatherSchema,
  })
  .refine((data) => (data.entity_id ?? data.new_state?.entity_id) !== undefined, { message: "entity_id is missing" })
  .refine((data) => data.entity_id === undefined || data.new_state?.entity_id === undefined || data.entity_id === data.new_state.entity_id, {
    message: "entity_id and new_state.entity_id differ",
  });

/** The specification's flat enriched event. */
export const FlatEventSchema = z.looseObject({
  entity_id: entityId,
  state: z.union([z.string().max(MAX_STATE_LENGTH), z.number().finite(), z.boolean()]),
  attributes: attributes.optional(),
  timestamp: isoTimestamp.optional(),
  weather: weatherSchema,
});

/** Any accepted incoming event (the whole `state_changed` envelope included). */
export const IncomingEventSchema = z.union([
  z.looseObject({ event_type: z.literal("state_changed"), data: StateChangedSchema }),
  StateChangedSchema,
  FlatEventSchema,
]);

// ---------------------------------------------------------------------------------------------------
// The hand-written parser.

type Json = Record<string, unknown>;

/** Validates one raw event and brings it into the internal shape. */
export function parseEvent(raw: unknown, receivedUs: number, clock: ZoneClock): ParseResult {
  if (!isObject(raw)) return reject("not_an_object");
  let body: Json = raw;
  if (body.event_type !== undefined) {
    if (body.event_type !== "state_changed" || !isObject(body.data)) {
      return reject("unknown_shape", undefined, `event_type ${JSON.stringify(body.event_type)} is not a state_changed event with data`);
    }
    body = body.data;
  }
  if ("new_state" in body) return parseStateChanged(body, receivedUs, clock);
  if ("state" in body || "entity_id" in body) return parseFlat(body, receivedUs, clock);
  return reject("unknown_shape");
}

function parseStateChanged(data: Json, receivedUs: number, clock: ZoneClock): ParseResult {
  const outer = data.entity_id;
  const newState = data.new_state;
  const inner = isObject(newState) ? newState.entity_id : undefined;
  const id = outer ?? inner;
  if (id === undefined) return reject("missing_entity_id");
  if (!isEntityId(id) || (inner !== undefined && inner !== id)) {
    return reject("invalid_entity_id", typeof id === "string" ? id : undefined);
  }
  if (newState === null) {
    return { ok: false, status: "filtered", reason: "entity_removed", message: FILTER_REASONS.entity_removed, entityId: id };
  }
  if (!isObject(newState)) return reject("missing_state", id, "new_state must be a state object");
  const state = newState.state;
  if (state === undefined) return reject("missing_state", id);
  if (typeof state !== "string" || state.length > MAX_STATE_LENGTH) return reject("invalid_state", id);
  const attrs = newState.attributes;
  if (attrs !== undefined && !isObject(attrs)) return reject("invalid_attributes", id);

  let timeUs = receivedUs;
  let timeFromReceipt = true;
  const stamp = newState.last_updated ?? newState.last_changed;
  for (const key of ["last_changed", "last_updated"] as const) {
    if (newState[key] !== undefined && Number.isNaN(parseTimestampUs(newState[key], clock))) {
      return reject("invalid_timestamp", id, `new_state.${key} is not an ISO 8601 date-time`);
    }
  }
  if (stamp !== undefined) {
    timeUs = parseTimestampUs(stamp, clock);
    timeFromReceipt = false;
  }

  const event: HaEvent = { entityId: id, domain: domainOf(id), state, attributes: attrs ?? EMPTY, timeUs, timeFromReceipt };
  const old = data.old_state;
  if (old !== undefined && old !== null) {
    if (!isObject(old) || typeof old.state !== "string") return reject("invalid_old_state", id);
    event.previousState = old.state;
    if (old.last_changed !== undefined) {
      const changed = parseTimestampUs(old.last_changed, clock);
      if (Number.isNaN(changed)) return reject("invalid_old_state", id, "old_state.last_changed is not an ISO 8601 date-time");
      event.previousChangedUs = changed;
    }
  }
  return attachWeather(event, data.weather);
}

function parseFlat(body: Json, receivedUs: number, clock: ZoneClock): ParseResult {
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

  let timeUs = receivedUs;
  let timeFromReceipt = true;
  if (body.timestamp !== undefined) {
    timeUs = parseTimestampUs(body.timestamp, clock);
    if (Number.isNaN(timeUs)) return reject("invalid_timestamp", id);
    timeFromReceipt = false;
  }
  const event: HaEvent = { entityId: id, domain: domainOf(id), state, attributes: attrs ?? EMPTY, timeUs, timeFromReceipt };

  return attachWeather(event, body.weather);
}

/** Adds the event's own weather context (either shape may carry `weather`). */
function attachWeather(event: HaEvent, weather: unknown): ParseResult {
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
    reading.condition = condition;
  }
  event.weather = reading;
  return { ok: true, event };
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

function reject(reason: RejectReason, entityId?: string, message: string = REJECT_REASONS[reason]): ParseResult {
  return entityId === undefined
    ? { ok: false, status: "rejected", reason, message }
    : { ok: false, status: "rejected", reason, message, entityId };
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Same rule as `ENTITY_ID_PATTERN`, by character codes: this runs for every event. */
export function isEntityId(value: unknown): value is string {
  if (typeof value !== "string") return false;
  const length = value.length;
  let dot = -1;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c === 46) {
      if (dot !== -1) return false;
      dot = i;
    } else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95)) {
      return false;
    }
  }
  return dot > 0 && dot < length - 1;
}

/** The domain of a valid entity id. */
export function domainOf(entityId: string): string {
  return entityId.slice(0, entityId.indexOf("."));
}

/**
 * Microseconds since the epoch of an ISO 8601 date-time, or NaN. Home Assistant writes microseconds
 * (`2024-05-01T12:00:00.123456+00:00`); `Date.parse` keeps only milliseconds, so the fourth to sixth
 * fractional digits are added here. A time without an offset is wall-clock time in the configured zone.
 */
export function parseTimestampUs(value: unknown, clock: ZoneClock): number {
  if (typeof value !== "string") return NaN;
  const match = ISO_DATE_TIME.exec(value);
  if (!isValidCalendarTime(match)) return NaN;
  const naive = match[8] === undefined;
  const zone = match[8];
  // Home Assistant's own form (`T`, seconds, `+hh:mm` or `Z`) is read by Date.parse as it is.
  const direct = zone !== undefined && value.charCodeAt(10) === 84 && match[6] !== undefined && (zone.length === 6 || zone === "Z");
  const ms = Date.parse(direct ? value : normaliseIso(value, match));
  if (Number.isNaN(ms)) return NaN;
  const fraction = match[7] ?? "";
  const extraUs = fraction.length > 3 ? Number(fraction.slice(3, 6).padEnd(3, "0")) : 0;
  return (naive ? clock.wallClockToUtc(ms) : ms) * 1000 + extraUs;
}

/** Rejects what `Date.parse` would roll over (February 30th, 24:00, minute 60). */
function isValidCalendarTime(match: RegExpExecArray | null): match is RegExpExecArray {
  if (match === null) return false;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (month < 1 || month > 12 || day < 1 || Number(match[4]) > 23 || Number(match[5]) > 59 || Number(match[6] ?? 0) > 59) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The ISO string in the form `Date.parse` reads exactly, read as UTC when it has no offset. */
function normaliseIso(value: string, match: RegExpExecArray | null = ISO_DATE_TIME.exec(value)): string {
  if (match === null) return "invalid";
  const [, year, month, day, hour, minute, second = "00", fraction = "", zone] = match;
  let offset = zone === undefined ? "Z" : zone.toUpperCase();
  if (offset !== "Z" && offset.length === 3) offset += ":00";
  else if (offset !== "Z" && offset.length === 5) offset = `${offset.slice(0, 3)}:${offset.slice(3)}`;
  const millis = fraction.slice(0, 3).padEnd(3, "0");
  return `${year}-${month}-${day}T${hour}:${minute}:${second}.${millis}${offset}`;
}

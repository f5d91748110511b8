/** The mapping table: events → measurement, tags and fields; normalisation; time of day. */
import { describe, expect, it } from "vitest";
import { type HaEvent, parseEvent } from "../src/events";
import { mapEvent, TagCache, timeOfDay } from "../src/mapping";
import { normalizedText, normalizeState } from "../src/normalize";
import { ZoneClock } from "../src/timezone";

const clock = new ZoneClock("Europe/Berlin");

function event(raw: Record<string, unknown>): HaEvent {
  const parsed = parseEvent(raw, 0, clock);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.event;
}

/** Splits a line `measurement,tags fields` into its parts for readable assertions. */
function parts(line: string): { measurement: string; tags: Record<string, string>; fields: Record<string, string> } {
  const [key, fieldText] = line.split(/(?<!\\) /) as [string, string];
  const [measurement, ...tagPairs] = key.split(/(?<!\\),/);
  const tags = Object.fromEntries(tagPairs.map((pair) => pair.split(/(?<!\\)=/) as [string, string]));
  const fields = Object.fromEntries(
    fieldText
      .split(/,(?=[a-z_]+=)/)
      .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
  );
  return { measurement: measurement!, tags, fields };
}

describe("mapping table", () => {
  it.each<[string, Record<string, unknown>, Record<string, string>, Record<string, string>]>([
    [
      "a temperature sensor (number as float, unit, device class, device name; friendly_name is no tag)",
      {
        entity_id: "sensor.living_room_temperature",
        state: "21.5",
        attributes: {
          friendly_name: "Living room temperature",
          device_name: "Living room temperature",
          device_class: "temperature",
          unit_of_measurement: "°C",
        },
        timestamp: "2026-06-01T08:30:00+00:00",
      },
      {
        device_class: "temperature",
        device_name: "Living\\ room\\ temperature",
        domain: "sensor",
        entity_id: "sensor.living_room_temperature",
        time_of_day: "morning",
      },
      { normalized_value: "21.5", state_value: '"21.5"', unit_of_measurement: '"°C"' },
    ],
    [
      "a light switched on (on → 1, previous state and duration from old_state)",
      {
        entity_id: "light.kitchen",
        old_state: { state: "off", last_changed: "2026-06-01T18:00:00+00:00" },
        new_state: {
          state: "on",
          attributes: { friendly_name: "Kitchen", device_name: "Kitchen" },
          last_changed: "2026-06-01T18:01:30.5+00:00",
          last_updated: "2026-06-01T18:01:30.5+00:00",
        },
      },
      { device_name: "Kitchen", domain: "light", entity_id: "light.kitchen", time_of_day: "evening" },
      { duration_seconds: "90.500000", normalized_value: "1", previous_state: '"off"', state_value: '"on"' },
    ],
    [
      "an unavailable sensor (state kept, no normalized value)",
      { entity_id: "sensor.outdoor", state: "unavailable", timestamp: "2026-06-01T01:00:00Z" },
      { domain: "sensor", entity_id: "sensor.outdoor", time_of_day: "night" },
      { state_value: '"unavailable"' },
    ],
    [
      "a door with area, integration, confidence and weather context",
      {
        entity_id: "binary_sensor.front_door",
        state: "open",
        attributes: { area: "Hall", integration: "zha", confidence: 0.9, device_class: "door" },
        timestamp: "2026-06-01T13:00:00Z",
        weather: { temperature: 18.5, humidity: 70, pressure: 1013, condition: "rainy" },
      },
      {
        area: "Hall",
        device_class: "door",
        domain: "binary_sensor",
        entity_id: "binary_sensor.front_door",
        integration: "zha",
        time_of_day: "afternoon",
        weather_condition: "rainy",
      },
      {
        confidence: "0.9",
        normalized_value: "1",
        state_value: '"open"',
        weather_humidity: "70",
        weather_pressure: "1013",
        weather_temp: "18.5",
      },
    ],
    [
      "an integer count (still a float: no i suffix)",
      { entity_id: "counter.visits", state: "42", timestamp: "2026-06-01T10:00:00Z" },
      { domain: "counter", entity_id: "counter.visits", time_of_day: "afternoon" },
      { normalized_value: "42", state_value: '"42"' },
    ],
  ])("%s", (_name, raw, tags, fields) => {
    const line = mapEvent(event(raw), { clock });
    const mapped = parts(line);
    expect(mapped.measurement).toBe("home_assistant_events");
    expect(mapped.tags).toEqual(tags);
    expect(mapped.fields).toEqual(fields);
  });

  it("omits a tag whose value is nothing but backslashes (InfluxDB cannot store one)", () => {
    const line = mapEvent(
      event({
        entity_id: "switch.a",
        state: "on",
        attributes: { device_name: "\\" },
        timestamp: "2026-06-01T10:00:00Z",
      }),
      { clock },
    );
    expect(line).not.toContain("device_name");
  });

  it("omits empty tags and writes tags in sorted order", () => {
    const line = mapEvent(
      event({
        entity_id: "switch.a",
        state: "on",
        attributes: { device_name: "", device_class: "outlet", area: "Office" },
        timestamp: "2026-06-01T10:00:00Z",
      }),
      { clock },
    );
    expect(
      line.startsWith(
        "home_assistant_events,area=Office,device_class=outlet,domain=switch,entity_id=switch.a,time_of_day=",
      ),
    ).toBe(true);
    expect(line).not.toContain("device_name");
  });

  it("escapes special characters in names and text values", () => {
    const line = mapEvent(
      event({
        entity_id: "sensor.x",
        state: 'a "quoted"\nstate',
        attributes: { device_name: "Bob's, room=1" },
        timestamp: "2026-06-01T10:00:00Z",
      }),
      { clock },
    );
    expect(line).toContain("device_name=Bob's\\,\\ room\\=1");
    expect(line).toContain('state_value="a \\"quoted\\"\\\\nstate"');
    expect(line.includes("\n")).toBe(false);
  });

  it("takes previous state and duration from the writer's memory when the event carries none", () => {
    const line = mapEvent(event({ entity_id: "sensor.t", state: "2", timestamp: "2026-06-01T10:00:10Z" }), {
      clock,
      previousState: "1",
      previousChangedUs: Date.UTC(2026, 5, 1, 10, 0, 0) * 1000,
    });
    expect(parts(line).fields).toMatchObject({ previous_state: '"1"', duration_seconds: "10" });
  });

  it("writes the weather entity's context as fields only: a tag from writer-side context would split a state's series", () => {
    const line = mapEvent(event({ entity_id: "sensor.t", state: "2", timestamp: "2026-06-01T10:00:00Z" }), {
      clock,
      weather: { temperature: 3, condition: "snowy" },
    });
    expect(parts(line).tags.weather_condition).toBeUndefined();
    expect(parts(line).fields.weather_temp).toBe("3");
  });

  it("gives a weather entity its own reading, condition as a tag, never the context's", () => {
    const line = mapEvent(event({ entity_id: "weather.other", state: "fog", timestamp: "2026-06-01T10:00:00Z" }), {
      clock,
      ownWeather: { condition: "fog", temperature: 1 },
      weather: { temperature: 3, condition: "snowy" },
    });
    expect(parts(line).tags.weather_condition).toBe("fog");
    expect(parts(line).fields.weather_temp).toBe("1");
  });
});

describe("normalized_value", () => {
  it.each<[string, number | undefined]>([
    ["on", 1],
    ["off", 0],
    ["ON", 1],
    ["open", 1],
    ["closed", 0],
    ["home", 1],
    ["not_home", 0],
    ["locked", 1],
    ["unlocked", 0],
    ["detected", 1],
    ["clear", 0],
    ["true", 1],
    ["false", 0],
    ["yes", 1],
    ["no", 0],
    ["active", 1],
    ["inactive", 0],
    ["connected", 1],
    ["disconnected", 0],
    ["wet", 1],
    ["dry", 0],
    ["occupied", 1],
    ["unoccupied", 0],
    ["21.5", 21.5],
    ["-3", -3],
    ["+4", 4],
    ["1e3", 1000],
    [".5", 0.5],
    ["0", 0],
    ["unknown", undefined],
    ["unavailable", undefined],
    ["", undefined],
    ["NaN", undefined],
    ["nan", undefined],
    ["inf", undefined],
    ["Infinity", undefined],
    ["-Infinity", undefined],
    ["1e999", undefined],
    ["0x1f", undefined],
    [" 1 ", undefined],
    ["12 kWh", undefined],
    ["constructor", undefined],
    ["toString", undefined],
    ["sunny", undefined],
  ])("%j → %j", (state, expected) => {
    expect(normalizeState(state)).toBe(expected);
  });
});

describe("time_of_day in the configured zone", () => {
  it.each([
    [0, "night"],
    [5, "night"],
    [6, "morning"],
    [11, "morning"],
    [12, "afternoon"],
    [17, "afternoon"],
    [18, "evening"],
    [23, "evening"],
  ])("local hour %d is %s", (hour, expected) => {
    expect(timeOfDay(hour)).toBe(expected);
  });

  it("follows daylight saving time", () => {
    // 05:30 UTC is 06:30 in Berlin in winter (morning) … and 07:30 in summer; 04:30 UTC is night in winter, morning in summer.
    expect(clock.hourAt(Date.UTC(2026, 0, 15, 4, 30))).toBe(5);
    expect(clock.hourAt(Date.UTC(2026, 6, 15, 4, 30))).toBe(6);
    expect(new ZoneClock("UTC").hourAt(Date.UTC(2026, 6, 15, 4, 30))).toBe(4);
    expect(new ZoneClock("Asia/Kolkata").hourAt(Date.UTC(2026, 6, 15, 4, 30))).toBe(10);
  });
});

describe("mapping details", () => {
  const at = "2026-06-01T10:00:00Z";
  const map = (raw: Record<string, unknown>, context: Partial<Parameters<typeof mapEvent>[1]> = {}) =>
    parts(mapEvent(event({ entity_id: "sensor.t", state: "x", timestamp: at, ...raw }), { clock, ...context }));

  it("takes area from area_id and integration from platform when the first names are missing", () => {
    expect(map({ attributes: { area_id: "hall", platform: "mqtt" } }).tags).toMatchObject({
      area: "hall",
      integration: "mqtt",
    });
    expect(
      map({ attributes: { area: "Hall", area_id: "hall", integration: "zha", platform: "mqtt" } }).tags,
    ).toMatchObject({
      area: "Hall",
      integration: "zha",
    });
  });

  it("writes a finite number attribute as tag text and leaves out anything else that is not text", () => {
    expect(map({ attributes: { device_class: 5 } }).tags.device_class).toBe("5");
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, true, { a: 1 }, null]) {
      expect(map({ attributes: { device_class: value, unit_of_measurement: value } })).toMatchObject({
        tags: expect.not.objectContaining({ device_class: expect.anything() }),
        fields: expect.not.objectContaining({ unit_of_measurement: expect.anything() }),
      });
    }
  });

  it("writes confidence only when it is a finite number", () => {
    expect(map({ attributes: { confidence: 0.25 } }).fields.confidence).toBe("0.25");
    for (const confidence of ["0.9", Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(map({ attributes: { confidence } }).fields.confidence).toBeUndefined();
    }
  });

  it("writes the duration of the previous state, zero included, and none when the clocks disagree", () => {
    const eventUs = Date.parse(at) * 1000;
    expect(map({}, { previousState: "y", previousChangedUs: eventUs }).fields.duration_seconds).toBe("0");
    expect(map({}, { previousState: "y", previousChangedUs: eventUs - 1_000_001 }).fields.duration_seconds).toBe(
      "1.000001",
    );
    expect(map({}, { previousState: "y", previousChangedUs: eventUs + 1 }).fields.duration_seconds).toBeUndefined();
  });

  it("never mixes an event's own previous state with the writer's memory of when another one began", () => {
    const line = mapEvent(
      event({
        entity_id: "light.a",
        old_state: { state: "off" },
        new_state: { state: "on", last_changed: at, last_updated: at },
      }),
      { clock, previousState: "unknown", previousChangedUs: Date.parse(at) * 1000 - 5_000_000 },
    );
    expect(parts(line).fields).toMatchObject({ previous_state: '"off"' });
    expect(parts(line).fields.duration_seconds).toBeUndefined();
  });

  it("writes only the finite weather numbers and no condition tag for an empty condition", () => {
    const mapped = map({}, { ownWeather: { temperature: 2, humidity: Number.NaN, condition: "" } });
    expect(mapped.fields).toMatchObject({ weather_temp: "2" });
    expect(mapped.fields.weather_humidity).toBeUndefined();
    expect(mapped.fields.weather_pressure).toBeUndefined();
    expect(mapped.tags.weather_condition).toBeUndefined();
  });

  it("writes fields in key order, each once, with unit and weather after the state", () => {
    const line = mapEvent(
      event({
        entity_id: "sensor.t",
        state: "3",
        attributes: { confidence: 1, unit_of_measurement: "W" },
        timestamp: at,
        weather: { temperature: 1, humidity: 2, pressure: 3 },
      }),
      { clock, previousState: "2", previousChangedUs: Date.parse(at) * 1000 - 2_000_000 },
    );
    expect(line.slice(line.indexOf(" ") + 1)).toBe(
      'confidence=1,duration_seconds=2,normalized_value=3,previous_state="2",state_value="3",unit_of_measurement="W",weather_humidity=2,weather_pressure=3,weather_temp=1',
    );
  });

  it("the tag cache gives the same line as building it afresh, and rebuilds it when any tag attribute changes", () => {
    const tagCache = new TagCache();
    const attributes = { area: "Hall", device_class: "power", device_name: "Plug", integration: "zha" };
    const line = (changed: Record<string, unknown> = {}) =>
      mapEvent(event({ entity_id: "sensor.p", state: "1", timestamp: at, attributes: { ...attributes, ...changed } }), {
        clock,
        tagCache,
      });
    const fresh = (changed: Record<string, unknown> = {}) =>
      mapEvent(event({ entity_id: "sensor.p", state: "1", timestamp: at, attributes: { ...attributes, ...changed } }), {
        clock,
      });
    expect(line()).toBe(fresh());
    expect(line()).toBe(fresh());
    const bare = event({ entity_id: "sensor.bare", state: "1", timestamp: at });
    expect(mapEvent(bare, { clock, tagCache })).toBe(mapEvent(bare, { clock }));
    expect(mapEvent(bare, { clock, tagCache })).toBe(mapEvent(bare, { clock }));
    for (const changed of [
      { area: "Attic" },
      { device_class: "energy" },
      { device_name: "Lamp" },
      { integration: "hue" },
    ]) {
      expect(line(changed)).toBe(fresh(changed));
      expect(line()).toBe(fresh());
    }
  });
});

describe("normalized_value as line-protocol text", () => {
  it.each<[string, string | undefined]>([
    ["21.5", "21.5"],
    ["-3", "-3"],
    ["0", "0"],
    ["0.25", "0.25"],
    ["123456789012345", "123456789012345"],
    ["+4", "4"],
    ["007", "7"],
    ["1e3", "1000"],
    [".5", "0.5"],
    ["5.", "5"],
    ["1.50", "1.50"],
    ["-0.0", "-0.0"],
    ["on", "1"],
    ["Off", "0"],
    ["unknown", undefined],
    ["1e999", undefined],
    ["", undefined],
  ])("%j → %j", (state, expected) => {
    expect(normalizedText(state)).toBe(expected);
  });
});

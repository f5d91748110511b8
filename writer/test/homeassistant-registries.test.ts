import { describe, expect, it } from "vitest";
import { parseTimestampUs } from "../src/events";
import { historyEvents, isoFromMicros, secondsToMicros } from "../src/sources/haHistory";
import { Registries } from "../src/sources/haRegistries";
import { ZoneClock } from "../src/timezone";
import { WeatherTimeline, weatherReadingOf } from "../src/weather";

describe("registry enrichment", () => {
  const registries = new Registries();
  registries.replace("areas", [
    { area_id: "k", name: "Kitchen" },
    { area_id: "h", name: "Hall" },
  ]);
  registries.replace("devices", [
    { id: "d1", area_id: "k", name: "Hue bulb", name_by_user: null },
    { id: "d2", area_id: null, name: "Plug", name_by_user: "Coffee machine" },
    { id: "d3", area_id: "gone", name: "", name_by_user: "" },
  ]);
  registries.replace("entities", [
    { entity_id: "light.a", device_id: "d1", area_id: null, platform: "hue" },
    { entity_id: "light.b", device_id: "d1", area_id: "h", platform: "hue" },
    { entity_id: "switch.c", device_id: "d2", platform: "tplink" },
    { entity_id: "sensor.d", device_id: null, area_id: "k", platform: "template" },
    { entity_id: "sensor.e", device_id: "d3", platform: "mqtt" },
  ]);

  it.each([
    ["the device's area and name", "light.a", { area: "Kitchen", device_name: "Hue bulb", integration: "hue" }],
    [
      "the entity's own area over its device's",
      "light.b",
      { area: "Hall", device_name: "Hue bulb", integration: "hue" },
    ],
    ["name_by_user over name; no area", "switch.c", { device_name: "Coffee machine", integration: "tplink" }],
    ["no device: no device name", "sensor.d", { area: "Kitchen", integration: "template" }],
    ["an unknown area and empty names: nothing", "sensor.e", { integration: "mqtt" }],
    ["not in the registry: nothing", "sensor.unknown", {}],
  ])("%s", (_name, entityId, expected) => {
    expect(registries.of(entityId)).toEqual(expected);
  });

  it("survives the cache: snapshot and restore give the same answers", () => {
    const restored = new Registries();
    restored.restore(JSON.parse(JSON.stringify(registries.snapshot())));
    expect(restored.of("light.b")).toEqual(registries.of("light.b"));
    expect(restored.of("switch.c")).toEqual(registries.of("switch.c"));
  });

  it("refuses a list of the wrong shape with zod's error", () => {
    expect(() => new Registries().replace("areas", [{ name: "no id" }])).toThrow(/area_id/);
  });
});

describe("history backfill", () => {
  const utc = new ZoneClock("UTC");

  it("writes Home Assistant's float seconds back as the microsecond ISO times of live events", () => {
    const us = Date.UTC(2026, 11, 2, 6, 12, 6) * 1000 + 434078;
    expect(isoFromMicros(us)).toBe("2026-12-02T06:12:06.434078+00:00");
    expect(secondsToMicros(us / 1e6)).toBe(us);
    expect(parseTimestampUs(isoFromMicros(us), utc)).toBe(us);
  });

  it("turns the compressed answer into state_changed data in time order, weather first on ties", () => {
    const events = historyEvents({
      "sensor.a": [
        { s: "1", a: { unit_of_measurement: "W" }, lu: 100.5 },
        { s: "2", lu: 102, lc: 101 },
      ],
      "weather.home": [{ s: "sunny", lu: 102 }],
    });
    expect(
      events.map((e) => [e.entity_id, e.new_state.state, e.new_state.last_updated, e.new_state.last_changed]),
    ).toEqual([
      ["sensor.a", "1", "1970-01-01T00:01:40.500000+00:00", "1970-01-01T00:01:40.500000+00:00"],
      ["weather.home", "sunny", "1970-01-01T00:01:42.000000+00:00", "1970-01-01T00:01:42.000000+00:00"],
      ["sensor.a", "2", "1970-01-01T00:01:42.000000+00:00", "1970-01-01T00:01:41.000000+00:00"],
    ]);
    expect(events[0]!.new_state.attributes).toEqual({ unit_of_measurement: "W" });
    expect(events.every((e) => e.old_state === null)).toBe(true);
  });
});

describe("weather readings", () => {
  it.each([
    [
      "°C and hPa as they are",
      { temperature: 21.5, pressure: 1013, temperature_unit: "°C", pressure_unit: "hPa" },
      { temperature: 21.5, pressure: 1013 },
    ],
    [
      "°F and inHg converted",
      { temperature: 50, pressure: 30, temperature_unit: "°F", pressure_unit: "inHg" },
      { temperature: 10, pressure: 1015.92 },
    ],
    [
      "K and kPa converted",
      { temperature: 273.15, pressure: 101.3, temperature_unit: "K", pressure_unit: "kPa" },
      { temperature: 0, pressure: 1013 },
    ],
    ["mmHg and psi", { pressure: 760, pressure_unit: "mmHg" }, { pressure: 1013.25 }],
    ["no unit attributes: metric", { temperature: 3, pressure: 990 }, { temperature: 3, pressure: 990 }],
  ])("%s", (_name, attributes, expected) => {
    expect(weatherReadingOf("cloudy", attributes).reading).toMatchObject({ condition: "cloudy", ...expected });
  });

  it("leaves out values in units it does not know, and says which", () => {
    const { reading, unknownUnits } = weatherReadingOf("fog", {
      temperature: 1,
      pressure: 1,
      temperature_unit: "°Ra",
      pressure_unit: "atm",
      humidity: 90,
    });
    expect(reading).toEqual({ condition: "fog", humidity: 90 });
    expect(unknownUnits).toEqual(['temperature_unit "°Ra"', 'pressure_unit "atm"']);
  });

  it("has no reading while the weather entity is unavailable", () => {
    expect(weatherReadingOf("unavailable", { temperature: 1 }).reading).toBeUndefined();
  });

  it("answers the reading current at a time, not the latest", () => {
    const timeline = new WeatherTimeline(3_600_000_000);
    timeline.record(2_000_000, { condition: "rainy" });
    timeline.record(1_000_000, { condition: "sunny" });
    timeline.record(3_000_000, undefined);
    expect(timeline.at(500_000)).toBeUndefined();
    expect(timeline.at(1_500_000)).toEqual({ condition: "sunny" });
    expect(timeline.at(2_000_000)).toEqual({ condition: "rainy" });
    expect(timeline.at(3_500_000)).toBeUndefined();
    expect(new WeatherTimeline(1000).at(0)).toBeUndefined();
  });
});

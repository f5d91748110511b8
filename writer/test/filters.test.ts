/** Include/exclude filters with Home Assistant's semantics, and routing. */
import { describe, expect, it } from "vitest";
import { type FilterSelector, resolveConfig } from "../src/config";
import { EntityFilter, globToRegExp } from "../src/filters";
import { Router } from "../src/routing";

const selector = (partial: Partial<FilterSelector> = {}): FilterSelector => ({
  entities: [],
  domains: [],
  entityGlobs: [],
  ...partial,
});
const passes = (include: Partial<FilterSelector>, exclude: Partial<FilterSelector>, entityId: string) =>
  new EntityFilter({ include: selector(include), exclude: selector(exclude) }).passes(
    entityId,
    entityId.split(".")[0]!,
  );

describe("entity filters, as Home Assistant applies them", () => {
  it.each<[string, Partial<FilterSelector>, Partial<FilterSelector>, string, boolean]>([
    ["no filter: everything", {}, {}, "sensor.a", true],
    ["include domain", { domains: ["light"] }, {}, "light.kitchen", true],
    ["include domain: others fail", { domains: ["light"] }, {}, "sensor.a", false],
    ["include entity", { entities: ["sensor.a"] }, {}, "sensor.a", true],
    ["include glob", { entityGlobs: ["sensor.*_temperature"] }, {}, "sensor.hall_temperature", true],
    ["include glob: others fail", { entityGlobs: ["sensor.*_temperature"] }, {}, "sensor.hall_humidity", false],
    ["exclude domain", {}, { domains: ["automation"] }, "automation.x", false],
    ["exclude domain: others pass", {}, { domains: ["automation"] }, "sensor.a", true],
    ["exclude entity", {}, { entities: ["sensor.noisy"] }, "sensor.noisy", false],
    ["exclude entity: others pass", {}, { entities: ["sensor.noisy"] }, "sensor.quiet", true],
    [
      "two include globs: either matches",
      { entityGlobs: ["light.*", "sensor.*_power"] },
      {},
      "sensor.plug_power",
      true,
    ],
    [
      "include entity + exclude glob: others pass",
      { entities: ["light.a"] },
      { entityGlobs: ["sensor.*_rssi"] },
      "sensor.b",
      true,
    ],
    [
      "include entity + exclude glob: matching entity fails",
      { entities: ["light.a"] },
      { entityGlobs: ["sensor.*_rssi"] },
      "sensor.x_rssi",
      false,
    ],
    ["exclude glob", {}, { entityGlobs: ["sensor.*_rssi"] }, "sensor.phone_rssi", false],
    [
      "include domain + exclude entity: listed entity fails",
      { domains: ["sensor"] },
      { entities: ["sensor.noisy"] },
      "sensor.noisy",
      false,
    ],
    [
      "include domain + exclude glob: matching entity fails",
      { domains: ["sensor"] },
      { entityGlobs: ["sensor.*_rssi"] },
      "sensor.phone_rssi",
      false,
    ],
    [
      "include domain + exclude glob: other sensor passes",
      { domains: ["sensor"] },
      { entityGlobs: ["sensor.*_rssi"] },
      "sensor.a",
      true,
    ],
    [
      "include domain + exclude domain: other domain fails",
      { domains: ["sensor"] },
      { domains: ["light"] },
      "switch.a",
      false,
    ],
    [
      "include entity wins over exclude glob",
      { domains: ["sensor"], entities: ["sensor.keep_rssi"] },
      { entityGlobs: ["sensor.*_rssi"] },
      "sensor.keep_rssi",
      true,
    ],
    [
      "include glob wins over exclude domain",
      { entityGlobs: ["binary_sensor.door_*"] },
      { domains: ["binary_sensor"] },
      "binary_sensor.door_front",
      true,
    ],
    [
      "include entity + exclude domain: listed passes",
      { entities: ["light.a"] },
      { domains: ["light"] },
      "light.a",
      true,
    ],
    [
      "include entity + exclude domain: others of that domain fail",
      { entities: ["light.a"] },
      { domains: ["light"] },
      "light.b",
      false,
    ],
    [
      "include entity + exclude domain: other domains pass",
      { entities: ["light.a"] },
      { domains: ["light"] },
      "sensor.b",
      true,
    ],
    [
      "entities on both sides: only included pass",
      { entities: ["sensor.a"] },
      { entities: ["sensor.b"] },
      "sensor.c",
      false,
    ],
  ])("%s", (_name, include, exclude, entityId, expected) => {
    expect(passes(include, exclude, entityId)).toBe(expected);
  });

  it.each([
    ["sensor.*", "sensor.anything", true],
    ["sensor.*", "light.x", false],
    ["sensor.?_temp", "sensor.a_temp", true],
    ["sensor.?_temp", "sensor.ab_temp", false],
    ["sensor.[ab]_temp", "sensor.b_temp", true],
    ["sensor.[!ab]_temp", "sensor.b_temp", false],
    ["sensor.[!ab]_temp", "sensor.c_temp", true],
    ["light.kitchen", "lightXkitchen", false],
    // Classes as Home Assistant's fnmatch reads them: a `]` first in a class is a member of it …
    ["[]]x", "]x", true],
    ["[]]x", "ax", false],
    ["[!]]x", "ax", true],
    ["[!]]x", "]x", false],
    // … `[!]` and `[` without a closing `]` are literal text …
    ["[!]", "[!]", true],
    ["[!]", "a", false],
    ["sensor.[ab", "sensor.[ab", true],
    ["sensor.[ab", "sensor.a", false],
    // … and only `!` negates: `^` and backslashes are members.
    ["[^a]", "^", true],
    ["[^a]", "b", false],
    ["[!a]", "!", true],
    ["[\\]]", "\\]", true],
    ["[\\]]", "]", false],
  ])("glob %s matches %s: %s", (glob, entityId, expected) => {
    expect(globToRegExp(glob).test(entityId)).toBe(expected);
  });
});

describe("routing", () => {
  const config = resolveConfig(
    {
      influxdb: { url: "http://x:8086", token: "abcd" },
      homeAssistant: { url: "ws://ha:8123", token: "efgh", weatherEntity: "sensor.outdoor_weather" },
      routing: {
        rules: [
          { match: { domains: ["sensor"], entityGlobs: [], entities: [] }, bucket: "sports", mode: "also" },
          { match: { entityGlobs: ["sensor.team_*"] }, bucket: "sports", mode: "instead" },
        ],
      },
    },
    {},
  );
  const router = new Router(config);

  it.each([
    ["light.kitchen", ["home_assistant_events"]],
    ["weather.home", ["home_assistant_events", "weather_data"]],
    ["sensor.outdoor_weather", ["home_assistant_events", "weather_data", "sports_data"]],
    ["sensor.power", ["home_assistant_events", "sports_data"]],
    ["sensor.team_score", ["sports_data"]],
  ])("%s goes to %j", (entityId, buckets) => {
    expect([...router.route(entityId, entityId.split(".")[0]!)]).toEqual(buckets);
  });
});

/**
 * What the pipeline does with Home Assistant's states: one point per state however often it is
 * written (snapshot, backfill, restart), previous_state and duration_seconds across restarts, weather
 * entities with their own values in °C and hPa, and Home Assistant's time zone.
 */
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HOME_ASSISTANT_SOURCE } from "../src/sources/sink";
import { eventually, stateChanged, stateOf, usePipelineHarness } from "./helpers/setup";

const HA = HOME_ASSISTANT_SOURCE;
const tagsOf = (line: string) => line.slice(0, line.indexOf(" "));
const field = (line: string, key: string) => new RegExp(`[ ,]${key}=([^, ]+)`).exec(line)?.[1];

describe("Home Assistant states in the pipeline", () => {
  const harness = usePipelineHarness();

  it("writes a state once however often Home Assistant's source submits it, older ones included", async () => {
    await harness.start();
    const t1 = "2026-06-01T10:00:00.100000+00:00";
    const t2 = "2026-06-01T10:05:00.200000+00:00";
    await harness.pipeline.submit([stateChanged("sensor.p", "1", t1), stateChanged("sensor.p", "2", t2)], HA);
    // The snapshot after a reconnect, and a backfill that overlaps what was seen live.
    await harness.pipeline.submit(
      [stateChanged("sensor.p", "1", t1), stateChanged("sensor.p", "2", t2), stateChanged("sensor.p", "2", t2)],
      HA,
    );
    await harness.pipeline.flush(2000);
    expect(harness.fake.acceptedLines().map(stateOf)).toEqual(["1", "2"]);
  });

  it("keeps previous_state and duration_seconds across a restart, and takes the snapshot's known states as repeats", async () => {
    await harness.start();
    const t1 = "2026-06-01T10:00:00.000000+00:00";
    await harness.pipeline.submit([stateChanged("light.hall", "on", t1)], HA);
    await harness.pipeline.stop(2000);
    const memory = JSON.parse(await readFile(join(harness.spoolDir, "entities.json"), "utf8"));
    expect(memory.entities["light.hall"]).toEqual([
      Date.parse(t1) * 1000,
      Date.parse(t1) * 1000,
      true,
      "on",
      Date.parse(t1) * 1000,
    ]);

    await harness.start();
    await harness.pipeline.submit(
      [stateChanged("light.hall", "on", t1), stateChanged("light.hall", "off", "2026-06-01T10:01:30.500000+00:00")],
      HA,
    );
    await harness.pipeline.flush(2000);
    const lines = harness.fake.acceptedLines();
    expect(lines.map(stateOf)).toEqual(["on", "off"]);
    expect(field(lines[1]!, "previous_state")).toBe('"on"');
    expect(field(lines[1]!, "duration_seconds")).toBe("90.500000");
  });

  it("writes the same series for a state written before and after a weather change (no writer-side tag)", async () => {
    await harness.start({ homeAssistant: { url: "http://127.0.0.1:1", token: "t", weatherEntity: "weather.home" } });
    const at = "2026-06-01T10:00:00.000000+00:00";
    await harness.pipeline.submit(
      [stateChanged("weather.home", "sunny", "2026-06-01T09:00:00.000000+00:00", { attributes: { temperature: 20 } })],
      HA,
    );
    await harness.pipeline.submit([stateChanged("sensor.x", "5", at)], "ingest");
    await harness.pipeline.submit(
      [stateChanged("weather.home", "rainy", "2026-06-01T11:00:00.000000+00:00", { attributes: { temperature: 12 } })],
      HA,
    );
    await harness.pipeline.flush(2000);
    // A replay into a writer that remembers nothing (its memory file lost) writes the state again.
    await harness.pipeline.stop(2000);
    await rm(join(harness.spoolDir, "entities.json"));
    await harness.start({ homeAssistant: { url: "http://127.0.0.1:1", token: "t", weatherEntity: "weather.home" } });
    await harness.pipeline.submit(
      [stateChanged("weather.home", "rainy", "2026-06-01T11:00:00.000000+00:00", { attributes: { temperature: 12 } })],
      HA,
    );
    await harness.pipeline.submit([stateChanged("sensor.x", "5", at)], "ingest");
    await harness.pipeline.flush(2000);
    const sensor = harness.fake.acceptedLines().filter((line) => line.includes("entity_id=sensor.x"));
    expect(sensor).toHaveLength(2);
    expect(tagsOf(sensor[0]!)).toBe(tagsOf(sensor[1]!));
    expect(tagsOf(sensor[0]!)).not.toContain("weather_condition");
    // The weather current at the state's own time; unknown to the second writer, so left out (fields
    // merge into the existing point).
    expect(sensor.map((line) => field(line, "weather_temp"))).toEqual(["20", undefined]);
  });

  it("gives weather entities their own condition and values, converted to °C and hPa", async () => {
    const { logLines } = await harness.start({
      homeAssistant: { url: "http://127.0.0.1:1", token: "t", weatherEntity: "weather.home" },
    });
    await harness.pipeline.submit(
      [
        stateChanged("weather.home", "sunny", "2026-06-01T10:00:00.000000+00:00", {
          attributes: { temperature: 20, pressure: 1013, humidity: 40, temperature_unit: "°C", pressure_unit: "hPa" },
        }),
        stateChanged("weather.other", "snowy", "2026-06-01T10:00:01.000000+00:00", {
          attributes: { temperature: 23, pressure: 29.92, humidity: 80, temperature_unit: "°F", pressure_unit: "inHg" },
        }),
        stateChanged("weather.odd", "fog", "2026-06-01T10:00:02.000000+00:00", {
          attributes: { temperature: 5, pressure: 3, temperature_unit: "°Rø", pressure_unit: "atm" },
        }),
      ],
      HA,
    );
    await harness.pipeline.flush(2000);
    const [home, other, odd] = harness.fake.acceptedLines().filter((line) => line.includes("weather_condition"));
    expect(home).toContain("weather_condition=sunny");
    expect([field(home!, "weather_temp"), field(home!, "weather_pressure")]).toEqual(["20", "1013"]);
    expect(other).toContain("weather_condition=snowy");
    expect([
      field(other!, "weather_temp"),
      field(other!, "weather_pressure"),
      field(other!, "weather_humidity"),
    ]).toEqual(["-5", "1013.21", "80"]);
    // Unknown units: the values are left out rather than written in an unknown unit, and said once.
    expect(odd).toContain("weather_condition=fog");
    expect([field(odd!, "weather_temp"), field(odd!, "weather_pressure")]).toEqual([undefined, undefined]);
    expect(logLines.filter((line) => line.includes("cannot convert"))).toHaveLength(2);
  });

  it("uses Home Assistant's time zone for time_of_day unless one is configured", async () => {
    await harness.start({ timeZone: undefined });
    harness.pipeline.useTimeZone?.("Asia/Tokyo");
    await harness.pipeline.submit([stateChanged("sensor.z", "1", "2026-06-01T22:00:00.000000+00:00")], HA);
    await eventually(() => harness.fake.acceptedLines().length === 1);
    expect(harness.fake.acceptedLines()[0]).toContain("time_of_day=morning");
  });

  it("keeps a configured time zone over Home Assistant's", async () => {
    await harness.start({ timeZone: "UTC" });
    harness.pipeline.useTimeZone?.("Asia/Tokyo");
    await harness.pipeline.submit([stateChanged("sensor.z", "1", "2026-06-01T22:00:00.000000+00:00")], HA);
    await eventually(() => harness.fake.acceptedLines().length === 1);
    expect(harness.fake.acceptedLines()[0]).toContain("time_of_day=evening");
  });
});

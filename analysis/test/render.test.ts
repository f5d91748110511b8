// The output formats: the JSON contract, CSV, the text table, and charts drawn by Vega in Node.
import { describe, expect, it } from "vitest";
import type { PatternResult } from "../src/analyze";
import { chartSpec, countMarks, toCsv, toJson, toSvg, toTable } from "../src/render";

const result: PatternResult = {
  pattern: "weekday",
  resolution: "daily",
  timeZone: "Europe/Berlin",
  start: "2025-03-01T23:00:00.000Z",
  stop: "2026-03-01T23:00:00.000Z",
  sources: [{ resolution: "daily", start: "2025-03-01T23:00:00.000Z", stop: "2026-03-01T23:00:00.000Z" }],
  series: [
    {
      entity_id: "sensor.x",
      unit: "°C",
      rows: [
        { key: "Mon", mean: 20.1, min: 18, max: 23.5, count: 42, coverage_seconds: 86_400 },
        { key: "Sat", mean: 21.25, min: 19, max: 24, count: 40, coverage_seconds: 86_400 },
      ],
    },
  ],
};

describe("formats", () => {
  it("JSON is the contract: pattern, resolution, zone, range, series with rows of numbers", () => {
    const json = JSON.parse(toJson(result));
    expect(json).toMatchObject({
      pattern: "weekday",
      resolution: "daily",
      timeZone: "Europe/Berlin",
      start: result.start,
      stop: result.stop,
    });
    expect(json.series[0]).toEqual({ entity_id: "sensor.x", unit: "°C", rows: result.series[0].rows });
  });

  it("CSV has one line per entity and key", () => {
    expect(toCsv(result)).toBe(
      "entity_id,unit,key,mean,min,max,count,coverage_seconds,energy_kwh\nsensor.x,°C,Mon,20.1,18,23.5,42,86400,\nsensor.x,°C,Sat,21.25,19,24,40,86400,\n",
    );
  });

  it("the table is aligned and names the entity, unit, pattern, source and zone", () => {
    expect(toTable(result)).toBe(
      [
        "sensor.x (°C): weekday, daily, Europe/Berlin, 2025-03-01T23:00:00.000Z .. 2026-03-01T23:00:00.000Z",
        "key   mean    min    max  count  coverage_h",
        "Mon  20.10  18.00  23.50     42        24.0",
        "Sat  21.25  19.00  24.00     40        24.0",
        "",
        "",
      ].join("\n"),
    );
  });

  it("charts bars with the unit and the time zone on the axes", async () => {
    const spec = chartSpec(result) as { mark: string; encoding: { x: { title: string }; y: { title: string } } };
    expect(spec.mark).toBe("bar");
    expect(spec.encoding.x.title).toBe("weekday (Europe/Berlin)");
    expect(spec.encoding.y.title).toBe("mean (°C)");
    const svg = await toSvg(result);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("weekday (Europe/Berlin)");
    expect(svg.match(/<path[^>]*aria-roledescription="bar"/g)).toHaveLength(countMarks(result));
  });

  it("draws hour × weekday as a heat map", () => {
    const heat = chartSpec({
      ...result,
      pattern: "hour-weekday",
      series: [{ entity_id: "sensor.x", rows: [{ key: "Mon-05", mean: 1, count: 1, coverage_seconds: 3_600 }] }],
    });
    expect(heat).toMatchObject({
      mark: "rect",
      encoding: { x: { field: "hour" }, y: { field: "weekday" }, color: { field: "value" } },
    });
  });
});

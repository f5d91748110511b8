// Pattern keys and their order, local time arithmetic, and exact combination of windows.
import { describe, expect, it } from "vitest";
import { alignRange, combine } from "../src/analyze";
import { keyRank, patternKey, seasonName } from "../src/patterns";
import { isoWeek, localMidnight, localParts, parseInstant, startOfLocalDay, startOfLocalHour } from "../src/time";

const BERLIN = "Europe/Berlin";
const at = (iso: string) => localParts(Date.parse(iso), BERLIN);

describe("patternKey", () => {
  it.each([
    ["summary", "2026-03-01T10:00:00Z", "all"],
    ["hour", "2026-03-01T10:00:00Z", "11"],
    ["hour", "2026-07-01T22:30:00Z", "0"],
    ["weekday", "2026-03-01T10:00:00Z", "Sun"],
    ["weekday", "2026-03-01T23:30:00Z", "Mon"],
    ["hour-weekday", "2026-03-02T04:00:00Z", "Mon-05"],
    ["week", "2026-03-02T04:00:00Z", "W10"],
    ["week", "2027-01-01T12:00:00Z", "W53"],
    ["month", "2026-01-31T23:30:00Z", "Feb"],
    ["season", "2025-12-15T12:00:00Z", "DJF"],
    ["season", "2026-05-15T12:00:00Z", "MAM"],
    ["season", "2026-08-31T12:00:00Z", "JJA"],
    ["season", "2026-11-30T12:00:00Z", "SON"],
    ["year", "2025-12-31T23:30:00Z", "2026"],
    ["calendar", "2026-02-28T23:00:00Z", "2026-03-01"],
  ] as const)("%s of %s (Berlin) is %s", (pattern, iso, key) => {
    expect(patternKey(pattern, at(iso))).toBe(key);
  });

  it("orders keys naturally", () => {
    const sort = (pattern: Parameters<typeof keyRank>[0], keys: string[]) =>
      [...keys].sort((a, b) => keyRank(pattern, a) - keyRank(pattern, b));
    expect(sort("hour", ["10", "9", "0"])).toEqual(["0", "9", "10"]);
    expect(sort("weekday", ["Sun", "Mon", "Wed"])).toEqual(["Mon", "Wed", "Sun"]);
    expect(sort("hour-weekday", ["Tue-00", "Mon-23", "Mon-02"])).toEqual(["Mon-02", "Mon-23", "Tue-00"]);
    expect(sort("season", ["SON", "DJF", "JJA"])).toEqual(["DJF", "JJA", "SON"]);
    expect(sort("month", ["Dec", "Jan"])).toEqual(["Jan", "Dec"]);
  });

  it("names seasons by hemisphere", () => {
    expect([seasonName("DJF", "north"), seasonName("DJF", "south"), seasonName("JJA", "south")]).toEqual([
      "winter",
      "summer",
      "winter",
    ]);
  });
});

describe("local time", () => {
  it("finds local midnights across clock changes", () => {
    expect(new Date(localMidnight(2026, 3, 29, BERLIN)).toISOString()).toBe("2026-03-28T23:00:00.000Z");
    expect(new Date(localMidnight(2026, 3, 30, BERLIN)).toISOString()).toBe("2026-03-29T22:00:00.000Z");
    expect(new Date(startOfLocalDay(Date.parse("2026-10-25T12:00:00Z"), BERLIN)).toISOString()).toBe(
      "2026-10-24T22:00:00.000Z",
    );
    // Havana skips midnight in spring: the day starts at 01:00
    expect(new Date(localMidnight(2026, 3, 8, "America/Havana")).toISOString()).toBe("2026-03-08T05:00:00.000Z");
  });

  it("starts hours at :30 UTC in half-hour zones", () => {
    expect(new Date(startOfLocalHour(Date.parse("2026-03-01T10:10:00Z"), "Asia/Kolkata")).toISOString()).toBe(
      "2026-03-01T09:30:00.000Z",
    );
  });

  it.each([
    [2026, 1, 1, 1],
    [2027, 1, 1, 53],
    [2024, 12, 30, 1],
    [2026, 12, 31, 53],
  ])("ISO week of %i-%i-%i is %i", (y, m, d, week) => {
    expect(isoWeek(y, m, d)).toBe(week);
  });

  it("reads RFC 3339, bare dates (local midnight), relative times and now", () => {
    const now = Date.parse("2026-03-10T12:00:00Z");
    expect(parseInstant("2026-03-01", "--start", now, BERLIN)).toBe(Date.parse("2026-02-28T23:00:00Z"));
    expect(parseInstant("2026-03-01T06:00:00+01:00", "--start", now, BERLIN)).toBe(Date.parse("2026-03-01T05:00:00Z"));
    expect(parseInstant("-30d", "--start", now, BERLIN)).toBe(now - 30 * 86_400_000);
    expect(parseInstant("-12h", "--start", now, BERLIN)).toBe(now - 12 * 3_600_000);
    expect(parseInstant("now", "--stop", now, BERLIN)).toBe(now);
    expect(() => parseInstant("2026-02-30", "--start", now, BERLIN)).toThrow('--start "2026-02-30" is not a date');
    expect(() => parseInstant("soon", "--stop", now, BERLIN)).toThrow('--stop "soon" is not a date');
  });

  it("aligns a range inward to whole local days or hours", () => {
    const [start, stop] = alignRange(
      "weekday",
      Date.parse("2026-03-01T10:00:00Z"),
      Date.parse("2026-03-05T10:00:00Z"),
      BERLIN,
    );
    expect([new Date(start).toISOString(), new Date(stop).toISOString()]).toEqual([
      "2026-03-01T23:00:00.000Z",
      "2026-03-04T23:00:00.000Z",
    ]);
    const [h0, h1] = alignRange("hour", Date.parse("2026-03-01T10:10:00Z"), Date.parse("2026-03-01T12:50:00Z"), BERLIN);
    expect([new Date(h0).toISOString(), new Date(h1).toISOString()]).toEqual([
      "2026-03-01T11:00:00.000Z",
      "2026-03-01T12:00:00.000Z",
    ]);
  });
});

describe("combine", () => {
  const window = (iso: string, mean: number | undefined, coverage: number, extra: object = {}) => ({
    entity_id: "sensor.x",
    start: Date.parse(iso),
    mean,
    min: mean,
    max: mean,
    count: 1,
    coverage_seconds: coverage,
    ...extra,
  });

  it("weights means by coverage and adds counts, coverage and energy", () => {
    const [series] = combine(
      [
        window("2026-03-02T09:00:00Z", 20, 3_600, { energy_kwh: 1.5 }), // Monday 10:00 Berlin
        window("2026-03-09T09:00:00Z", 26, 1_800, { energy_kwh: 0.5 }), // next Monday, half covered
        window("2026-03-03T09:00:00Z", undefined, 0), // Tuesday, unavailable: counted change, no value
      ],
      "weekday",
      BERLIN,
      "north",
    );
    expect(series).toEqual({
      entity_id: "sensor.x",
      rows: [
        { key: "Mon", mean: 22, min: 20, max: 26, count: 2, coverage_seconds: 5_400, energy_kwh: 2 },
        { key: "Tue", count: 1, coverage_seconds: 0 },
      ],
    });
  });

  it("labels seasons in the chosen hemisphere", () => {
    const [series] = combine([window("2026-01-10T12:00:00Z", 5, 60)], "season", BERLIN, "south");
    expect(series.rows[0]).toMatchObject({ key: "DJF", label: "summer" });
  });
});

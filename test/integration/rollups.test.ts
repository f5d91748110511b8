// The rollup tasks' Flux against a real influxd: raw events with known values at known times go in,
// the hourly and daily Flux run through the query API as if at their scheduled time (`now`), and
// every point they write must equal what an independent step-function computation over the same
// events gives. Late points are folded in by a rerun, and a rerun over unchanged data changes nothing.
import { describe, expect, it } from "vitest";
import { dailyRollupFlux, hourlyRollupFlux } from "../../components/flux";
import { normalizeState } from "../../writer/src/normalize";
import { locateInfluxd } from "../harness/influxd";
import { useInfluxd } from "../harness/vitest";
import { influxApi, type Row, tagValue } from "./rollups-helpers";

const influxdFound = locateInfluxd() !== undefined;
const TIME_ZONE = "Europe/Berlin";
const HOUR = 3_600;
/** The documented carry horizon (CARRY_HORIZON, a week). */
const CARRY_SECONDS = 7 * 24 * HOUR;

interface Entity {
  entity_id: string;
  domain: string;
  device_class?: string;
  area?: string;
}
interface Event {
  entity: Entity;
  at: number; // epoch seconds
  state: string;
}

const temperature: Entity = {
  entity_id: "sensor.living_temperature",
  domain: "sensor",
  device_class: "temperature",
  area: "living_room",
};
const heating: Entity = {
  entity_id: "binary_sensor.heating",
  domain: "binary_sensor",
  device_class: "heat",
  area: "living_room",
};
const meter: Entity = { entity_id: "sensor.house_energy", domain: "sensor", device_class: "energy", area: "utility" };
const climate: Entity = { entity_id: "climate.living", domain: "climate", area: "living_room" };
const setpoint: Entity = { entity_id: "sensor.setpoint", domain: "sensor", device_class: "temperature" };

const at = (text: string) => Date.parse(text) / 1_000;
/** RFC 3339 as the server prints it: no fractional seconds. */
const iso = (seconds: number) => new Date(seconds * 1_000).toISOString().replace(".000Z", "Z");

function scenario(): { events: Event[]; late: Event[] } {
  const e = (entity: Entity, iso: string, state: string): Event => ({ entity, at: at(iso), state });
  const events: Event[] = [
    // carried in from two days before the range; then step changes, one exactly on an hour boundary
    e(temperature, "2026-03-25T10:00:00Z", "19.5"),
    e(temperature, "2026-03-27T05:55:00Z", "20"),
    e(temperature, "2026-03-27T06:00:00Z", "20.5"),
    // unavailable across a whole hour: no number for 07:00-08:00, partial coverage either side
    e(temperature, "2026-03-27T06:50:00Z", "unavailable"),
    e(temperature, "2026-03-27T08:10:00Z", "21"),
    e(temperature, "2026-03-28T15:10:00Z", "unknown"),
    e(temperature, "2026-03-28T15:20:00Z", "20"),
    // the night the clocks go forward (02:00 CET -> 03:00 CEST = 01:00Z)
    e(temperature, "2026-03-29T00:30:00Z", "18"),
    e(temperature, "2026-03-29T01:30:00Z", "18.5"),
    e(temperature, "2026-03-30T20:00:00Z", "22"),
    // an on/off entity: the mean is the share of time on
    e(heating, "2026-03-26T22:00:00Z", "off"),
    e(heating, "2026-03-27T06:15:00Z", "on"),
    e(heating, "2026-03-27T07:45:00Z", "off"),
    e(heating, "2026-03-28T05:00:00Z", "on"),
    e(heating, "2026-03-28T05:30:00Z", "unavailable"),
    e(heating, "2026-03-28T06:00:00Z", "off"),
    e(heating, "2026-03-29T23:10:00Z", "on"),
    e(heating, "2026-03-30T01:40:00Z", "off"),
    // a text-only entity: changes are counted, no seconds have a number
    e(climate, "2026-03-27T06:00:00Z", "heat"),
    e(climate, "2026-03-28T12:00:00Z", "cool"),
    // last changed beyond the carry horizon: no rows until it changes again
    e(setpoint, "2026-03-19T12:00:00Z", "19"),
    e(setpoint, "2026-03-28T08:00:00Z", "21"),
  ];
  // ten quick changes around 25 in the last five minutes of an hour that sat at 21 (true mean ~21.3)
  for (let i = 0; i < 10; i++)
    events.push(
      e(
        temperature,
        new Date(at("2026-03-28T14:55:00Z") * 1_000 + i * 30_000).toISOString(),
        String(24.5 + (i % 3) * 0.5),
      ),
    );
  // a cumulative energy meter, read every three hours, with an unavailable reading and a reset
  let total = 1_000;
  events.push(e(meter, "2026-03-26T23:30:00Z", total.toFixed(1)));
  for (let h = 0; h < 96; h += 3) {
    const when = new Date(Date.parse("2026-03-27T00:10:00Z") + h * HOUR * 1_000).toISOString();
    if (h === 27) {
      events.push(e(meter, when, "unavailable"));
      continue;
    }
    total = h === 60 ? 0.4 : total + 0.7 + (h % 5) * 0.1;
    events.push(e(meter, when, total.toFixed(1)));
  }
  // late: two temperature changes and a meter reading between its neighbours (09:10 and 12:10)
  const reading = (iso: string) =>
    Number(events.find((event) => event.entity === meter && event.at === at(iso))!.state);
  const between = (reading("2026-03-28T09:10:00Z") + reading("2026-03-28T12:10:00Z")) / 2;
  const late = [
    e(temperature, "2026-03-28T09:30:00Z", "23"),
    e(temperature, "2026-03-28T10:15:00Z", "21"),
    e(meter, "2026-03-28T11:50:00Z", between.toFixed(2)),
  ];
  return { events, late };
}

function lineOf(event: Event): string {
  const { entity } = event;
  const tags = [
    ...(entity.area ? [`area=${tagValue(entity.area)}`] : []),
    ...(entity.device_class ? [`device_class=${tagValue(entity.device_class)}`] : []),
    `domain=${entity.domain}`,
    `entity_id=${entity.entity_id}`,
    // a tag that changes between events of one entity, so an entity spans several series
    `time_of_day=${new Date(event.at * 1_000).getUTCHours() < 12 ? "morning" : "afternoon"}`,
  ];
  const value = normalizeState(event.state);
  const fields = [...(value === undefined ? [] : [`normalized_value=${value}`]), `state_value="${event.state}"`];
  return `home_assistant_events,${tags.join(",")} ${fields.join(",")} ${event.at}`;
}

/** Expected points, `entity|window start|field` to value, from the step functions of the events. */
function expectedRollup(events: Event[], windows: number[]): Map<string, number> {
  const expected = new Map<string, number>();
  const byEntity = new Map<string, Event[]>();
  for (const event of events)
    byEntity.set(event.entity.entity_id, [...(byEntity.get(event.entity.entity_id) ?? []), event]);
  for (const [entityId, list] of byEntity) {
    const sorted = [...list].sort((a, b) => a.at - b.at);
    const isMeter = sorted[0].entity.device_class === "energy";
    for (let w = 0; w + 1 < windows.length; w++) {
      const [start, stop] = [windows[w], windows[w + 1]];
      const key = (field: string) => `${entityId}|${iso(start)}|${field}`;
      const before = sorted.filter((event) => event.at < start).at(-1);
      const inside = sorted.filter((event) => event.at >= start && event.at < stop);
      const opening = before && start - before.at <= CARRY_SECONDS ? [{ at: start, state: before.state }] : [];
      const held = [...opening, ...inside];
      let covered = 0;
      let weighted = 0;
      let low = Infinity;
      let high = -Infinity;
      held.forEach((state, i) => {
        const value = normalizeState(state.state);
        const seconds = (held[i + 1]?.at ?? stop) - state.at;
        if (value === undefined || seconds <= 0) return;
        covered += seconds;
        weighted += value * seconds;
        low = Math.min(low, value);
        high = Math.max(high, value);
      });
      if (inside.length > 0 || covered > 0) {
        expected.set(key("count"), inside.length);
        expected.set(key("coverage_seconds"), covered);
        if (covered > 0) {
          expected.set(key("mean"), weighted / covered);
          expected.set(key("min"), low);
          expected.set(key("max"), high);
        }
      }
      if (isMeter) {
        // an increase counts in the window of the reading that reports it, if the reading before it
        // is at most the horizon older; a drop is a reset, after which the new reading is the use
        const readings = sorted.filter((event) => normalizeState(event.state) !== undefined);
        const last = readings.filter((event) => event.at < start).at(-1);
        const inWindow = readings.filter((event) => event.at >= start && event.at < stop);
        if (inWindow.length > 0 || (last && start - last.at <= CARRY_SECONDS)) {
          let used = 0;
          for (const reading of inWindow) {
            const before = readings[readings.indexOf(reading) - 1];
            if (!before || reading.at - before.at > CARRY_SECONDS) continue;
            const [now, then] = [normalizeState(reading.state)!, normalizeState(before.state)!];
            used += now >= then ? now - then : now;
          }
          expected.set(key("energy_kwh"), used);
        }
      }
    }
  }
  return expected;
}

function actualRollup(rows: Row[]): Map<string, number> {
  return new Map(rows.map((row) => [`${row.entity_id}|${row._time}|${row._field}`, Number(row._value)]));
}

function expectSameRollup(actual: Map<string, number>, expected: Map<string, number>): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [key, value] of expected) {
    const got = actual.get(key)!;
    if (Math.abs(got - value) > 1e-9 * Math.max(1, Math.abs(value)))
      expect.fail(`${key}: got ${got}, expected ${value}`);
  }
}

const dump = (bucket: string) =>
  `from(bucket: "${bucket}") |> range(start: 2026-01-01T00:00:00Z, stop: 2026-06-01T00:00:00Z)`;

describe.skipIf(!influxdFound)("rollup tasks against a real influxd", { timeout: 300_000 }, () => {
  const server = useInfluxd({ org: "rollups", bucket: "onboarded" });
  const { events, late } = scenario();
  // The hourly task at 00:00Z on 31 March with a 96 h lookback covers 27-30 March in UTC hours
  // (Berlin's hours are UTC hours); the daily one at 00:00Z covers the local days 28-30 March.
  const hourStarts = Array.from({ length: 97 }, (_, i) => at("2026-03-27T00:00:00Z") + i * HOUR);
  // Local midnights in Berlin; 29 March has 23 hours.
  const dayStarts = [
    "2026-03-27T23:00:00Z",
    "2026-03-28T23:00:00Z",
    "2026-03-29T22:00:00Z",
    "2026-03-30T22:00:00Z",
  ].map(at);
  const now = "2026-03-31T00:00:00Z";
  const hourly = hourlyRollupFlux({
    sourceBucket: "raw",
    targetBucket: "hourly",
    timeZone: TIME_ZONE,
    lookback: "96h",
  });
  const daily = dailyRollupFlux({ sourceBucket: "raw", targetBucket: "daily", timeZone: TIME_ZONE, lookback: "3d" });

  it("writes exact hourly and daily rollups, folds in late points, and reruns change nothing", async () => {
    const api = influxApi(server());
    for (const bucket of ["raw", "hourly", "daily"]) await api.createBucket(bucket);
    await api.write("raw", events.map(lineOf));

    await api.query(hourly, now);
    await api.query(daily, now);
    expectSameRollup(actualRollup(await api.query(dump("hourly"))), expectedRollup(events, hourStarts));
    expectSameRollup(actualRollup(await api.query(dump("daily"))), expectedRollup(events, dayStarts));

    // late points inside the lookback: the next runs fold them in
    await api.write("raw", late.map(lineOf));
    await api.query(hourly, now);
    await api.query(daily, now);
    const all = [...events, ...late];
    const hourlyRows = await api.query(dump("hourly"));
    const dailyRows = await api.query(dump("daily"));
    expectSameRollup(actualRollup(hourlyRows), expectedRollup(all, hourStarts));
    expectSameRollup(actualRollup(dailyRows), expectedRollup(all, dayStarts));

    // idempotent: running again over the same data leaves every point as it was
    await api.query(hourly, now);
    await api.query(daily, now);
    expect(await api.query(dump("hourly"))).toEqual(hourlyRows);
    expect(await api.query(dump("daily"))).toEqual(dailyRows);

    // the headline cases, spelled out
    const hourlyPoints = actualRollup(hourlyRows);
    const point = (entity: Entity, iso: string, field: string) =>
      hourlyPoints.get(`${entity.entity_id}|${iso}|${field}`);
    expect(point(temperature, "2026-03-28T14:00:00Z", "mean")).toBeCloseTo(
      (21 * 3300 + 30 * (24.5 + 25 + 25.5 + 24.5 + 25 + 25.5 + 24.5 + 25 + 25.5 + 24.5)) / 3600,
      9,
    );
    expect(point(temperature, "2026-03-27T12:00:00Z", "count")).toBe(0); // no change, carried in
    expect(point(temperature, "2026-03-27T12:00:00Z", "mean")).toBe(21);
    expect(point(temperature, "2026-03-27T07:00:00Z", "count")).toBeUndefined(); // unavailable all hour
    expect(point(temperature, "2026-03-27T06:00:00Z", "coverage_seconds")).toBe(3000);
    expect(point(heating, "2026-03-27T07:00:00Z", "mean")).toBeCloseTo(0.75, 12); // on 45 of 60 minutes
    expect(point(climate, "2026-03-27T06:00:00Z", "coverage_seconds")).toBe(0);
    expect(point(setpoint, "2026-03-28T07:00:00Z", "count")).toBeUndefined(); // beyond the carry horizon
    expect(point(setpoint, "2026-03-28T09:00:00Z", "mean")).toBe(21);

    // energy: the days add up to the meter's use over the range, across the reset
    const dailyPoints = actualRollup(dailyRows);
    const dayUse = dayStarts
      .slice(0, -1)
      .map((start) => dailyPoints.get(`${meter.entity_id}|${iso(start)}|energy_kwh`)!);
    const hourUse = hourStarts
      .filter((start) => start >= dayStarts[0] && start < dayStarts.at(-1)!)
      .map((start) => hourlyPoints.get(`${meter.entity_id}|${iso(start)}|energy_kwh`) ?? 0);
    expect(dayUse.reduce((a, b) => a + b, 0)).toBeCloseTo(
      hourUse.reduce((a, b) => a + b, 0),
      9,
    );
    expect(dayUse.every((use) => use > 0 && use < 20)).toBe(true); // a reset never counts as negative or as the whole meter
  });
});

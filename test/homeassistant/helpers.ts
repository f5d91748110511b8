// What the Home Assistant end-to-end tests compare: Home Assistant's own recorded history against the
// points in InfluxDB, both reduced to `entity_id|time in µs|state`.
import { parseTimestampUs } from "../../writer/src/events";
import { ZoneClock } from "../../writer/src/timezone";
import { parseCsv } from "../harness/csv";
import type { HomeAssistantInstance } from "../harness/homeassistant";
import type { InfluxdInstance } from "../harness/influxd";

export { parseCsv };

const UTC = new ZoneClock("UTC");

/** Microseconds since the epoch of an ISO time with up to nine fraction digits. */
export function micros(iso: string): number {
  const us = parseTimestampUs(iso, UTC);
  if (Number.isNaN(us)) throw new Error(`not a time: ${iso}`);
  return us;
}

/** A Flux query's rows. */
export async function query(influx: InfluxdInstance, flux: string): Promise<Record<string, string>[]> {
  const response = await fetch(`${influx.url}/api/v2/query?org=${encodeURIComponent(influx.org)}`, {
    method: "POST",
    headers: {
      Authorization: `Token ${influx.token}`,
      "Content-Type": "application/vnd.flux",
      Accept: "application/csv",
    },
    body: flux,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`query failed: HTTP ${response.status} ${text.slice(0, 300)}`);
  return parseCsv(text);
}

/** Tag keys of a point row (everything that is not a column Flux adds). */
const NOT_TAGS = new Set(["", "result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement"]);

/** One point of `home_assistant_events` as read back: its series (tags) and `state_value`. */
export interface StoredPoint {
  entityId: string;
  timeUs: number;
  state: string;
  tags: Record<string, string>;
}

/** Every `state_value` of the given entities (all entities when none are given) since `startIso`. */
export async function storedPoints(
  influx: InfluxdInstance,
  bucket: string,
  startIso: string,
  entityIds?: readonly string[],
): Promise<StoredPoint[]> {
  const filter = entityIds ? ` and contains(value: r.entity_id, set: ${JSON.stringify(entityIds)})` : "";
  const rows = await query(
    influx,
    `from(bucket: ${JSON.stringify(bucket)}) |> range(start: ${startIso}) |> filter(fn: (r) => r._measurement == "home_assistant_events" and r._field == "state_value"${filter})`,
  );
  return rows.map((row) => ({
    entityId: row.entity_id!,
    timeUs: micros(row._time!),
    state: row._value!,
    tags: Object.fromEntries(Object.entries(row).filter(([key, value]) => !NOT_TAGS.has(key) && value !== "")),
  }));
}

/** Home Assistant's recorded changes of `entityIds` strictly after `startIso` (REST history, every change). */
export async function recordedChanges(
  ha: HomeAssistantInstance,
  startIso: string,
  endIso: string,
  entityIds: readonly string[],
): Promise<string[]> {
  const path = `/api/history/period/${encodeURIComponent(startIso)}?end_time=${encodeURIComponent(endIso)}&filter_entity_id=${entityIds.join(",")}&significant_changes_only=0`;
  const lists = await ha.rest<{ entity_id: string; state: string; last_updated: string }[][]>("GET", path);
  const startUs = micros(startIso);
  // The first entry of each list is the state at the start time, stamped with the start time: not a change.
  return lists
    .flat()
    .filter((state) => micros(state.last_updated) > startUs)
    .map((state) => `${state.entity_id}|${micros(state.last_updated)}|${state.state}`)
    .sort();
}

/** Keys `entity_id|time|state` of stored points, sorted. */
export function keysOf(points: readonly StoredPoint[]): string[] {
  return points.map((point) => `${point.entityId}|${point.timeUs}|${point.state}`).sort();
}

/** Entity/time pairs stored in more than one series. */
export function pairsInSeveralSeries(points: readonly StoredPoint[]): string[] {
  const series = new Map<string, Set<string>>();
  for (const point of points) {
    const key = `${point.entityId}|${point.timeUs}`;
    const set = series.get(key) ?? new Set<string>();
    set.add(JSON.stringify(Object.entries(point.tags).sort()));
    series.set(key, set);
  }
  return [...series].filter(([, set]) => set.size > 1).map(([key]) => key);
}

/** Entries of `a` missing from `b` (multiset difference), for readable failures. */
export function missingFrom(a: readonly string[], b: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const key of b) counts.set(key, (counts.get(key) ?? 0) + 1);
  const missing: string[] = [];
  for (const key of a) {
    const left = counts.get(key) ?? 0;
    if (left > 0) counts.set(key, left - 1);
    else missing.push(key);
  }
  return missing;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns without throwing, for at most `timeoutMs` (a guard, not a timing assertion). */
export async function until<T>(check: () => Promise<T> | T, timeoutMs = 60_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(intervalMs);
    }
  }
}

// What the two recorder-import tests (SQLite and PostgreSQL) share: the buckets they import into, the
// points of a bucket as objects, the long-term statistics they have Home Assistant's recorder store,
// and a logger that keeps the writer quiet.
import { Writable } from "node:stream";
import { createLogger } from "../../writer/src/logger";
import { type HomeAssistantInstance, TEST_ENTITIES } from "../harness/homeassistant";
import type { InfluxdInstance } from "../harness/influxd";
import { micros, query } from "./helpers";

/** Columns Flux adds that are not part of a point. */
const NOT_POINT = new Set(["", "result", "table", "_start", "_stop", "_measurement"]);

/** Creates each named bucket (infinite retention) in the instance's organisation. */
export async function createBuckets(influx: InfluxdInstance, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const response = await fetch(`${influx.url}/api/v2/buckets`, {
      method: "POST",
      headers: { Authorization: `Token ${influx.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name, orgID: influx.orgId, retentionRules: [] }),
    });
    if (response.status !== 201)
      throw new Error(`creating bucket ${name}: HTTP ${response.status} ${await response.text()}`);
  }
}

/** Every `home_assistant_events` point of a bucket as one object of tags and fields, keyed `entity_id|time in µs`. */
export async function eventPointsOf(
  influx: InfluxdInstance,
  bucket: string,
): Promise<Map<string, Record<string, string>>> {
  const rows = await query(
    influx,
    `from(bucket: ${JSON.stringify(bucket)}) |> range(start: 0) |> filter(fn: (r) => r._measurement == "home_assistant_events")` +
      ` |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value") |> group()`,
  );
  const points = new Map<string, Record<string, string>>();
  for (const row of rows) {
    const point = Object.fromEntries(Object.entries(row).filter(([key, value]) => !NOT_POINT.has(key) && value !== ""));
    const key = `${row.entity_id}|${micros(row._time!)}`;
    if (points.has(key)) throw new Error(`${bucket}: two points for ${key}`);
    points.set(key, point);
  }
  return points;
}

/**
 * Has Home Assistant's recorder store `hours` hours of long-term statistics from `from` (seconds, an
 * hour's start) on: the temperature sensor's mean/min/max (20 + n/10, 19 + n/10, 21 + n/10 in hour n)
 * and the energy meter's state/sum (0.5 kWh an hour).
 */
export async function storeStatistics(ha: HomeAssistantInstance, from: number, hours: number): Promise<void> {
  const starts = Array.from({ length: hours }, (_, n) => ({
    n,
    start: new Date((from + n * 3600) * 1000).toISOString(),
  }));
  await ha.command({
    type: "recorder/import_statistics",
    metadata: {
      statistic_id: TEST_ENTITIES.temperature,
      source: "recorder",
      name: null,
      unit_of_measurement: "°C",
      has_mean: true,
      has_sum: false,
    },
    stats: starts.map(({ n, start }) => ({ start, mean: 20 + n / 10, min: 19 + n / 10, max: 21 + n / 10 })),
  });
  await ha.command({
    type: "recorder/import_statistics",
    metadata: {
      statistic_id: TEST_ENTITIES.energy,
      source: "recorder",
      name: null,
      unit_of_measurement: "kWh",
      has_mean: false,
      has_sum: true,
    },
    stats: starts.map(({ n, start }) => ({ start, state: 100 + n / 2, sum: n / 2 })),
  });
}

/** A writer logger that drops everything below warnings, and those too. */
export function quietLogger(): ReturnType<typeof createLogger> {
  return createLogger({
    level: "warn",
    format: "json",
    destination: new Writable({ write: (_c, _e, callback) => callback() }),
  });
}

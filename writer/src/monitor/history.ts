/**
 * Samples as they are stored in the system bucket (measurement `ha_influx_storage`, one point per
 * bucket and round), and reading them back: the monitor refills its growth window from them after a
 * restart, and `ha-influx-capacity` forecasts from them.
 */
import { escapeKey, escapeMeasurement, formatFloat } from "../lineProtocol";
import type { Observation } from "./forecast";
import { fluxString, type InfluxApi } from "./influxApi";
import type { Sample } from "./sampler";

/** Measurements the monitor writes to the system bucket. */
export const STORAGE_MEASUREMENT = "ha_influx_storage";
export const DISK_MEASUREMENT = "ha_influx_disk";
export const TASK_MEASUREMENT = "ha_influx_task";

/** Past sizes and series counts of each bucket, by bucket name. */
export type History = Map<string, { bytes: Observation[]; series: Observation[] }>;

/** Line protocol (second precision) of one sample: a point per bucket, the disk, and a point per task. */
export function sampleLines(sample: Sample): string {
  const ts = Math.floor(sample.at / 1000);
  const lines: string[] = [];
  const fields = (pairs: [string, number | undefined][]) =>
    pairs
      .filter((pair): pair is [string, number] => pair[1] !== undefined && Number.isFinite(pair[1]))
      .map(([key, value]) => `${key}=${formatFloat(value)}`)
      .join(",");
  for (const b of sample.buckets) {
    lines.push(
      `${escapeMeasurement(STORAGE_MEASUREMENT)},bucket=${escapeKey(b.name)} ${fields([
        ["disk_bytes", b.diskBytes],
        ["wal_bytes", b.walBytes],
        ["shards", b.shards],
        ["series", b.series],
        ["points_last_day", b.pointsLastDay],
        ["oldest_point", b.oldestPointAt === undefined ? undefined : b.oldestPointAt / 1000],
        ["newest_point", b.newestPointAt === undefined ? undefined : b.newestPointAt / 1000],
        ["retention_seconds", b.retentionSeconds],
      ])} ${ts}`,
    );
  }
  if (sample.disk) {
    lines.push(
      `${escapeMeasurement(DISK_MEASUREMENT)},source=${sample.disk.source} ${fields([
        ["capacity_bytes", sample.disk.capacityBytes],
        ["used_bytes", sample.disk.usedBytes],
      ])} ${ts}`,
    );
  }
  for (const t of sample.tasks) {
    const f = fields([
      ["consecutive_failures", t.consecutiveFailures],
      ["lag_seconds", t.lagSeconds],
      ["last_success", t.lastSuccessAt === undefined ? undefined : t.lastSuccessAt / 1000],
    ]);
    lines.push(`${escapeMeasurement(TASK_MEASUREMENT)},task=${escapeKey(t.name)} ${f} ${ts}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Reads the stored sizes and series of the last `days` from the system bucket. */
export async function loadHistory(api: InfluxApi, systemBucket: string, days: number): Promise<History> {
  const flux = `from(bucket: ${fluxString(systemBucket)})
  |> range(start: -${Math.ceil(days * 24 * 60)}m)
  |> filter(fn: (r) => r._measurement == "${STORAGE_MEASUREMENT}" and (r._field == "disk_bytes" or r._field == "series"))
  |> keep(columns: ["_time", "_value", "_field", "bucket"])`;
  const rows = await api.query(flux, `stored samples in ${systemBucket}`);
  const history: History = new Map();
  for (const row of rows) {
    const at = Date.parse(row._time ?? "");
    const value = Number(row._value);
    if (!row.bucket || !Number.isFinite(at) || !Number.isFinite(value)) continue;
    let entry = history.get(row.bucket);
    if (!entry) {
      entry = { bytes: [], series: [] };
      history.set(row.bucket, entry);
    }
    (row._field === "disk_bytes" ? entry.bytes : entry.series).push({ at, value });
  }
  for (const entry of history.values()) {
    entry.bytes.sort((a, b) => a.at - b.at);
    entry.series.sort((a, b) => a.at - b.at);
  }
  return history;
}

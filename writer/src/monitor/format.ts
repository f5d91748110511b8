/**
 * How the monitor writes its figures, as pure functions: bytes in decimal units, counts, rounding and
 * times. Shared by `/status`, the gauges, the alerts and the capacity report's table and picture, so
 * that one figure reads the same everywhere.
 */

/** `1.5 GB`, `320 MB`, `12 kB`: decimal units, as disks are sold. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "unbounded";
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${bytes < 0 ? "-" : ""}${value >= 100 || unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** `12,345`: a whole count with thousands separators. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** `value` rounded to `digits` decimals. */
export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** ISO 8601 time of `ms` (since the epoch), undefined for undefined. */
export function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/** Seconds since the epoch of `ms`, undefined for undefined (the unit of Prometheus timestamps). */
export function seconds(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : ms / 1000;
}

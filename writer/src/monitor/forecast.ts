/**
 * Capacity arithmetic, as pure functions over samples: the growth rate of a bucket (a least-squares
 * line through its recent sizes), the size it settles at under its retention, and when the disk fills.
 *
 * The model: a bucket grows at its ingest rate until its oldest data expires. InfluxDB drops a whole
 * shard group once all of it is past the retention, so a bucket keeps up to retention + one shard group
 * of data; at that age it stops growing (its size then saws up and down by one shard group). A raw
 * bucket reaches that plateau after a year by default, the rollups after two and seven years.
 */

export const DAY_MS = 86_400_000;

/** One observation of a quantity (bytes, series) at a time (ms since the epoch). */
export interface Observation {
  at: number;
  value: number;
}

/** A rate fitted to observations, or why there is none. */
export type Rate =
  | { ok: true; perDay: number; samples: number; spanDays: number }
  | { ok: false; samples: number; reason: string };

/** Options of {@link fitRate}. */
export interface FitOptions {
  /** Now (ms since the epoch); observations older than `windowDays` before it are left out. */
  now: number;
  /** Days of observations to fit over. */
  windowDays: number;
  /** Fewest observations a fit needs (default 3: two points always make a line, even from noise). */
  minSamples?: number;
  /** Shortest time the observations must span, in days (default one hour). */
  minSpanDays?: number;
}

/** Change per day of a quantity: the slope of the least-squares line through the window's observations. */
export function fitRate(observations: readonly Observation[], options: FitOptions): Rate {
  const from = options.now - options.windowDays * DAY_MS;
  const points = observations.filter((o) => o.at >= from && o.at <= options.now && Number.isFinite(o.value));
  const minSamples = options.minSamples ?? 3;
  const minSpanDays = options.minSpanDays ?? 1 / 24;
  if (points.length < minSamples) {
    return {
      ok: false,
      samples: points.length,
      reason: `${points.length} sample${points.length === 1 ? "" : "s"} in the last ${options.windowDays} d (need ${minSamples})`,
    };
  }
  const first = Math.min(...points.map((p) => p.at));
  const last = Math.max(...points.map((p) => p.at));
  const spanDays = (last - first) / DAY_MS;
  if (spanDays < minSpanDays) {
    return {
      ok: false,
      samples: points.length,
      reason: `samples span ${formatDays(spanDays)} (need ${formatDays(minSpanDays)})`,
    };
  }
  // Days relative to the first sample keep the sums small enough for exact-enough floating point.
  const xs = points.map((p) => (p.at - first) / DAY_MS);
  const meanX = xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanY = points.reduce((a, p) => a + p.value, 0) / points.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < points.length; i++) {
    sxy += (xs[i]! - meanX) * (points[i]!.value - meanY);
    sxx += (xs[i]! - meanX) ** 2;
  }
  return { ok: true, perDay: sxy / sxx, samples: points.length, spanDays };
}

/** What {@link forecastBucket} needs to know about a bucket now. */
export interface BucketState {
  name: string;
  /** Bytes on disk now. */
  bytes: number;
  /** Retention in seconds; 0 keeps data for ever. */
  retentionSeconds: number;
  /** Shard-group duration in seconds (InfluxDB drops whole shard groups). */
  shardGroupSeconds: number;
  /** Time of the oldest point (ms), when the bucket holds any. */
  oldestPointAt?: number;
  /** Growth of `bytes`, from {@link fitRate}. */
  growth: Rate;
}

/** Where a bucket is heading. */
export interface BucketForecast {
  name: string;
  bytes: number;
  /** Fitted growth in bytes per day; undefined when there are too few samples. */
  bytesPerDay?: number;
  /** `unknown` without a fit; `steady` when the change is below 0.01 % of the size a day. */
  trend: "growing" | "steady" | "shrinking" | "unknown";
  /** True when the oldest point is as old as the retention: the bucket is at its plateau. */
  atRetention: boolean;
  /** Days until the bucket stops growing (0: it does not grow); undefined when it never settles or is unknown. */
  daysToSettle?: number;
  /** The size it settles at: `Infinity` when its retention is infinite and it grows; undefined when unknown. */
  settledBytes?: number;
  /** Why the forecast is unknown, when it is. */
  reason?: string;
}

/** Forecast of one bucket's size under its retention. */
export function forecastBucket(state: BucketState, now: number): BucketForecast {
  const retentionDays = state.retentionSeconds / 86_400;
  const ageDays = state.oldestPointAt === undefined ? 0 : Math.max(0, (now - state.oldestPointAt) / DAY_MS);
  const atRetention = retentionDays > 0 && ageDays >= retentionDays;
  const base = { name: state.name, bytes: state.bytes, atRetention };
  if (!state.growth.ok) return { ...base, trend: "unknown", reason: state.growth.reason };
  const perDay = state.growth.perDay;
  const steadyBelow = Math.max(1, state.bytes * 1e-4);
  if (perDay < steadyBelow) {
    // Not growing (or shrinking, e.g. after a retention cut): it settles where it is.
    return {
      ...base,
      bytesPerDay: perDay,
      trend: perDay <= -steadyBelow ? "shrinking" : "steady",
      daysToSettle: 0,
      settledBytes: state.bytes,
    };
  }
  if (retentionDays === 0) return { ...base, bytesPerDay: perDay, trend: "growing", settledBytes: Infinity };
  const keepDays = retentionDays + state.shardGroupSeconds / 86_400;
  const daysToSettle = Math.max(0, keepDays - ageDays);
  return {
    ...base,
    bytesPerDay: perDay,
    trend: "growing",
    daysToSettle,
    settledBytes: state.bytes + perDay * daysToSettle,
  };
}

/** The disk InfluxDB's data lives on. */
export interface DiskState {
  /** Size of the disk (or the configured capacity), in bytes. */
  capacityBytes: number;
  /** Bytes in use now (everything on it, not only InfluxDB's). */
  usedBytes: number;
}

/** When the disk fills, if it does. */
export interface DiskForecast {
  capacityBytes: number;
  usedBytes: number;
  usedPercent: number;
  /** Growth of every growing bucket together, bytes per day, now. */
  bytesPerDay: number;
  /** What the disk will hold once every bucket has settled (`Infinity`: some bucket never settles). */
  neededBytes: number;
  /** `fills`: at `fillsAt`; `never`: `headroomBytes` stay free once every bucket has settled. */
  verdict: "fills" | "never";
  /** Days until full (0: full now), when it fills. */
  daysUntilFull?: number;
  /** When it fills (ms since the epoch). */
  fillsAt?: number;
  /** Free bytes left once everything has settled, when it never fills. */
  headroomBytes?: number;
  /** Buckets whose growth is unknown (too few samples): counted as not growing. */
  unknownBuckets: string[];
}

/**
 * When the disk fills at the current rates: each bucket keeps growing at its rate until it settles,
 * so the disk's use is a piecewise-linear curve that flattens as buckets reach their retention.
 */
export function forecastDisk(disk: DiskState, buckets: readonly BucketForecast[], now: number): DiskForecast {
  const growing = buckets
    .filter((b) => b.trend === "growing" && b.bytesPerDay !== undefined && b.bytesPerDay > 0)
    .map((b) => ({ rate: b.bytesPerDay!, untilDay: b.daysToSettle ?? Infinity }))
    .sort((a, b) => a.untilDay - b.untilDay);
  const unknownBuckets = buckets.filter((b) => b.trend === "unknown").map((b) => b.name);
  const bytesPerDay = growing.reduce((sum, b) => sum + b.rate, 0);
  const neededBytes = disk.usedBytes + growing.reduce((sum, b) => sum + b.rate * b.untilDay, 0);
  const base = {
    capacityBytes: disk.capacityBytes,
    usedBytes: disk.usedBytes,
    usedPercent: disk.capacityBytes > 0 ? (100 * disk.usedBytes) / disk.capacityBytes : 100,
    bytesPerDay,
    neededBytes,
    unknownBuckets,
  };
  const fills = (days: number) => ({
    ...base,
    verdict: "fills" as const,
    daysUntilFull: days,
    fillsAt: now + days * DAY_MS,
  });
  if (disk.usedBytes >= disk.capacityBytes) return fills(0);

  let day = 0;
  let used = disk.usedBytes;
  let rate = bytesPerDay;
  for (const bucket of growing) {
    const segmentDays = bucket.untilDay - day;
    if (rate > 0 && used + rate * segmentDays >= disk.capacityBytes)
      return fills(day + (disk.capacityBytes - used) / rate);
    used += rate * segmentDays;
    day = bucket.untilDay;
    rate -= bucket.rate;
  }
  return { ...base, verdict: "never", headroomBytes: disk.capacityBytes - used };
}

function formatDays(days: number): string {
  return days >= 1 ? `${days.toFixed(1)} d` : `${(days * 24).toFixed(1)} h`;
}

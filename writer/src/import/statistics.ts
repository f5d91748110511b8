/**
 * Long-term statistics into the rollup buckets. Home Assistant keeps hourly statistics forever
 * (`statistics`: per hour `mean`, `min`, `max` for measurements, `state` and `sum` for meters), long
 * after its raw states are purged; they become the points the downsampling tasks write
 * (`components/flux.ts`): measurement `home_assistant_hourly` / `home_assistant_daily`, tags
 * `entity_id`, `domain`, `device_class`, `area` (the rollups' group tags), stamped at the start of
 * the hour / the local day.
 *
 * Only hours before the entity's first raw state in the recorder are written: the hours the raw data
 * covers are left to the rollup tasks (which also write them, from the imported raw points). Daily
 * points are derived from the hourly rows of local days that end before the first raw state.
 *
 * Fields, as the tasks' step-function statistics (analysis/src/stepFlux.ts), and where Home
 * Assistant's semantics differ (see the README):
 * - `mean`: Home Assistant's time-weighted mean of the hour, like the tasks'; `coverage_seconds` is
 *   3600 for an hour with a mean (Home Assistant does not record which seconds had no number), so a
 *   day's mean is Σ mean·coverage / Σ coverage = the mean of its hourly means; `min` / `max` are
 *   the extremes of the hourly ones.
 * - `count` (changes per window) is not in the statistics and is not written.
 * - `energy_kwh` (`device_class=energy` meters): the hour's increase of `sum`, Home Assistant's
 *   reset-aware running total, converted to kWh from Wh/MWh, and the day's sum of them; the first
 *   hour of an entity (or one after a gap) has no predecessor and counts nothing.
 *
 * The points go to InfluxDB with the writer's client (`influxClient.ts`: gzip, classified answers),
 * a few attempts per request, but not through the spool: they are already line protocol for buckets
 * the pipeline does not route to, and they are idempotent, so a rerun after a failure writes them again.
 */

import { sleep } from "../backoff";
import { type InfluxClient, WRITE_PRECISION, type WriteOutcome } from "../influxClient";
import { escapeKey, escapeMeasurement, formatFloat } from "../lineProtocol";
import { DAILY_MEASUREMENT, ENERGY_FIELD, HOURLY_MEASUREMENT } from "../schema";
import type { Registries } from "../sources/haRegistries";
import type { ZoneClock } from "../timezone";
import type { RecorderSource } from "./recorder";

const HOUR_S = 3600;
const DAY_MS = 86_400_000;
const ENERGY_TO_KWH: Readonly<Record<string, number>> = { kWh: 1, Wh: 0.001, MWh: 1000 };

/** One hourly row of `statistics` with what its series needs. */
export interface StatisticsRow {
  startTs: number;
  mean: number | null;
  min: number | null;
  max: number | null;
  sum: number | null;
}

/** A statistic that is an entity's (`source = recorder`), with its rollup tags. */
export interface StatisticSeries {
  metadataId: number;
  entityId: string;
  unit: string | null;
  hasMean: boolean;
  hasSum: boolean;
  /** First raw state of the entity in the recorder (seconds), if any. */
  firstRawTs?: number;
  tags: { entity_id: string; domain: string; device_class?: string; area?: string };
}

/** Rollup lines per bucket role. */
export interface RollupLines {
  hourly: string[];
  daily: string[];
}

function tagText(tags: StatisticSeries["tags"]): string {
  // Sorted keys, as the writer serialises raw tags.
  return (Object.entries(tags) as [string, string | undefined][])
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== "")
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `,${escapeKey(key)}=${escapeKey(value)}`)
    .join("");
}

function fields(values: [string, number | null | undefined][]): string {
  return values
    .filter((entry): entry is [string, number] => typeof entry[1] === "number" && Number.isFinite(entry[1]))
    .map(([key, value]) => `${key}=${formatFloat(value)}`)
    .join(",");
}

/** The hourly and daily rollup lines (timestamps in seconds) of one series' rows in time order. */
export function rollupLines(series: StatisticSeries, rows: readonly StatisticsRow[], clock: ZoneClock): RollupLines {
  const tags = tagText(series.tags);
  const hourlyPrefix = `${escapeMeasurement(HOURLY_MEASUREMENT)}${tags} `;
  const dailyPrefix = `${escapeMeasurement(DAILY_MEASUREMENT)}${tags} `;
  const kwh =
    series.hasSum && series.tags.device_class === "energy" && series.unit !== null
      ? ENERGY_TO_KWH[series.unit]
      : undefined;
  const covered = series.firstRawTs ?? Number.POSITIVE_INFINITY;
  const hourly: string[] = [];
  const days = new Map<number, { means: number[]; min?: number; max?: number; energy?: number; endTs: number }>();
  let previous: StatisticsRow | undefined;
  for (const row of rows) {
    if (row.startTs + HOUR_S > covered) break;
    const energy =
      kwh !== undefined && previous?.sum != null && row.sum !== null && previous.startTs === row.startTs - HOUR_S
        ? (row.sum - previous.sum) * kwh
        : undefined;
    previous = row;
    const hasMean = series.hasMean && row.mean !== null;
    const text = fields([
      ["mean", series.hasMean ? row.mean : null],
      ["min", series.hasMean ? row.min : null],
      ["max", series.hasMean ? row.max : null],
      // Home Assistant's hourly mean covers the hour (it does not say which seconds had no number).
      ["coverage_seconds", hasMean ? HOUR_S : null],
      [ENERGY_FIELD, energy],
    ]);
    if (text !== "") hourly.push(`${hourlyPrefix}${text} ${Math.round(row.startTs)}`);
    const ms = row.startTs * 1000;
    const wallDay = Math.floor((ms + clock.offsetAt(ms)) / DAY_MS) * DAY_MS;
    const dayStartMs = clock.wallClockToUtc(wallDay);
    let day = days.get(dayStartMs);
    if (day === undefined) {
      day = { means: [], endTs: clock.wallClockToUtc(wallDay + DAY_MS) / 1000 };
      days.set(dayStartMs, day);
    }
    if (series.hasMean) {
      if (row.mean !== null) day.means.push(row.mean);
      if (row.min !== null) day.min = day.min === undefined ? row.min : Math.min(day.min, row.min);
      if (row.max !== null) day.max = day.max === undefined ? row.max : Math.max(day.max, row.max);
    }
    if (energy !== undefined) day.energy = (day.energy ?? 0) + energy;
  }
  const daily: string[] = [];
  for (const [dayStartMs, day] of days) {
    // A day the raw data reaches into is the daily task's.
    if (day.endTs > covered) continue;
    // Σ mean·coverage / Σ coverage, the tasks' rule for combining windows, with an hour's coverage each.
    const mean = day.means.length > 0 ? day.means.reduce((a, b) => a + b, 0) / day.means.length : undefined;
    const text = fields([
      ["mean", mean],
      ["min", day.min],
      ["max", day.max],
      ["coverage_seconds", day.means.length > 0 ? day.means.length * HOUR_S : null],
      [ENERGY_FIELD, day.energy],
    ]);
    if (text !== "") daily.push(`${dailyPrefix}${text} ${Math.round(dayStartMs / 1000)}`);
  }
  return { hourly, daily };
}

/** The entities' statistics series with their tags (device class from the entity's latest recorded attributes). */
export async function statisticSeries(
  db: RecorderSource,
  registries: Registries,
  entities?: (entityId: string) => boolean,
): Promise<StatisticSeries[]> {
  const result: StatisticSeries[] = [];
  for (const meta of await db.statisticsMeta()) {
    if (meta.source !== "recorder" || !meta.statisticId.includes(".")) continue;
    if (entities && !entities(meta.statisticId)) continue;
    const entity = await db.entitySummary(meta.statisticId);
    let deviceClass: string | undefined;
    if (entity?.latestAttributes) {
      try {
        const attributes = JSON.parse(entity.latestAttributes) as Record<string, unknown>;
        if (typeof attributes.device_class === "string") deviceClass = attributes.device_class;
      } catch {
        // Its device class stays unknown; the rows themselves are still good.
      }
    }
    const area = registries.of(meta.statisticId).area;
    const series: StatisticSeries = {
      metadataId: meta.id,
      entityId: meta.statisticId,
      unit: meta.unit,
      hasMean: meta.hasMean,
      hasSum: meta.hasSum,
      tags: {
        entity_id: meta.statisticId,
        domain: meta.statisticId.slice(0, meta.statisticId.indexOf(".")),
        ...(deviceClass !== undefined ? { device_class: deviceClass } : {}),
        ...(area !== undefined ? { area } : {}),
      },
    };
    if (entity?.firstTs !== undefined) series.firstRawTs = entity.firstTs;
    result.push(series);
  }
  return result;
}

/** Where rollup lines go: the writer's InfluxDB client (one classified, gzipped request per call). */
export type RollupWriter = Pick<InfluxClient, "write">;

/** Lines per write request. */
const LINES_PER_WRITE = 5_000;
const WRITE_ATTEMPTS = 3;
/** A whole second in the client's precision: rollup lines are stamped in seconds. */
const WHOLE_SECOND: Record<typeof WRITE_PRECISION, string> = { us: "000000" };

/** Why InfluxDB refused a write for good. */
function refusal(outcome: Exclude<WriteOutcome, { kind: "delivered" | "retry" }>): string {
  if (outcome.kind === "too_large") return `HTTP 413 ${outcome.message}`;
  if (outcome.kind === "rejected") return `HTTP ${outcome.status} ${outcome.message}`;
  return `HTTP ${outcome.message}`;
}

/** Writes `lines` (timestamps in seconds) to `bucket`; throws naming the bucket and InfluxDB's answer. */
export async function writeRollupLines(client: RollupWriter, bucket: string, lines: readonly string[]): Promise<void> {
  const second = WHOLE_SECOND[WRITE_PRECISION];
  for (let offset = 0; offset < lines.length; offset += LINES_PER_WRITE) {
    const body = Buffer.from(
      lines
        .slice(offset, offset + LINES_PER_WRITE)
        .map((line) => `${line}${second}`)
        .join("\n"),
    );
    for (let attempt = 1; ; attempt++) {
      const outcome = await client.write(bucket, body);
      if (outcome.kind === "delivered") break;
      // No such bucket, a refused token, a bad line: none gets better by retrying.
      if (outcome.kind !== "retry")
        throw new StatisticsWriteError(`InfluxDB refused the rollup points for bucket ${bucket}: ${refusal(outcome)}`);
      if (attempt >= WRITE_ATTEMPTS)
        throw new StatisticsWriteError(
          `could not write the rollup points for bucket ${bucket}: ${outcome.reason}: ${outcome.message}`,
        );
      await sleep(500 * attempt);
    }
  }
}

/** A failed rollup write, reported as one line. */
export class StatisticsWriteError extends Error {}

/** What the statistics import did. */
export interface StatisticsSummary {
  series: number;
  hourlyPoints: number;
  dailyPoints: number;
  /** True when a signal stopped it before the last series (a rerun writes the same points again). */
  interrupted: boolean;
}

/** Reads every entity statistic of the recorder and writes its rollup points. */
export async function importStatistics(options: {
  db: RecorderSource;
  registries: Registries;
  clock: ZoneClock;
  client: RollupWriter;
  buckets: { hourly: string; daily: string };
  startTs?: number;
  stopTs?: number;
  entities?: (entityId: string) => boolean;
  /** Stops before the next series once aborted. */
  signal?: AbortSignal;
}): Promise<StatisticsSummary> {
  const summary: StatisticsSummary = { series: 0, hourlyPoints: 0, dailyPoints: 0, interrupted: false };
  for (const series of await statisticSeries(options.db, options.registries, options.entities)) {
    if (options.signal?.aborted) {
      summary.interrupted = true;
      break;
    }
    const rows = await options.db.readStatistics(series.metadataId, options.startTs, options.stopTs);
    if (rows.length === 0) continue;
    const lines = rollupLines(series, rows, options.clock);
    summary.series += 1;
    await writeRollupLines(options.client, options.buckets.hourly, lines.hourly);
    await writeRollupLines(options.client, options.buckets.daily, lines.daily);
    summary.hourlyPoints += lines.hourly.length;
    summary.dailyPoints += lines.daily.length;
  }
  return summary;
}

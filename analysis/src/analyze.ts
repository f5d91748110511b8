// Pattern queries: choose where each part of the range is read from (daily or hourly rollups, or raw
// events through the same step-function statistics the rollup tasks compute), read per-window
// statistics, and combine the windows of each pattern key exactly (means weighted by coverage).
import type { AnalysisConfig } from "./config";
import { UserError } from "./errors";
import { query, type Row } from "./influx";
import { type Hemisphere, keyRank, needsHours, type Pattern, patternKey, seasonName } from "./patterns";
import { DAILY_MEASUREMENT, HOURLY_MEASUREMENT, RAW_MEASUREMENT, STATISTIC_FIELDS, UNIT_FIELD } from "./schema";
import { windowStatisticsFlux } from "./stepFlux";
import { localParts, startOfLocalDay, startOfLocalHour } from "./time";

export type Resolution = "raw" | "hourly" | "daily";
export const RESOLUTIONS = ["auto", "raw", "hourly", "daily"] as const;

/** Which entities to analyse; kinds combine with AND, values of one kind with OR. */
export interface Selection {
  entities: string[];
  domains: string[];
  areas: string[];
  deviceClasses: string[];
}

export interface AnalysisRequest {
  pattern: Pattern;
  selection: Selection;
  /** Epoch milliseconds; aligned inward to whole windows (local hours or days). */
  start: number;
  stop: number;
  resolution: (typeof RESOLUTIONS)[number];
  hemisphere: Hemisphere;
  /** Called with one line per source query, for progress on long work. */
  progress?: (line: string) => void;
}

/** Statistics of one pattern key. */
export interface PatternRow {
  key: string;
  /** Season name in the chosen hemisphere (season pattern only). */
  label?: string;
  mean?: number;
  min?: number;
  max?: number;
  count: number;
  coverage_seconds: number;
  energy_kwh?: number;
}

export interface Series {
  entity_id: string;
  unit?: string;
  rows: PatternRow[];
}

/** A part of the range and where it was read from. */
export interface Source {
  resolution: Resolution;
  start: string;
  stop: string;
}

/** The answer; its JSON form is the contract other tools build on. */
export interface PatternResult {
  pattern: Pattern;
  resolution: Resolution;
  timeZone: string;
  start: string;
  stop: string;
  series: Series[];
  /** Where each part of the range came from (more than one when auto fell back to a finer source). */
  sources: Source[];
  /** Set when nothing matched, saying why. */
  note?: string;
}

/** Statistics of one window of one entity, as rollups and the raw computation give them. */
interface WindowStats {
  entity_id: string;
  start: number;
  mean?: number;
  min?: number;
  max?: number;
  count: number;
  coverage_seconds: number;
  energy_kwh?: number;
}

const fluxString = (text: string) => JSON.stringify(text);
/** The longest range of raw data one query rolls up (about a month). */
const RAW_CHUNK_MS = 31 * 86_400_000;
const fluxTime = (ms: number) => new Date(ms).toISOString();

/** The Flux condition on `r` for a selection; undefined selects everything. */
export function selectionPredicate(selection: Selection): string | undefined {
  const kinds: [string, string[]][] = [
    ["entity_id", selection.entities],
    ["domain", selection.domains],
    ["area", selection.areas],
    ["device_class", selection.deviceClasses],
  ];
  const parts = kinds
    .filter(([, values]) => values.length > 0)
    .map(([tag, values]) => `(${values.map((value) => `r.${tag} == ${fluxString(value)}`).join(" or ")})`);
  return parts.length === 0 ? undefined : parts.join(" and ");
}

function toWindowStats(rows: Row[]): WindowStats[] {
  const number = (text: string | undefined) => (text === undefined || text === "" ? undefined : Number(text));
  return rows.map((row) => ({
    entity_id: row.entity_id,
    start: Date.parse(row._time),
    mean: number(row.mean),
    min: number(row.min),
    max: number(row.max),
    count: number(row.count) ?? 0,
    coverage_seconds: number(row.coverage_seconds) ?? 0,
    energy_kwh: number(row.energy_kwh),
  }));
}

const pivotFields = `    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
    |> keep(columns: ["entity_id", "_time", ${STATISTIC_FIELDS.map(fluxString).join(", ")}])`;

function rollupFlux(
  config: AnalysisConfig,
  resolution: "hourly" | "daily",
  start: number,
  stop: number,
  where: string | undefined,
): string {
  const measurement = resolution === "hourly" ? HOURLY_MEASUREMENT : DAILY_MEASUREMENT;
  return `from(bucket: ${fluxString(config.buckets[resolution])})
    |> range(start: ${fluxTime(start)}, stop: ${fluxTime(stop)})
    |> filter(fn: (r) => r._measurement == ${fluxString(measurement)}${where === undefined ? "" : ` and (${where})`})
${pivotFields}
`;
}

function rawFlux(
  config: AnalysisConfig,
  unit: "1h" | "1d",
  start: number,
  stop: number,
  where: string | undefined,
): string {
  return `${windowStatisticsFlux({
    sourceBucket: config.buckets.events,
    timeZone: config.timeZone,
    unit,
    range: `start = ${fluxTime(start)}\nstop = ${fluxTime(stop)}`,
    where,
  })}
rollup
${pivotFields}
`;
}

/** The span [first window start, last window end) a rollup bucket holds, over all entities. */
async function rollupSpan(
  config: AnalysisConfig,
  resolution: "hourly" | "daily",
  start: number,
  stop: number,
): Promise<[number, number] | undefined> {
  const measurement = resolution === "hourly" ? HOURLY_MEASUREMENT : DAILY_MEASUREMENT;
  // first/last per series are answered by the storage engine without reading the points
  const rows = await query(
    config,
    `data = from(bucket: ${fluxString(config.buckets[resolution])})
    |> range(start: ${fluxTime(start)}, stop: ${fluxTime(stop)})
    |> filter(fn: (r) => r._measurement == ${fluxString(measurement)} and r._field == "count")
union(tables: [data |> first(), data |> last()])
    |> keep(columns: ["_time"])
    |> group()
`,
  );
  if (rows.length === 0) return undefined;
  const times = rows.map((row) => Date.parse(row._time));
  const last = Math.max(...times);
  const end = resolution === "hourly" ? last + 3_600_000 : startOfLocalDay(last + 26 * 3_600_000, config.timeZone);
  return [Math.min(...times), Math.min(end, stop)];
}

/**
 * Which source answers which part of [start, stop): the coarsest that may answer the pattern where it
 * holds data, finer ones before and after it; raw is the source of last resort.
 */
async function plan(
  config: AnalysisConfig,
  request: AnalysisRequest,
  start: number,
  stop: number,
  order: Resolution[],
): Promise<Source[]> {
  if (start >= stop) return [];
  const [first, ...finer] = order;
  if (first === "raw" || finer.length === 0)
    return [{ resolution: first, start: fluxTime(start), stop: fluxTime(stop) }];
  const span = await rollupSpan(config, first, start, stop);
  if (span === undefined) return plan(config, request, start, stop, finer);
  const [from, to] = [Math.max(start, span[0]), Math.min(stop, span[1])];
  return [
    ...(await plan(config, request, start, from, finer)),
    { resolution: first, start: fluxTime(from), stop: fluxTime(to) },
    ...(await plan(config, request, to, stop, finer)),
  ];
}

/** Aligns the range inward to whole windows of the pattern's grain. */
export function alignRange(pattern: Pattern, start: number, stop: number, timeZone: string): [number, number] {
  if (needsHours(pattern)) {
    const first = startOfLocalHour(start, timeZone);
    return [first < start ? first + 3_600_000 : first, startOfLocalHour(stop, timeZone)];
  }
  const first = startOfLocalDay(start, timeZone);
  return [first < start ? startOfLocalDay(first + 26 * 3_600_000, timeZone) : first, startOfLocalDay(stop, timeZone)];
}

export async function analyze(config: AnalysisConfig, request: AnalysisRequest): Promise<PatternResult> {
  const { pattern } = request;
  if (request.stop <= request.start) throw new UserError("--stop must be after --start");
  if (needsHours(pattern) && request.resolution === "daily") {
    throw new UserError(`--pattern ${pattern} splits days into hours: use --resolution hourly, raw or auto`);
  }
  const [start, stop] = alignRange(pattern, request.start, request.stop, config.timeZone);
  if (stop <= start)
    throw new UserError(`the range holds no whole ${needsHours(pattern) ? "hour" : "local day"} in ${config.timeZone}`);
  const where = selectionPredicate(request.selection);

  const order: Resolution[] =
    request.resolution === "auto"
      ? needsHours(pattern)
        ? ["hourly", "raw"]
        : ["daily", "hourly", "raw"]
      : [request.resolution];
  const sources = await plan(config, request, start, stop, order);

  const windows: WindowStats[] = [];
  for (const source of sources) {
    const [from, to] = [Date.parse(source.start), Date.parse(source.stop)];
    if (source.resolution !== "raw") {
      request.progress?.(`reading ${source.resolution} ${source.start} .. ${source.stop}`);
      windows.push(...toWindowStats(await query(config, rollupFlux(config, source.resolution, from, to, where))));
      continue;
    }
    // Raw data is rolled up on the fly, a month at a time: each query stays well inside the HTTP
    // client's time limits, and a long range reports progress. Each month carries its own state in.
    for (let chunk = from; chunk < to; ) {
      const next = Math.min(to, startOfLocalDay(chunk + RAW_CHUNK_MS, config.timeZone));
      request.progress?.(`reading raw ${fluxTime(chunk)} .. ${fluxTime(next)}`);
      windows.push(
        ...toWindowStats(await query(config, rawFlux(config, needsHours(pattern) ? "1h" : "1d", chunk, next, where))),
      );
      chunk = next;
    }
  }

  const units = await unitsOf(config, where);
  const series = combine(windows, pattern, config.timeZone, request.hemisphere).map(({ entity_id, rows }) => ({
    entity_id,
    unit: units.get(entity_id),
    rows,
  }));
  const span = (source: Source) => Date.parse(source.stop) - Date.parse(source.start);
  const main = [...sources].sort((a, b) => span(b) - span(a))[0];
  const result: PatternResult = {
    pattern,
    resolution: main.resolution,
    timeZone: config.timeZone,
    start: fluxTime(start),
    stop: fluxTime(stop),
    series,
    sources,
  };
  if (series.length === 0) {
    result.note =
      request.selection.entities.length > 0
        ? `no data for ${request.selection.entities.join(", ")} between ${result.start} and ${result.stop}`
        : `no entity matches the selection between ${result.start} and ${result.stop}`;
  }
  return result;
}

/** The last unit each selected entity reported, from the raw events. */
async function unitsOf(config: AnalysisConfig, where: string | undefined): Promise<Map<string, string>> {
  const rows = await query(
    config,
    `from(bucket: ${fluxString(config.buckets.events)})
    |> range(start: 0)
    |> filter(fn: (r) => r._measurement == ${fluxString(RAW_MEASUREMENT)} and r._field == ${fluxString(UNIT_FIELD)}${where === undefined ? "" : ` and (${where})`})
    |> last()
    |> keep(columns: ["entity_id", "_time", "_value"])
`,
  );
  const latest = new Map<string, { at: number; unit: string }>();
  for (const row of rows) {
    const at = Date.parse(row._time);
    if ((latest.get(row.entity_id)?.at ?? -Infinity) < at) latest.set(row.entity_id, { at, unit: row._value });
  }
  return new Map([...latest].map(([entity, { unit }]) => [entity, unit]));
}

/**
 * Combines windows into pattern rows: coverage, counts and energy add up; the mean is weighted by
 * coverage, so hours combine into days (and days into months) exactly as the raw step function would.
 */
export function combine(
  windows: WindowStats[],
  pattern: Pattern,
  timeZone: string,
  hemisphere: Hemisphere,
): Omit<Series, "unit">[] {
  const byEntity = new Map<string, Map<string, PatternRow & { weighted: number }>>();
  for (const window of windows) {
    const key = patternKey(pattern, localParts(window.start, timeZone));
    let rows = byEntity.get(window.entity_id);
    if (!rows) {
      rows = new Map();
      byEntity.set(window.entity_id, rows);
    }
    let row = rows.get(key);
    if (!row) {
      row = { key, count: 0, coverage_seconds: 0, weighted: 0 };
      rows.set(key, row);
    }
    row.count += window.count;
    if (window.mean !== undefined && window.coverage_seconds > 0) {
      row.coverage_seconds += window.coverage_seconds;
      row.weighted += window.mean * window.coverage_seconds;
    }
    if (window.min !== undefined) row.min = Math.min(row.min ?? Infinity, window.min);
    if (window.max !== undefined) row.max = Math.max(row.max ?? -Infinity, window.max);
    if (window.energy_kwh !== undefined) row.energy_kwh = (row.energy_kwh ?? 0) + window.energy_kwh;
  }
  return [...byEntity]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([entity_id, rows]) => ({
      entity_id,
      rows: [...rows.values()]
        .sort((a, b) => keyRank(pattern, a.key) - keyRank(pattern, b.key))
        .map(({ weighted, ...row }) => ({
          key: row.key,
          ...(pattern === "season" ? { label: seasonName(row.key, hemisphere) } : {}),
          ...(row.coverage_seconds > 0 ? { mean: weighted / row.coverage_seconds } : {}),
          ...(row.min !== undefined ? { min: row.min } : {}),
          ...(row.max !== undefined ? { max: row.max } : {}),
          count: row.count,
          coverage_seconds: row.coverage_seconds,
          ...(row.energy_kwh !== undefined ? { energy_kwh: row.energy_kwh } : {}),
        })),
    }));
}

/**
 * The capacity report of `ha-influx-capacity`: a live sample plus the samples the monitor stored,
 * forecast and rounded as the monitor's `/status` does (`evaluation.ts`), and its JSON shape. The text
 * table is `reportTable.ts`, the SVG picture `svg.ts`.
 */
import { type Alert, evaluateAlerts } from "./alerts";
import type { AlertThresholds } from "./config";
import {
  alertInputOf,
  type BucketFigures,
  bucketFigures,
  bucketProblem,
  type DiskFigures,
  diskFigures,
  evaluateSample,
  type TaskFigures,
  taskFigures,
} from "./evaluation";
import type { Observation } from "./forecast";
import { iso } from "./format";
import type { History } from "./history";
import { fluxString, type InfluxApi } from "./influxApi";
import type { Sample } from "./sampler";

/** Entities that weigh most in the raw bucket. */
export interface TopEntities {
  bucket: string;
  /** Series per entity (all of the bucket's data). */
  bySeries: { entityId: string; series: number }[];
  /** Events (points of `state_value`) per entity in the last 24 hours. */
  byEvents: { entityId: string; events: number }[];
}

export interface ReportBucket extends BucketFigures {
  name: string;
  bytes: number;
  /** Samples the growth was fitted over. */
  samples: number;
  note?: string;
}

export interface CapacityReport {
  generatedAt: string;
  server: string;
  org: string;
  windowDays: number;
  buckets: ReportBucket[];
  totals: { bytes: number; bytesPerDay: number; settledBytes: number | null };
  disk?: DiskFigures;
  tasks: TaskFigures[];
  topEntities?: TopEntities;
  alerts: Alert[];
  problems: string[];
}

/** Builds the report from a live sample and the stored history (the sample is added to it). */
export function buildReport(args: {
  sample: Sample;
  history: History;
  windowDays: number;
  server: string;
  org: string;
  thresholds: AlertThresholds;
  topEntities?: TopEntities;
}): CapacityReport {
  const { sample, history, windowDays } = args;
  const pastOf = (name: string, kind: "bytes" | "series", live: number | undefined): Observation[] => [
    ...(history.get(name)?.[kind] ?? []).filter((o) => o.at < sample.at),
    ...(live === undefined ? [] : [{ at: sample.at, value: live }]),
  ];
  const evaluation = evaluateSample(
    sample,
    (b) => ({ bytes: pastOf(b.name, "bytes", b.diskBytes), series: pastOf(b.name, "series", b.series) }),
    windowDays,
  );
  const forecasts = evaluation.buckets.map((b) => b.forecast);
  const settled = forecasts.reduce((sum, f) => sum + (f.settledBytes ?? f.bytes), 0);
  return {
    generatedAt: iso(sample.at)!,
    server: args.server,
    org: args.org,
    windowDays,
    buckets: evaluation.buckets.map((b) => ({
      name: b.sample.name,
      bytes: b.sample.diskBytes,
      ...bucketFigures(b),
      samples: b.growth.samples,
      note: bucketProblem(b),
    })),
    totals: {
      bytes: sample.buckets.reduce((sum, b) => sum + b.diskBytes, 0),
      bytesPerDay: Math.round(forecasts.reduce((sum, f) => sum + (f.trend === "growing" ? f.bytesPerDay! : 0), 0)),
      settledBytes: Number.isFinite(settled) ? Math.round(settled) : null,
    },
    disk: diskFigures(evaluation),
    tasks: sample.tasks.map(taskFigures),
    topEntities: args.topEntities,
    alerts: evaluateAlerts(alertInputOf(evaluation), args.thresholds),
    problems: sample.problems,
  };
}

/** The entities with the most series and the most events in `bucket` (the raw events bucket). */
export async function queryTopEntities(api: InfluxApi, bucket: string, n: number): Promise<TopEntities> {
  const b = fluxString(bucket);
  // `state_value` is written with every event, so its points count events and its series count the entity's series.
  const flux = `from(bucket: ${b}) |> range(start: time(v: 0)) |> filter(fn: (r) => r._field == "state_value") |> last() |> group(columns: ["entity_id"]) |> count() |> group() |> top(n: ${n}) |> yield(name: "series")
from(bucket: ${b}) |> range(start: -1d) |> filter(fn: (r) => r._field == "state_value") |> group(columns: ["entity_id"]) |> count() |> group() |> top(n: ${n}) |> yield(name: "events")
`;
  const rows = await api.query(flux, `top entities of ${bucket}`);
  return {
    bucket,
    bySeries: rows
      .filter((r) => r.result === "series")
      .map((r) => ({ entityId: r.entity_id ?? "", series: Number(r._value) })),
    byEvents: rows
      .filter((r) => r.result === "events")
      .map((r) => ({ entityId: r.entity_id ?? "", events: Number(r._value) })),
  };
}

/**
 * The capacity report of `ha-influx-capacity`: a live sample plus the samples the monitor stored,
 * forecast with the same pure functions the monitor uses, and printed as a table or JSON (the SVG
 * picture is `svg.ts`).
 */
import { type Alert, evaluateAlerts } from "./alerts";
import type { AlertThresholds } from "./config";
import {
  type BucketForecast,
  type DiskForecast,
  fitRate,
  forecastBucket,
  forecastDisk,
  type Observation,
} from "./forecast";
import type { History } from "./history";
import type { InfluxApi } from "./influxApi";
import { formatBytes } from "./monitor";
import type { Sample, TaskSample } from "./sampler";

/** Entities that weigh most in the raw bucket. */
export interface TopEntities {
  bucket: string;
  /** Series per entity (all of the bucket's data). */
  bySeries: { entityId: string; series: number }[];
  /** Events (points of `state_value`) per entity in the last 24 hours. */
  byEvents: { entityId: string; events: number }[];
}

export interface ReportBucket {
  name: string;
  bytes: number;
  walBytes: number;
  shards: number;
  series?: number;
  seriesPerDay?: number;
  pointsLastDay?: number;
  retentionDays: number;
  oldestPoint?: string;
  newestPoint?: string;
  /** Samples the growth was fitted over. */
  samples: number;
  growthBytesPerDay?: number;
  trend: BucketForecast["trend"];
  /** null: never settles (infinite retention). */
  settledBytes?: number | null;
  daysToSettle?: number;
  note?: string;
}

export interface CapacityReport {
  generatedAt: string;
  server: string;
  org: string;
  windowDays: number;
  buckets: ReportBucket[];
  totals: { bytes: number; bytesPerDay: number; settledBytes: number | null };
  disk?: {
    source: string;
    capacityBytes: number;
    usedBytes: number;
    usedPercent: number;
    bytesPerDay: number;
    verdict: DiskForecast["verdict"];
    daysUntilFull?: number;
    fillsOn?: string;
    headroomBytes?: number;
    unknownBuckets: string[];
  };
  tasks: (Omit<TaskSample, "lastRunAt" | "lastSuccessAt" | "newestWindowAt"> & {
    lastRunAt?: string;
    lastSuccessAt?: string;
    newestWindow?: string;
  })[];
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
  const window = { now: sample.at, windowDays };
  const pastOf = (name: string, kind: "bytes" | "series", live: number | undefined): Observation[] => [
    ...(history.get(name)?.[kind] ?? []).filter((o) => o.at < sample.at),
    ...(live === undefined ? [] : [{ at: sample.at, value: live }]),
  ];
  const seriesRates = new Map(sample.buckets.map((b) => [b.name, fitRate(pastOf(b.name, "series", b.series), window)]));
  const forecasts = sample.buckets.map((b) => {
    const bytes = pastOf(b.name, "bytes", b.diskBytes);
    const growth = fitRate(bytes, window);
    return {
      forecast: forecastBucket(
        {
          name: b.name,
          bytes: b.diskBytes,
          retentionSeconds: b.retentionSeconds,
          shardGroupSeconds: b.shardGroupSeconds,
          oldestPointAt: b.oldestPointAt,
          growth,
        },
        sample.at,
      ),
      samples: growth.samples,
    };
  });
  const disk = sample.disk
    ? forecastDisk(
        sample.disk,
        forecasts.map((f) => f.forecast),
        sample.at,
      )
    : undefined;
  const settled = forecasts.reduce((sum, { forecast }) => sum + (forecast.settledBytes ?? forecast.bytes), 0);
  return {
    generatedAt: iso(sample.at)!,
    server: args.server,
    org: args.org,
    windowDays,
    buckets: sample.buckets.map((b, i) => {
      const { forecast: f, samples } = forecasts[i]!;
      const seriesRate = seriesRates.get(b.name)!;
      return {
        name: b.name,
        bytes: b.diskBytes,
        walBytes: b.walBytes,
        shards: b.shards,
        series: b.series,
        seriesPerDay: seriesRate.ok ? round(seriesRate.perDay, 1) : undefined,
        pointsLastDay: b.pointsLastDay,
        retentionDays: b.retentionSeconds / 86_400,
        oldestPoint: iso(b.oldestPointAt),
        newestPoint: iso(b.newestPointAt),
        samples,
        growthBytesPerDay: f.bytesPerDay === undefined ? undefined : Math.round(f.bytesPerDay),
        trend: f.trend,
        settledBytes:
          f.settledBytes === undefined
            ? undefined
            : Number.isFinite(f.settledBytes)
              ? Math.round(f.settledBytes)
              : null,
        daysToSettle: f.daysToSettle === undefined ? undefined : round(f.daysToSettle, 1),
        note: b.problem ?? f.reason,
      };
    }),
    totals: {
      bytes: sample.buckets.reduce((sum, b) => sum + b.diskBytes, 0),
      bytesPerDay: Math.round(
        forecasts.reduce((sum, { forecast }) => sum + (forecast.trend === "growing" ? forecast.bytesPerDay! : 0), 0),
      ),
      settledBytes: Number.isFinite(settled) ? Math.round(settled) : null,
    },
    disk:
      disk && sample.disk
        ? {
            source: sample.disk.source,
            capacityBytes: disk.capacityBytes,
            usedBytes: disk.usedBytes,
            usedPercent: round(disk.usedPercent, 2),
            bytesPerDay: Math.round(disk.bytesPerDay),
            verdict: disk.verdict,
            daysUntilFull: disk.daysUntilFull === undefined ? undefined : round(disk.daysUntilFull, 1),
            fillsOn: iso(disk.fillsAt),
            headroomBytes: disk.headroomBytes === undefined ? undefined : Math.round(disk.headroomBytes),
            unknownBuckets: disk.unknownBuckets,
          }
        : undefined,
    tasks: sample.tasks.map(({ lastRunAt, lastSuccessAt, newestWindowAt, ...task }) => ({
      ...task,
      lastRunAt: iso(lastRunAt),
      lastSuccessAt: iso(lastSuccessAt),
      newestWindow: iso(newestWindowAt),
    })),
    topEntities: args.topEntities,
    alerts: evaluateAlerts(
      {
        buckets: sample.buckets.map((b) => ({
          name: b.name,
          series: b.series,
          seriesGrowth: seriesRates.get(b.name)!,
        })),
        disk,
        tasks: sample.tasks,
      },
      args.thresholds,
    ),
    problems: sample.problems,
  };
}

/** The entities with the most series and the most events in `bucket` (the raw events bucket). */
export async function queryTopEntities(api: InfluxApi, bucket: string, n: number): Promise<TopEntities> {
  const b = JSON.stringify(bucket).replace(/\$/g, "\\$");
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

/** The report as a text table. */
export function formatTable(report: CapacityReport): string {
  const out: string[] = [];
  out.push(
    `ha-influx capacity report: ${report.server}, org ${report.org}, ${report.generatedAt.slice(0, 16).replace("T", " ")} UTC`,
  );
  out.push(
    `growth fitted over the last ${report.windowDays} day${report.windowDays === 1 ? "" : "s"} of stored samples`,
  );
  out.push("");
  const rows = report.buckets.map((b) => [
    b.name,
    formatBytes(b.bytes),
    b.series === undefined ? "?" : count(b.series),
    b.growthBytesPerDay === undefined ? "?" : `${formatBytes(b.growthBytesPerDay)}`,
    b.pointsLastDay === undefined ? "?" : count(b.pointsLastDay),
    b.retentionDays === 0 ? "infinite" : `${round(b.retentionDays, 1)} d`,
    b.settledBytes === undefined ? "?" : b.settledBytes === null ? "never" : formatBytes(b.settledBytes),
    b.daysToSettle === undefined
      ? b.settledBytes === null
        ? "never"
        : "?"
      : b.daysToSettle === 0
        ? "now"
        : `${Math.round(b.daysToSettle)} d`,
    b.note ?? "",
  ]);
  rows.push([
    "total",
    formatBytes(report.totals.bytes),
    "",
    formatBytes(report.totals.bytesPerDay),
    "",
    "",
    report.totals.settledBytes === null ? "never" : formatBytes(report.totals.settledBytes),
    "",
    "",
  ]);
  out.push(
    ...table(
      ["bucket", "size", "series", "growth/day", "points/day", "retention", "settles at", "in", ""],
      rows,
      [1, 2, 3, 4, 5, 6, 7],
    ),
  );
  out.push("");
  const d = report.disk;
  if (d) {
    const head = `disk (${d.source === "statfs" ? "statfs of the data directory" : "configured capacity"}): ${formatBytes(d.usedBytes)} of ${formatBytes(d.capacityBytes)} used (${d.usedPercent.toFixed(1)} %), growing ${formatBytes(d.bytesPerDay)}/day`;
    out.push(
      d.verdict === "fills"
        ? `${head}: full on ${d.fillsOn!.slice(0, 10)} (in ${Math.round(d.daysUntilFull!)} days)`
        : `${head}: never full at this growth, ${formatBytes(d.headroomBytes!)} headroom once every bucket has settled`,
    );
    if (d.unknownBuckets.length > 0)
      out.push(`  (too few samples to know the growth of ${d.unknownBuckets.join(", ")}: counted as not growing)`);
  } else {
    out.push("disk: unknown (set monitor.dataDir, or monitor.capacityBytes / --capacity-gb for an external server)");
  }
  if (report.topEntities) {
    const t = report.topEntities;
    out.push("");
    out.push(`top entities in ${t.bucket}`);
    out.push(`  by series: ${t.bySeries.map((e) => `${e.entityId} ${count(e.series)}`).join(", ") || "none"}`);
    out.push(
      `  by events in the last 24 h: ${t.byEvents.map((e) => `${e.entityId} ${count(e.events)}`).join(", ") || "none"}`,
    );
  }
  out.push("");
  if (report.tasks.length === 0) out.push("tasks: none visible to this token");
  else {
    out.push(
      ...table(
        ["task", "status", "last run", "result", "failed in a row", "behind", "newest window"],
        report.tasks.map((t) => [
          t.name,
          t.status,
          t.lastRunAt ? t.lastRunAt.slice(0, 16).replace("T", " ") : "never",
          t.lastRunStatus === "failed" ? `failed: ${t.lastError ?? ""}` : (t.lastRunStatus ?? "-"),
          String(t.consecutiveFailures),
          t.lagWindows === undefined
            ? t.lagSeconds === undefined
              ? "?"
              : `${Math.round(t.lagSeconds / 60)} min`
            : `${t.lagWindows} windows`,
          t.newestWindow ? t.newestWindow.slice(0, 16).replace("T", " ") : "-",
        ]),
        [],
      ),
    );
  }
  out.push("");
  out.push(
    report.alerts.length === 0
      ? "alerts: none"
      : `alerts:\n${report.alerts.map((a) => `  ${a.name}${a.bucket ? ` (${a.bucket})` : ""}: ${a.message}`).join("\n")}`,
  );
  if (report.problems.length > 0) out.push(`problems:\n${report.problems.map((p) => `  ${p}`).join("\n")}`);
  return `${out.join("\n")}\n`;
}

function table(header: string[], rows: string[][], rightAligned: number[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (rightAligned.includes(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

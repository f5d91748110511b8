/**
 * What a sample says once it is forecast, as pure functions shared by the live monitor (`/status`,
 * gauges, alerts) and the capacity report, so that both fit, round and name a figure the same way:
 * the growth of each bucket's bytes and series over the window, each bucket's forecast and the disk's,
 * the alerts' input, and the sample's figures as JSON-ready values (ISO times, rounded numbers, null
 * for "never").
 */
import type { AlertInput } from "./alerts";
import {
  type BucketForecast,
  type DiskForecast,
  fitRate,
  forecastBucket,
  forecastDisk,
  type Observation,
  type Rate,
} from "./forecast";
import { iso, round } from "./format";
import type { BucketSample, DiskSample, Sample } from "./sampler";
import type { TaskSample } from "./tasks";

/** One bucket of a sample with what was fitted to its past. */
export interface BucketEvaluation {
  sample: BucketSample;
  /** Growth of its disk bytes. */
  growth: Rate;
  /** Growth of its series count. */
  seriesGrowth: Rate;
  forecast: BucketForecast;
}

/** A sample with its forecasts. */
export interface Evaluation {
  sample: Sample;
  /** In the order of `sample.buckets`. */
  buckets: BucketEvaluation[];
  /** Undefined when the sample has no disk. */
  disk?: DiskForecast;
}

/** A bucket's past sizes and series counts, the sample's own included. */
export type PastOf = (bucket: BucketSample) => { bytes: readonly Observation[]; series: readonly Observation[] };

/** Fits each bucket's growth over the last `windowDays` of its past and forecasts the buckets and the disk. */
export function evaluateSample(sample: Sample, pastOf: PastOf, windowDays: number): Evaluation {
  const window = { now: sample.at, windowDays };
  const buckets = sample.buckets.map((b): BucketEvaluation => {
    const past = pastOf(b);
    const growth = fitRate(past.bytes, window);
    return {
      sample: b,
      growth,
      seriesGrowth: fitRate(past.series, window),
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
    };
  });
  const disk = sample.disk
    ? forecastDisk(
        sample.disk,
        buckets.map((b) => b.forecast),
        sample.at,
      )
    : undefined;
  return { sample, buckets, disk };
}

/** What the alerts are evaluated on. */
export function alertInputOf({ sample, buckets, disk }: Evaluation): AlertInput {
  return {
    buckets: buckets.map((b) => ({ name: b.sample.name, series: b.sample.series, seriesGrowth: b.seriesGrowth })),
    disk,
    tasks: sample.tasks,
  };
}

/** A bucket's figures as `/status` and the report show them; each adds the name, and the size and the problem under names of its own. */
export interface BucketFigures {
  walBytes: number;
  shards: number;
  series?: number;
  seriesPerDay?: number;
  pointsLastDay?: number;
  /** 0: infinite. */
  retentionDays: number;
  oldestPoint?: string;
  newestPoint?: string;
  growthBytesPerDay?: number;
  trend: BucketForecast["trend"];
  /** null: it never settles (infinite retention). */
  settledBytes?: number | null;
  daysToSettle?: number;
}

/** The figures of one bucket of an evaluation. */
export function bucketFigures({ sample: b, forecast: f, seriesGrowth }: BucketEvaluation): BucketFigures {
  return {
    walBytes: b.walBytes,
    shards: b.shards,
    series: b.series,
    seriesPerDay: seriesGrowth.ok ? round(seriesGrowth.perDay, 1) : undefined,
    pointsLastDay: b.pointsLastDay,
    retentionDays: b.retentionSeconds / 86_400,
    oldestPoint: iso(b.oldestPointAt),
    newestPoint: iso(b.newestPointAt),
    growthBytesPerDay: f.bytesPerDay === undefined ? undefined : Math.round(f.bytesPerDay),
    trend: f.trend,
    settledBytes:
      f.settledBytes === undefined ? undefined : Number.isFinite(f.settledBytes) ? Math.round(f.settledBytes) : null,
    daysToSettle: f.daysToSettle === undefined ? undefined : round(f.daysToSettle, 1),
  };
}

/** Why some of a bucket's figures are missing: the sample's problem, else why there is no forecast. */
export function bucketProblem({ sample, forecast }: BucketEvaluation): string | undefined {
  return sample.problem ?? forecast.reason;
}

/** The disk's figures. */
export interface DiskFigures {
  source: DiskSample["source"];
  capacityBytes: number;
  usedBytes: number;
  usedPercent: number;
  bytesPerDay: number;
  verdict: DiskForecast["verdict"];
  daysUntilFull?: number;
  fillsOn?: string;
  headroomBytes?: number;
  unknownBuckets: string[];
}

/** The disk's figures; undefined when the sample has no disk. */
export function diskFigures({ sample, disk }: Evaluation): DiskFigures | undefined {
  if (!disk || !sample.disk) return undefined;
  return {
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
  };
}

/** A task's figures: its sample with ISO times. */
export type TaskFigures = Omit<TaskSample, "lastRunAt" | "lastSuccessAt" | "newestWindowAt"> & {
  lastRunAt?: string;
  lastSuccessAt?: string;
  newestWindow?: string;
};

/** The figures of one task of a sample. */
export function taskFigures({ lastRunAt, lastSuccessAt, newestWindowAt, ...task }: TaskSample): TaskFigures {
  return { ...task, lastRunAt: iso(lastRunAt), lastSuccessAt: iso(lastSuccessAt), newestWindow: iso(newestWindowAt) };
}

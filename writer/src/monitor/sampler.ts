/**
 * One storage sample, taken with the monitor token: per bucket (by name) its disk bytes and shards
 * (influxd's `/metrics`, summed over the bucket's shards: `storage_shard_disk_size` is TSM plus WAL,
 * `storage_wal_size` the WAL part), series cardinality (`influxdb.cardinality`), oldest and newest
 * point and the points of the last day (Flux); the disk's free space (`statfs` of a data directory, or
 * a configured capacity); and each rollup task's health (`/api/v2/tasks`, `/api/v2/tasks/{id}/runs`).
 *
 * Buckets and `/metrics` are required: without them there is no sample and the call throws. A Flux
 * query or a task that fails is kept as a problem of that bucket or task, so one bad part never hides
 * the rest.
 */
import { statfs } from "node:fs/promises";
import { type InfluxApi, InfluxApiError } from "./influxApi";
import { parsePrometheusText } from "./prometheusText";

/** One bucket at the time of the sample. */
export interface BucketSample {
  name: string;
  id: string;
  /** 0 keeps data for ever. */
  retentionSeconds: number;
  shardGroupSeconds: number;
  /** TSM and WAL bytes of all its shards. */
  diskBytes: number;
  /** Of which WAL. */
  walBytes: number;
  shards: number;
  /** Series cardinality; undefined when the query failed (see `problem`). */
  series?: number;
  /** Oldest and newest point (ms since the epoch); undefined for an empty bucket. */
  oldestPointAt?: number;
  newestPointAt?: number;
  /** Points (field values) with a time in the 24 hours before the sample. */
  pointsLastDay?: number;
  /** Why some figures are missing. */
  problem?: string;
}

/** One rollup task at the time of the sample. */
export interface TaskSample {
  id: string;
  name: string;
  /** `active` or `inactive` (paused). */
  status: string;
  /** Run interval in seconds, when the task runs by `every` (cron tasks have none). */
  everySeconds?: number;
  offsetSeconds: number;
  /** The bucket its Flux writes to (`to(bucket: …)`). */
  targetBucket?: string;
  /** Scheduled time of the newest finished run, its status (`success`, `failed`, `canceled`) and error text. */
  lastRunAt?: number;
  lastRunStatus?: string;
  lastError?: string;
  /** Failed runs in a row, newest first. */
  consecutiveFailures: number;
  /** Scheduled time of the newest successful run. */
  lastSuccessAt?: number;
  /** Newest point in the target bucket: the newest window the task has written. */
  newestWindowAt?: number;
  /** How far the newest successful run is behind the schedule, in seconds and in whole windows. */
  lagSeconds?: number;
  lagWindows?: number;
  problem?: string;
}

/** The disk InfluxDB fills. */
export interface DiskSample {
  /** `statfs` of the data directory, or the configured capacity (used = what the buckets hold). */
  source: "statfs" | "configured";
  capacityBytes: number;
  usedBytes: number;
}

/** Everything one sampling round found. */
export interface Sample {
  /** When it was taken (ms since the epoch). */
  at: number;
  buckets: BucketSample[];
  tasks: TaskSample[];
  /** Undefined when neither a data directory nor a capacity is configured. */
  disk?: DiskSample;
  /** Parts that could not be read (also named on the bucket or task they belong to). */
  problems: string[];
}

/** What to sample. */
export interface SamplerOptions {
  api: InfluxApi;
  /** Directory on InfluxDB's data filesystem. */
  dataDir?: string;
  /** Disk capacity when `dataDir` is not visible. */
  capacityBytes?: number;
  /** Runs to read per task (enough to count the failures an alert waits for). */
  runsPerTask?: number;
  /** Clock, for tests. */
  now?: () => number;
}

const FAMILIES = ["storage_shard_disk_size", "storage_wal_size"] as const;

/** Takes one sample; throws `InfluxApiError` when the buckets or `/metrics` cannot be read. */
export async function takeSample(options: SamplerOptions): Promise<Sample> {
  const now = (options.now ?? Date.now)();
  const { api } = options;
  // Both at once, but a failure is reported in a fixed order (the buckets first), so the message is stable.
  const [bucketsResult, metricsResult] = await Promise.allSettled([listBuckets(api), api.metricsText()]);
  if (bucketsResult.status === "rejected") throw bucketsResult.reason;
  if (metricsResult.status === "rejected") throw metricsResult.reason;
  const buckets = bucketsResult.value;
  const metricsText = metricsResult.value;
  let families: ReturnType<typeof parsePrometheusText>;
  try {
    families = parsePrometheusText(metricsText, FAMILIES);
  } catch (error) {
    throw new InfluxApiError("GET /metrics", `not Prometheus text (${(error as Error).message})`);
  }
  const shardSizes = families.get("storage_shard_disk_size")!;
  if (shardSizes.length === 0 && !/^# (HELP|TYPE) storage_/m.test(metricsText)) {
    // An empty server still names the storage families; text without them is not influxd's.
    throw new InfluxApiError(
      "GET /metrics",
      "no storage_* metrics (is this influxd 2.x, and are its metrics enabled?)",
    );
  }
  const problems: string[] = [];
  const bucketSamples = await Promise.all(
    buckets.map(async (bucket): Promise<BucketSample> => {
      const bytes = new Map<string, { disk: number; wal: number }>();
      for (const [family, key] of [
        ["storage_shard_disk_size", "disk"],
        ["storage_wal_size", "wal"],
      ] as const) {
        for (const s of families.get(family)!) {
          if (s.labels.bucket !== bucket.id) continue;
          const shard = bytes.get(s.labels.id ?? "") ?? { disk: 0, wal: 0 };
          shard[key] += s.value;
          bytes.set(s.labels.id ?? "", shard);
        }
      }
      const shards = [...bytes.values()];
      const sample: BucketSample = {
        ...bucket,
        // A shard's size (TSM + WAL) is refreshed every 10 s, its WAL size on every write: a new shard
        // can show WAL bytes before its size catches up, and it is never smaller than its WAL.
        diskBytes: shards.reduce((sum, s) => sum + Math.max(s.disk, s.wal), 0),
        walBytes: shards.reduce((sum, s) => sum + s.wal, 0),
        shards: shards.length,
      };
      try {
        Object.assign(sample, await bucketFigures(api, bucket.name));
      } catch (error) {
        sample.problem = (error as Error).message;
        problems.push(`bucket ${bucket.name}: ${sample.problem}`);
      }
      return sample;
    }),
  );
  let tasks: TaskSample[] = [];
  try {
    tasks = await sampleTasks(api, options.runsPerTask ?? 10, now, bucketSamples);
  } catch (error) {
    problems.push(`tasks: ${(error as Error).message}`);
  }
  for (const task of tasks) if (task.problem) problems.push(`task ${task.name}: ${task.problem}`);
  return { at: now, buckets: bucketSamples, tasks, disk: await sampleDisk(options, bucketSamples), problems };
}

async function listBuckets(
  api: InfluxApi,
): Promise<Pick<BucketSample, "name" | "id" | "retentionSeconds" | "shardGroupSeconds">[]> {
  const body = await api.getJson(`/api/v2/buckets?org=${encodeURIComponent(api.options.org)}&limit=100`);
  if (!Array.isArray(body.buckets)) throw new InfluxApiError("GET /api/v2/buckets", "answer has no buckets list");
  return (body.buckets as Record<string, unknown>[])
    .filter((b) => b.type !== "system" && typeof b.name === "string" && typeof b.id === "string")
    .map((b) => {
      const rule = (Array.isArray(b.retentionRules) ? b.retentionRules : []).find(
        (r: { type?: string }) => r.type === "expire",
      ) as { everySeconds?: number; shardGroupDurationSeconds?: number } | undefined;
      return {
        name: b.name as string,
        id: b.id as string,
        retentionSeconds: rule?.everySeconds ?? 0,
        shardGroupSeconds: rule?.shardGroupDurationSeconds ?? 0,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Series, oldest and newest point, and the last day's points of one bucket, in one Flux query. */
async function bucketFigures(
  api: InfluxApi,
  bucket: string,
): Promise<Pick<BucketSample, "series" | "oldestPointAt" | "newestPointAt" | "pointsLastDay">> {
  const b = fluxString(bucket);
  // first()/last() per series and count() are pushed down to the storage engine: cheap even on a year of raw data.
  const flux = `import "influxdata/influxdb"
influxdb.cardinality(bucket: ${b}, start: time(v: 0)) |> keep(columns: ["_value"]) |> yield(name: "series")
from(bucket: ${b}) |> range(start: time(v: 0)) |> first() |> keep(columns: ["_time"]) |> group() |> min(column: "_time") |> yield(name: "oldest")
from(bucket: ${b}) |> range(start: time(v: 0)) |> last() |> keep(columns: ["_time"]) |> group() |> max(column: "_time") |> yield(name: "newest")
from(bucket: ${b}) |> range(start: -1d) |> count() |> keep(columns: ["_value"]) |> group() |> sum() |> yield(name: "points")
`;
  const rows = await api.query(flux, `figures of ${bucket}`);
  const of = (result: string) => rows.find((row) => row.result === result);
  const time = (row?: Record<string, string>) => (row?._time ? Date.parse(row._time) : undefined);
  return {
    series: Number(of("series")?._value ?? 0),
    oldestPointAt: time(of("oldest")),
    newestPointAt: time(of("newest")),
    pointsLastDay: Number(of("points")?._value ?? 0),
  };
}

async function sampleTasks(
  api: InfluxApi,
  runsPerTask: number,
  now: number,
  buckets: readonly BucketSample[],
): Promise<TaskSample[]> {
  const body = await api.getJson(`/api/v2/tasks?org=${encodeURIComponent(api.options.org)}&limit=100`);
  if (!Array.isArray(body.tasks)) throw new InfluxApiError("GET /api/v2/tasks", "answer has no tasks list");
  const tasks = body.tasks as Record<string, unknown>[];
  return Promise.all(
    tasks.map(async (task): Promise<TaskSample> => {
      const flux = typeof task.flux === "string" ? task.flux : "";
      const targetBucket = targetBucketOf(flux);
      const sample: TaskSample = {
        id: String(task.id),
        name: String(task.name),
        status: String(task.status ?? "active"),
        everySeconds: typeof task.every === "string" ? fluxDurationSeconds(task.every) : undefined,
        offsetSeconds: typeof task.offset === "string" ? (fluxDurationSeconds(task.offset) ?? 0) : 0,
        targetBucket,
        consecutiveFailures: 0,
        newestWindowAt: buckets.find((b) => b.name === targetBucket)?.newestPointAt,
      };
      try {
        const runs = await api.getJson(`/api/v2/tasks/${encodeURIComponent(sample.id)}/runs?limit=${runsPerTask}`);
        if (!Array.isArray(runs.runs))
          throw new InfluxApiError("GET /api/v2/tasks/{id}/runs", "answer has no runs list");
        const finished = (runs.runs as Record<string, unknown>[])
          .filter((run) => run.status === "success" || run.status === "failed" || run.status === "canceled")
          .map((run) => ({
            status: String(run.status),
            at: Date.parse(String(run.scheduledFor)),
            log: Array.isArray(run.log) ? (run.log as { message?: string }[]) : [],
          }))
          .sort((a, b) => b.at - a.at);
        const newest = finished[0];
        if (newest) {
          sample.lastRunAt = newest.at;
          sample.lastRunStatus = newest.status;
        }
        while (
          sample.consecutiveFailures < finished.length &&
          finished[sample.consecutiveFailures]!.status === "failed"
        )
          sample.consecutiveFailures++;
        if (newest?.status === "failed") {
          // The task's lastRunError is the server's text for its newest failure, but it is set a moment
          // after the run is marked failed; the run's own log carries the same text right after its
          // "Started task…" and "Completed(failed)" lines.
          const fromLog = newest.log
            .map((entry) => entry.message ?? "")
            .find((m) => m !== "" && !/^(Started task|Completed\()/.test(m));
          sample.lastError =
            (task.lastRunStatus === "failed" && typeof task.lastRunError === "string" && task.lastRunError) ||
            fromLog ||
            "the run failed without an error message";
        }
        sample.lastSuccessAt = finished.find((run) => run.status === "success")?.at;
      } catch (error) {
        sample.problem = (error as Error).message;
      }
      if (sample.lastSuccessAt !== undefined) {
        // A run scheduled for T runs at T + offset; only runs due by now can be behind.
        sample.lagSeconds = Math.max(0, (now - sample.lastSuccessAt) / 1000 - sample.offsetSeconds);
        if (sample.everySeconds) sample.lagWindows = Math.floor(sample.lagSeconds / sample.everySeconds);
      }
      return sample;
    }),
  );
}

async function sampleDisk(options: SamplerOptions, buckets: readonly BucketSample[]): Promise<DiskSample | undefined> {
  if (options.dataDir !== undefined) {
    const fs = await statfs(options.dataDir);
    // Blocks reserved for root are not ours to fill: the capacity is what is used plus what is available.
    const usedBytes = (fs.blocks - fs.bfree) * fs.bsize;
    return { source: "statfs", capacityBytes: usedBytes + fs.bavail * fs.bsize, usedBytes };
  }
  if (options.capacityBytes !== undefined) {
    return {
      source: "configured",
      capacityBytes: options.capacityBytes,
      usedBytes: buckets.reduce((sum, b) => sum + b.diskBytes, 0),
    };
  }
  return undefined;
}

/** The bucket named by the task's `to(bucket: "…")`. */
export function targetBucketOf(flux: string): string | undefined {
  const match = /\bto\(\s*bucket\s*:\s*("(?:[^"\\]|\\.)*")/.exec(flux);
  if (!match) return undefined;
  try {
    return JSON.parse(match[1]!) as string;
  } catch {
    return undefined;
  }
}

const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3_600,
  d: 86_400,
  w: 604_800,
};

/** Seconds of a Flux duration (`1h`, `1h30m`, `5m`); undefined for months and years, whose length varies. */
export function fluxDurationSeconds(text: string): number | undefined {
  const parts = [...text.matchAll(/(\d+)(ns|us|µs|ms|s|m|h|d|w|mo|y)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) return undefined;
  let total = 0;
  for (const [, amount, unit] of parts) {
    const seconds = UNIT_SECONDS[unit!];
    if (seconds === undefined) return undefined;
    total += Number(amount) * seconds;
  }
  return total;
}

/** A Flux string literal: JSON's escapes plus `$`, which would start an interpolation. */
function fluxString(text: string): string {
  return JSON.stringify(text).replace(/\$/g, "\\$");
}

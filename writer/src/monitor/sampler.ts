/**
 * One storage sample, taken with the monitor token: per bucket (by name) its disk bytes and shards
 * (influxd's `/metrics`, summed over the bucket's shards: `storage_shard_disk_size` is TSM plus WAL,
 * `storage_wal_size` the WAL part), series cardinality (`influxdb.cardinality`), oldest and newest
 * point and the points of the last day (Flux); the disk's free space (`statfs` of a data directory, or
 * a configured capacity); and each rollup task's health (`tasks.ts`).
 *
 * Buckets and `/metrics` are required: without them there is no sample and the call throws. A Flux
 * query or a task that fails is kept as a problem of that bucket or task, so one bad part never hides
 * the rest.
 */
import { statfs } from "node:fs/promises";
import { fluxString, type InfluxApi, InfluxApiError } from "./influxApi";
import { parsePrometheusText } from "./prometheusText";
import { sampleTasks, type TaskSample } from "./tasks";

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
        Object.assign(sample, await queryBucketFigures(api, bucket.name));
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
async function queryBucketFigures(
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

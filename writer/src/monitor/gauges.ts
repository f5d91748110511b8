/**
 * The storage monitor's Prometheus gauges (`ha_influx_*` on `/metrics`). Each is computed when it is
 * scraped, from the monitor's latest evaluation: the gauges never lag behind `/status`, and a bucket or
 * task that is gone disappears with the next scrape.
 */
import { Gauge, type Registry } from "prom-client";
import type { ActiveAlert } from "./alerts";
import type { BucketEvaluation, Evaluation } from "./evaluation";
import { seconds } from "./format";
import type { TaskSample } from "./tasks";

/** What the gauges read at every scrape. */
export interface GaugeSource {
  /** The latest round's evaluation; undefined before the first. */
  latest(): Evaluation | undefined;
  /** True while sampling fails. */
  failing(): boolean;
  /** The alerts that are on. */
  alerts(): ActiveAlert[];
}

/** Registers the monitor's gauges in `registry`. */
export function registerStorageGauges(registry: Registry, source: GaugeSource): void {
  const registers = [registry];
  const perBucket = (name: string, help: string, value: (b: BucketEvaluation) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ["bucket"],
      registers,
      collect() {
        this.reset();
        for (const bucket of source.latest()?.buckets ?? []) {
          const v = value(bucket);
          if (v !== undefined) this.set({ bucket: bucket.sample.name }, v);
        }
      },
    });
  perBucket(
    "ha_influx_bucket_disk_bytes",
    "Bytes of the bucket's shards on disk (TSM and WAL), from influxd /metrics",
    (b) => b.sample.diskBytes,
  );
  perBucket("ha_influx_bucket_wal_bytes", "Of the bucket's disk bytes, those in the WAL", (b) => b.sample.walBytes);
  perBucket("ha_influx_bucket_shards", "Shards of the bucket", (b) => b.sample.shards);
  perBucket(
    "ha_influx_bucket_series",
    "Series cardinality of the bucket (influxdb.cardinality)",
    (b) => b.sample.series,
  );
  perBucket(
    "ha_influx_bucket_points_last_day",
    "Points (field values) with a time in the last 24 h",
    (b) => b.sample.pointsLastDay,
  );
  perBucket("ha_influx_bucket_oldest_point_timestamp_seconds", "Time of the bucket's oldest point", (b) =>
    seconds(b.sample.oldestPointAt),
  );
  perBucket("ha_influx_bucket_newest_point_timestamp_seconds", "Time of the bucket's newest point", (b) =>
    seconds(b.sample.newestPointAt),
  );
  perBucket(
    "ha_influx_bucket_growth_bytes_per_day",
    "Fitted growth of the bucket's disk bytes",
    (b) => b.forecast.bytesPerDay,
  );
  perBucket("ha_influx_bucket_series_growth_per_day", "Fitted growth of the bucket's series", (b) =>
    b.seriesGrowth.ok ? b.seriesGrowth.perDay : undefined,
  );
  perBucket(
    "ha_influx_bucket_settled_bytes",
    "Size the bucket settles at under its retention (+Inf: never)",
    (b) => b.forecast.settledBytes,
  );

  const single = (name: string, help: string, value: () => number | undefined) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.reset();
        const v = value();
        if (v !== undefined) this.set(v);
      },
    });
  single(
    "ha_influx_disk_capacity_bytes",
    "Bytes InfluxDB's data may fill (statfs or the configured capacity)",
    () => source.latest()?.disk?.capacityBytes,
  );
  single("ha_influx_disk_used_bytes", "Bytes in use on that disk", () => source.latest()?.disk?.usedBytes);
  single("ha_influx_disk_days_until_full", "Days until the disk is full at the current growth (+Inf: never)", () => {
    const disk = source.latest()?.disk;
    return disk === undefined ? undefined : disk.verdict === "fills" ? disk.daysUntilFull : Infinity;
  });
  single("ha_influx_monitor_sample_ok", "1 when the last sampling round worked, 0 when it failed", () =>
    source.failing() ? 0 : source.latest() ? 1 : undefined,
  );
  single("ha_influx_monitor_last_sample_timestamp_seconds", "Time of the last sample", () =>
    seconds(source.latest()?.sample.at),
  );

  const perTask = (name: string, help: string, value: (t: TaskSample) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ["task"],
      registers,
      collect() {
        this.reset();
        for (const t of source.latest()?.sample.tasks ?? []) {
          const v = value(t);
          if (v !== undefined) this.set({ task: t.name }, v);
        }
      },
    });
  perTask("ha_influx_task_consecutive_failures", "Failed runs in a row of the task", (t) => t.consecutiveFailures);
  perTask("ha_influx_task_last_success_timestamp_seconds", "Scheduled time of the task's newest successful run", (t) =>
    seconds(t.lastSuccessAt),
  );
  perTask(
    "ha_influx_task_lag_seconds",
    "How far the task's newest successful run is behind its schedule",
    (t) => t.lagSeconds,
  );

  new Gauge({
    name: "ha_influx_alert",
    help: "1 for each storage alert that is on (name: the alert; bucket: its bucket, empty for the disk)",
    labelNames: ["name", "bucket"],
    registers,
    collect() {
      this.reset();
      for (const alert of source.alerts()) this.set({ name: alert.name, bucket: alert.bucket }, 1);
    },
  });
}

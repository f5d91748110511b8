/**
 * The storage monitor inside the writer service: every `intervalSeconds` it takes a sample, keeps
 * the growth window's sizes in memory (bounded), forecasts, evaluates the alerts, writes the sample to
 * the system bucket and exposes it all in `/status` (`storage`) and `/metrics` (`ha_influx_*`).
 *
 * Rounds never overlap (each is scheduled when the previous one ends). A round that cannot sample
 * (server down, garbage answers) leaves the last figures and alerts as they were and marks the
 * monitor unhealthy with the reason; it is logged when the failure starts and when it ends.
 */
import { Gauge, type Registry } from "prom-client";
import type { Logger } from "../logger";
import { type ActiveAlert, AlertTracker, evaluateAlerts } from "./alerts";
import type { MonitorConfig } from "./config";
import {
  type BucketForecast,
  type DiskForecast,
  fitRate,
  forecastBucket,
  forecastDisk,
  type Observation,
  type Rate,
} from "./forecast";
import type { History } from "./history";
import type { BucketSample, Sample, TaskSample } from "./sampler";

/** Collaborators of the monitor (the app wires the real ones; tests pass fakes). */
export interface MonitorDeps {
  logger: Logger;
  registry: Registry;
  /** Takes one sample. */
  sample: () => Promise<Sample>;
  /** Stores a sample (the system bucket). */
  store: (sample: Sample) => Promise<void>;
  /** Past samples to refill the growth window with at start (the system bucket). */
  loadHistory?: () => Promise<History>;
  /** Clock (ms since the epoch). */
  now?: () => number;
}

/** One bucket in `/status`. */
export interface BucketStatus {
  name: string;
  diskBytes: number;
  walBytes: number;
  shards: number;
  series?: number;
  oldestPoint?: string;
  newestPoint?: string;
  pointsLastDay?: number;
  retentionDays: number;
  growthBytesPerDay?: number;
  seriesPerDay?: number;
  trend: BucketForecast["trend"];
  /** null: it never settles (infinite retention). */
  settledBytes?: number | null;
  daysToSettle?: number;
  problem?: string;
}

/** The `storage` section of `/status`. */
export interface StorageStatus {
  enabled: true;
  /** False while sampling fails. */
  healthy: boolean;
  message: string;
  intervalSeconds: number;
  lastSampleAt?: string;
  lastError?: string;
  lastErrorAt?: string;
  disk?: Omit<DiskForecast, "fillsAt" | "neededBytes"> & {
    source: string;
    fillsOn?: string;
    neededBytes: number | null;
  };
  buckets: BucketStatus[];
  tasks: (Omit<TaskSample, "lastRunAt" | "lastSuccessAt" | "newestWindowAt"> & {
    lastRunAt?: string;
    lastSuccessAt?: string;
    newestWindow?: string;
  })[];
  alerts: ActiveAlert[];
  problems: string[];
}

/** What one round computed from a sample. */
interface Evaluation {
  sample: Sample;
  forecasts: BucketForecast[];
  seriesRates: Map<string, Rate>;
  disk?: DiskForecast;
}

/** Most samples kept per bucket, whatever the interval: 7 days of 1-minute samples. */
const MAX_SAMPLES_PER_BUCKET = 10_080;

export class StorageMonitor {
  private readonly history = new Map<string, { bytes: Observation[]; series: Observation[] }>();
  private readonly alerts = new AlertTracker();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;
  private latest: Evaluation | undefined;
  private failure: { message: string; at: number } | undefined;
  private storeFailing = false;

  constructor(
    private readonly config: MonitorConfig,
    private readonly deps: MonitorDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.registerMetrics(deps.registry);
  }

  /** Refills the growth window from stored samples, then samples now and every interval. */
  start(): void {
    this.round = (async () => {
      if (this.deps.loadHistory) {
        try {
          for (const [bucket, past] of await this.deps.loadHistory()) this.remember(bucket, past.bytes, past.series);
        } catch (error) {
          this.deps.logger.warn(
            { err: error },
            "storage monitor: could not read stored samples; growth is fitted from new samples only",
          );
        }
      }
      await this.sampleOnce();
    })().finally(() => this.schedule());
  }

  /** Stops the timer and waits for a round in progress (its requests have timeouts). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
  }

  /** One round: sample, forecast, alert, store. Never throws. */
  async sampleOnce(): Promise<void> {
    let sample: Sample;
    try {
      sample = await this.deps.sample();
    } catch (error) {
      const message = (error as Error).message;
      if (!this.failure)
        this.deps.logger.error(
          { err: message },
          "storage monitor: sampling failed; figures and alerts stay as last seen until it works again",
        );
      this.failure = { message, at: this.now() };
      return;
    }
    if (this.failure)
      this.deps.logger.info(
        { failedSince: new Date(this.failure.at).toISOString() },
        "storage monitor: sampling works again",
      );
    this.failure = undefined;

    for (const bucket of sample.buckets) {
      this.remember(
        bucket.name,
        [{ at: sample.at, value: bucket.diskBytes }],
        bucket.series === undefined ? [] : [{ at: sample.at, value: bucket.series }],
      );
    }
    this.forget(sample);
    const evaluation = this.evaluate(sample);
    this.latest = evaluation;

    const { started, cleared } = this.alerts.update(
      evaluateAlerts(
        {
          buckets: sample.buckets.map((b) => ({
            name: b.name,
            series: b.series,
            seriesGrowth: evaluation.seriesRates.get(b.name)!,
          })),
          disk: evaluation.disk,
          tasks: sample.tasks,
        },
        this.config.alerts,
      ),
      sample.at,
    );
    for (const alert of started)
      this.deps.logger.warn(
        { alert: alert.name, bucket: alert.bucket, task: alert.task, value: alert.value, threshold: alert.threshold },
        `storage alert: ${alert.message}`,
      );
    for (const alert of cleared)
      this.deps.logger.info(
        { alert: alert.name, bucket: alert.bucket, task: alert.task, since: alert.since },
        `storage alert cleared: ${alert.name}${alert.bucket ? ` (${alert.bucket})` : ""}`,
      );

    try {
      await this.deps.store(sample);
      if (this.storeFailing) this.deps.logger.info("storage monitor: samples are stored again");
      this.storeFailing = false;
    } catch (error) {
      if (!this.storeFailing)
        this.deps.logger.warn(
          { err: (error as Error).message },
          "storage monitor: could not store the sample in the system bucket",
        );
      this.storeFailing = true;
    }
  }

  /** The `storage` section of `/status`. */
  status(): StorageStatus {
    const latest = this.latest;
    const failing = this.failure;
    const base = {
      enabled: true as const,
      healthy: failing === undefined && latest !== undefined,
      message: failing ? `sampling fails: ${failing.message}` : latest ? this.summary(latest) : "no sample yet",
      intervalSeconds: this.config.intervalSeconds,
      lastSampleAt: latest ? iso(latest.sample.at) : undefined,
      lastError: failing?.message,
      lastErrorAt: failing ? iso(failing.at) : undefined,
      alerts: this.alerts.list(),
      problems: latest?.sample.problems ?? [],
    };
    if (!latest) return { ...base, buckets: [], tasks: [] };
    const { sample, forecasts, seriesRates, disk } = latest;
    return {
      ...base,
      disk:
        disk && sample.disk
          ? {
              ...omit(disk, ["fillsAt", "neededBytes"]),
              usedPercent: Math.round(disk.usedPercent * 100) / 100,
              bytesPerDay: Math.round(disk.bytesPerDay),
              daysUntilFull: disk.daysUntilFull === undefined ? undefined : Math.round(disk.daysUntilFull * 10) / 10,
              headroomBytes: disk.headroomBytes === undefined ? undefined : Math.round(disk.headroomBytes),
              source: sample.disk.source,
              neededBytes: Number.isFinite(disk.neededBytes) ? Math.round(disk.neededBytes) : null,
              fillsOn: disk.fillsAt === undefined ? undefined : iso(disk.fillsAt),
            }
          : undefined,
      buckets: sample.buckets.map((b, i) => bucketStatus(b, forecasts[i]!, seriesRates.get(b.name)!)),
      tasks: sample.tasks.map((t) => ({
        ...omit(t, ["lastRunAt", "lastSuccessAt", "newestWindowAt"]),
        lastRunAt: iso(t.lastRunAt),
        lastSuccessAt: iso(t.lastSuccessAt),
        newestWindow: iso(t.newestWindowAt),
      })),
    };
  }

  /** Samples kept in memory for `bucket` (tests check the bound). */
  historySize(): number {
    let total = 0;
    for (const entry of this.history.values()) total += entry.bytes.length + entry.series.length;
    return total;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.round = this.sampleOnce().finally(() => this.schedule());
    }, this.config.intervalSeconds * 1000);
    this.timer.unref();
  }

  private remember(bucket: string, bytes: readonly Observation[], series: readonly Observation[]): void {
    let entry = this.history.get(bucket);
    if (!entry) {
      entry = { bytes: [], series: [] };
      this.history.set(bucket, entry);
    }
    entry.bytes.push(...bytes);
    entry.series.push(...series);
  }

  /** Drops samples older than the growth window, beyond the per-bucket cap, and of buckets that are gone. */
  private forget(sample: Sample): void {
    const from = sample.at - this.config.growthWindowDays * 86_400_000;
    const names = new Set(sample.buckets.map((b) => b.name));
    for (const [bucket, entry] of this.history) {
      if (!names.has(bucket)) {
        this.history.delete(bucket);
        continue;
      }
      for (const list of [entry.bytes, entry.series]) {
        const old = list.findIndex((o) => o.at >= from);
        list.splice(0, old === -1 ? list.length : Math.max(old, list.length - MAX_SAMPLES_PER_BUCKET));
      }
    }
  }

  private evaluate(sample: Sample): Evaluation {
    const window = { now: sample.at, windowDays: this.config.growthWindowDays };
    const seriesRates = new Map<string, Rate>();
    const forecasts = sample.buckets.map((b) => {
      const past = this.history.get(b.name)!;
      seriesRates.set(b.name, fitRate(past.series, window));
      return forecastBucket(
        {
          name: b.name,
          bytes: b.diskBytes,
          retentionSeconds: b.retentionSeconds,
          shardGroupSeconds: b.shardGroupSeconds,
          oldestPointAt: b.oldestPointAt,
          growth: fitRate(past.bytes, window),
        },
        sample.at,
      );
    });
    const disk = sample.disk ? forecastDisk(sample.disk, forecasts, sample.at) : undefined;
    return { sample, forecasts, seriesRates, disk };
  }

  private summary({ sample, disk }: Evaluation): string {
    const total = sample.buckets.reduce((sum, b) => sum + b.diskBytes, 0);
    const parts = [`${sample.buckets.length} buckets, ${formatBytes(total)}`];
    if (disk) {
      parts.push(
        disk.verdict === "fills"
          ? `disk ${disk.usedPercent.toFixed(1)} % used, full in ${disk.daysUntilFull!.toFixed(0)} days`
          : `disk ${disk.usedPercent.toFixed(1)} % used, never fills (${formatBytes(disk.headroomBytes!)} headroom)`,
      );
    }
    const failing = sample.tasks.filter((t) => t.lastRunStatus === "failed").length;
    parts.push(`${sample.tasks.length} tasks${failing ? `, ${failing} failing` : ""}`);
    const alerts = this.alerts.list().length;
    if (alerts) parts.push(`${alerts} alert${alerts === 1 ? "" : "s"}`);
    return parts.join("; ");
  }

  private registerMetrics(registry: Registry): void {
    const monitor = this;
    const registers = [registry];
    const perBucket = (
      name: string,
      help: string,
      value: (b: BucketSample, f: BucketForecast, series: Rate) => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ["bucket"],
        registers,
        collect() {
          this.reset();
          const latest = monitor.latest;
          if (!latest) return;
          latest.sample.buckets.forEach((b, i) => {
            const v = value(b, latest.forecasts[i]!, latest.seriesRates.get(b.name)!);
            if (v !== undefined) this.set({ bucket: b.name }, v);
          });
        },
      });
    perBucket(
      "ha_influx_bucket_disk_bytes",
      "Bytes of the bucket's shards on disk (TSM and WAL), from influxd /metrics",
      (b) => b.diskBytes,
    );
    perBucket("ha_influx_bucket_wal_bytes", "Of the bucket's disk bytes, those in the WAL", (b) => b.walBytes);
    perBucket("ha_influx_bucket_shards", "Shards of the bucket", (b) => b.shards);
    perBucket("ha_influx_bucket_series", "Series cardinality of the bucket (influxdb.cardinality)", (b) => b.series);
    perBucket(
      "ha_influx_bucket_points_last_day",
      "Points (field values) with a time in the last 24 h",
      (b) => b.pointsLastDay,
    );
    perBucket("ha_influx_bucket_oldest_point_timestamp_seconds", "Time of the bucket's oldest point", (b) =>
      seconds(b.oldestPointAt),
    );
    perBucket("ha_influx_bucket_newest_point_timestamp_seconds", "Time of the bucket's newest point", (b) =>
      seconds(b.newestPointAt),
    );
    perBucket(
      "ha_influx_bucket_growth_bytes_per_day",
      "Fitted growth of the bucket's disk bytes",
      (_b, f) => f.bytesPerDay,
    );
    perBucket("ha_influx_bucket_series_growth_per_day", "Fitted growth of the bucket's series", (_b, _f, s) =>
      s.ok ? s.perDay : undefined,
    );
    perBucket(
      "ha_influx_bucket_settled_bytes",
      "Size the bucket settles at under its retention (+Inf: never)",
      (_b, f) => f.settledBytes,
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
      () => monitor.latest?.disk?.capacityBytes,
    );
    single("ha_influx_disk_used_bytes", "Bytes in use on that disk", () => monitor.latest?.disk?.usedBytes);
    single("ha_influx_disk_days_until_full", "Days until the disk is full at the current growth (+Inf: never)", () => {
      const disk = monitor.latest?.disk;
      return disk === undefined ? undefined : disk.verdict === "fills" ? disk.daysUntilFull : Infinity;
    });
    single("ha_influx_monitor_sample_ok", "1 when the last sampling round worked, 0 when it failed", () =>
      monitor.failure ? 0 : monitor.latest ? 1 : undefined,
    );
    single("ha_influx_monitor_last_sample_timestamp_seconds", "Time of the last sample", () =>
      seconds(monitor.latest?.sample.at),
    );

    const perTask = (name: string, help: string, value: (t: TaskSample) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ["task"],
        registers,
        collect() {
          this.reset();
          for (const t of monitor.latest?.sample.tasks ?? []) {
            const v = value(t);
            if (v !== undefined) this.set({ task: t.name }, v);
          }
        },
      });
    perTask("ha_influx_task_consecutive_failures", "Failed runs in a row of the task", (t) => t.consecutiveFailures);
    perTask(
      "ha_influx_task_last_success_timestamp_seconds",
      "Scheduled time of the task's newest successful run",
      (t) => seconds(t.lastSuccessAt),
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
        for (const alert of monitor.alerts.list()) this.set({ name: alert.name, bucket: alert.bucket }, 1);
      },
    });
  }
}

function bucketStatus(b: BucketSample, f: BucketForecast, series: Rate): BucketStatus {
  return {
    name: b.name,
    diskBytes: b.diskBytes,
    walBytes: b.walBytes,
    shards: b.shards,
    series: b.series,
    oldestPoint: iso(b.oldestPointAt),
    newestPoint: iso(b.newestPointAt),
    pointsLastDay: b.pointsLastDay,
    retentionDays: b.retentionSeconds / 86_400,
    growthBytesPerDay: f.bytesPerDay === undefined ? undefined : Math.round(f.bytesPerDay),
    seriesPerDay: series.ok ? Math.round(series.perDay * 10) / 10 : undefined,
    trend: f.trend,
    settledBytes:
      f.settledBytes === undefined ? undefined : Number.isFinite(f.settledBytes) ? Math.round(f.settledBytes) : null,
    daysToSettle: f.daysToSettle === undefined ? undefined : Math.round(f.daysToSettle * 10) / 10,
    problem: b.problem ?? f.reason,
  };
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

function seconds(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : ms / 1000;
}

function omit<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Omit<T, K> {
  const copy = { ...value };
  for (const key of keys) delete copy[key];
  return copy;
}

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

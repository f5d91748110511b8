/**
 * The storage monitor inside the writer service: every `intervalSeconds` it takes a sample, keeps
 * the growth window's sizes in memory (bounded), forecasts, evaluates the alerts, writes the sample to
 * the system bucket and exposes it all in `/status` (`storage`) and `/metrics` (`ha_influx_*`). The
 * figures are `evaluation.ts`'s (the capacity report shows the same), the gauges `gauges.ts`'s.
 *
 * Rounds never overlap (each is scheduled when the previous one ends). A round that cannot sample
 * (server down, garbage answers) leaves the last figures and alerts as they were and marks the
 * monitor unhealthy with the reason; it is logged when the failure starts and when it ends.
 */
import type { Registry } from "prom-client";
import type { Logger } from "../logger";
import { type ActiveAlert, AlertTracker, evaluateAlerts } from "./alerts";
import type { MonitorConfig } from "./config";
import {
  alertInputOf,
  type BucketFigures,
  bucketFigures,
  bucketProblem,
  type DiskFigures,
  diskFigures,
  type Evaluation,
  evaluateSample,
  type TaskFigures,
  taskFigures,
} from "./evaluation";
import type { Observation } from "./forecast";
import { formatBytes, iso } from "./format";
import { registerStorageGauges } from "./gauges";
import type { History } from "./history";
import type { Sample } from "./sampler";

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
export interface BucketStatus extends BucketFigures {
  name: string;
  diskBytes: number;
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
  /** `neededBytes`: what the disk holds once every bucket has settled; null: some bucket never settles. */
  disk?: DiskFigures & { neededBytes: number | null };
  buckets: BucketStatus[];
  tasks: TaskFigures[];
  alerts: ActiveAlert[];
  problems: string[];
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
    registerStorageGauges(deps.registry, {
      latest: () => this.latest,
      failing: () => this.failure !== undefined,
      alerts: () => this.alerts.list(),
    });
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
    const evaluation = evaluateSample(sample, (b) => this.history.get(b.name)!, this.config.growthWindowDays);
    this.latest = evaluation;

    const { started, cleared } = this.alerts.update(
      evaluateAlerts(alertInputOf(evaluation), this.config.alerts),
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
    const disk = diskFigures(latest);
    return {
      ...base,
      disk: disk && {
        ...disk,
        neededBytes: Number.isFinite(latest.disk!.neededBytes) ? Math.round(latest.disk!.neededBytes) : null,
      },
      buckets: latest.buckets.map((b) => ({
        name: b.sample.name,
        diskBytes: b.sample.diskBytes,
        ...bucketFigures(b),
        problem: bucketProblem(b),
      })),
      tasks: latest.sample.tasks.map(taskFigures),
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
}

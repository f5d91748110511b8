/**
 * Storage alerts: which thresholds the current state breaches (a pure function), and a tracker that
 * turns each round's breaches into starts and clears, so an alert is logged once when it begins and
 * once when it ends, never every interval.
 */
import type { AlertThresholds } from "./config";
import type { DiskForecast, Rate } from "./forecast";
import { round } from "./format";
import type { TaskSample } from "./tasks";

/** The alerts the monitor raises; the README's "Watching storage" says what each means. */
export const ALERT_NAMES = [
  "disk_used",
  "disk_full_soon",
  "task_failing",
  "task_lagging",
  "series_high",
  "series_growth",
] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

/** One breached threshold. `bucket` is empty for the disk and the task's target bucket for a task. */
export interface Alert {
  name: AlertName;
  bucket: string;
  /** The task an alert of a task is about. */
  task?: string;
  /** The figure that breached and the threshold it breached. */
  value: number;
  threshold: number;
  /** One line for people, with the server's own error text for a failing task. */
  message: string;
}

/** An alert that is on, since when (ISO time). */
export interface ActiveAlert extends Alert {
  since: string;
}

/** What the alerts are evaluated on. */
export interface AlertInput {
  buckets: readonly { name: string; series?: number; seriesGrowth: Rate }[];
  disk?: DiskForecast;
  tasks: readonly TaskSample[];
}

/** Every threshold the input breaches. */
export function evaluateAlerts(input: AlertInput, thresholds: AlertThresholds): Alert[] {
  const alerts: Alert[] = [];
  const { disk } = input;
  if (disk !== undefined) {
    if (disk.usedPercent >= thresholds.diskUsedPercent) {
      alerts.push({
        name: "disk_used",
        bucket: "",
        value: round(disk.usedPercent, 1),
        threshold: thresholds.diskUsedPercent,
        message: `disk ${round(disk.usedPercent, 1)} % used (alert at ${thresholds.diskUsedPercent} %)`,
      });
    }
    if (disk.verdict === "fills" && disk.daysUntilFull! < thresholds.daysUntilFull) {
      alerts.push({
        name: "disk_full_soon",
        bucket: "",
        value: round(disk.daysUntilFull!, 1),
        threshold: thresholds.daysUntilFull,
        message: `disk full in ${round(disk.daysUntilFull!, 1)} days at the current growth (on ${new Date(disk.fillsAt!).toISOString().slice(0, 10)}; alert below ${thresholds.daysUntilFull} days)`,
      });
    }
  }
  for (const task of input.tasks) {
    const bucket = task.targetBucket ?? "";
    if (task.consecutiveFailures >= thresholds.taskFailedRuns) {
      alerts.push({
        name: "task_failing",
        bucket,
        task: task.name,
        value: task.consecutiveFailures,
        threshold: thresholds.taskFailedRuns,
        message: `task ${task.name}: ${task.consecutiveFailures} failed run(s) in a row: ${task.lastError ?? "no error text"}`,
      });
    }
    if (task.lagWindows !== undefined && task.lagWindows > thresholds.taskLagWindows) {
      alerts.push({
        name: "task_lagging",
        bucket,
        task: task.name,
        value: task.lagWindows,
        threshold: thresholds.taskLagWindows,
        message: `task ${task.name} (${task.status}) is ${task.lagWindows} windows behind its schedule (alert above ${thresholds.taskLagWindows})`,
      });
    }
  }
  for (const bucket of input.buckets) {
    if (bucket.series !== undefined && bucket.series > thresholds.seriesMax) {
      alerts.push({
        name: "series_high",
        bucket: bucket.name,
        value: bucket.series,
        threshold: thresholds.seriesMax,
        message: `bucket ${bucket.name} holds ${bucket.series} series (alert above ${thresholds.seriesMax})`,
      });
    }
    if (bucket.seriesGrowth.ok && bucket.seriesGrowth.perDay > thresholds.seriesGrowthPerDay) {
      const perDay = Math.round(bucket.seriesGrowth.perDay);
      alerts.push({
        name: "series_growth",
        bucket: bucket.name,
        value: perDay,
        threshold: thresholds.seriesGrowthPerDay,
        message: `bucket ${bucket.name} gains ${perDay} series a day (alert above ${thresholds.seriesGrowthPerDay})`,
      });
    }
  }
  return alerts;
}

/** Identity of an alert across rounds. */
export function alertKey(alert: Pick<Alert, "name" | "bucket" | "task">): string {
  return `${alert.name}\u0000${alert.bucket}\u0000${alert.task ?? ""}`;
}

/** Remembers which alerts are on; `update` reports what started and what cleared this round. */
export class AlertTracker {
  private readonly active = new Map<string, ActiveAlert>();

  /** Replaces the active set with `current`; alerts still on keep their `since` and take the new figures. */
  update(current: readonly Alert[], now: number): { started: ActiveAlert[]; cleared: ActiveAlert[] } {
    const started: ActiveAlert[] = [];
    const seen = new Set<string>();
    for (const alert of current) {
      const key = alertKey(alert);
      seen.add(key);
      const previous = this.active.get(key);
      const next = { ...alert, since: previous?.since ?? new Date(now).toISOString() };
      this.active.set(key, next);
      if (!previous) started.push(next);
    }
    const cleared: ActiveAlert[] = [];
    for (const [key, alert] of this.active) {
      if (!seen.has(key)) {
        cleared.push(alert);
        this.active.delete(key);
      }
    }
    return { started, cleared };
  }

  /** The alerts on now. */
  list(): ActiveAlert[] {
    return [...this.active.values()];
  }
}

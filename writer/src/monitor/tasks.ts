/**
 * The rollup tasks' health in a storage sample: each task of the organisation (`/api/v2/tasks`), its
 * newest finished runs (`/api/v2/tasks/{id}/runs`): the newest run's status and error text, failures
 * in a row, the newest success and how far it is behind the schedule, and the newest window its target
 * bucket holds. A task whose runs cannot be read keeps that as its `problem`.
 */
import { type InfluxApi, InfluxApiError } from "./influxApi";

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

/** Every task of the organisation with the health of its newest runs; throws when the task list cannot be read. */
export async function sampleTasks(
  api: InfluxApi,
  runsPerTask: number,
  now: number,
  /** The sampled buckets, for the newest point of each task's target bucket. */
  buckets: readonly { name: string; newestPointAt?: number }[],
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

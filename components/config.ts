import * as pulumi from "@pulumi/pulumi";
import {
  FiltersSchema,
  HomeAssistantUrlSchema,
  LOG_FORMATS,
  LOG_LEVELS,
  MAX_BATCH_SIZE,
  MONITOR_DEFAULTS,
  TimeZoneSchema,
  WRITER_DEFAULTS,
} from "ha-influx-writer/config";
import { domainOf, isEntityId } from "ha-influx-writer/entity-id";
import { DEFAULT_BUCKETS, DEFAULT_ORG } from "ha-influx-writer/schema";
import { z } from "zod";

/** Pulumi config namespace of every stack setting (`ha-influx:<key>`). */
export const CONFIG_NAMESPACE = "ha-influx";

const SECONDS_PER_DAY = 86_400;
/** InfluxDB rejects a retention shorter than one hour (0, meaning infinite, is refused by policy). */
const MIN_RETENTION_DAYS = 1 / 24;

const DURATION_UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 };
const DURATION_PATTERN = /^(?:\d+(?:s|m|h|d|w))+$/;

/**
 * Seconds in a Flux duration literal made of whole units (`90s`, `5m`, `1h30m`, `1d`, `1w`).
 * Months and years are refused: their length varies, so no schedule or window can be checked against them.
 */
export function durationSeconds(text: string): number {
  if (!DURATION_PATTERN.test(text)) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(s|m|h|d|w)/g))
    total += Number(amount) * DURATION_UNIT_SECONDS[unit];
  return total;
}

const duration = z
  .string()
  .regex(DURATION_PATTERN, { message: "must be a Flux duration of whole s/m/h/d/w units, e.g. 5m or 1h30m" });

/** Pulumi's CLI stores `config set --path` values as text unless typed; accept both forms. */
const number = () =>
  z.coerce.number({ error: (issue) => (issue.code === "invalid_type" ? "must be a number" : undefined) });
const count = (min: number, max: number) => number().int().min(min).max(max);
const flag = z.preprocess(
  (v) => (v === "true" ? true : v === "false" ? false : v),
  z.boolean({ error: "must be true or false" }),
);
/** Config a stack left unset arrives as `undefined`; each level then takes its defaults. */
const section = <T extends z.ZodType>(schema: T) => z.preprocess((v) => v ?? {}, schema);

const secretText = z.string().min(1, { message: "must not be empty" });
const port = count(1, 65_535);
const dockerName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/, { message: "must be a docker name (letters, digits, _ . -)" });
const ipAddress = z.union([z.ipv4(), z.ipv6()], { error: "must be an IP address such as 127.0.0.1 or 0.0.0.0" });

function bucketSchema(defaults: { name: string; retentionDays: number; shardGroupDays?: number }) {
  const shardGroupDays = number().positive({ message: "must be greater than 0" }).optional();
  return section(
    z
      .object({
        /** Bucket name in InfluxDB. */
        name: z.string().min(1).default(defaults.name),
        /** Days the bucket keeps data; InfluxDB refuses less than one hour, and infinite retention is not offered. */
        retentionDays: number().default(defaults.retentionDays),
        /** Days per shard group; unset lets InfluxDB choose from the retention. */
        shardGroupDays:
          defaults.shardGroupDays === undefined ? shardGroupDays : shardGroupDays.default(defaults.shardGroupDays),
        /** Shown in the InfluxDB UI. */
        description: z.string().optional(),
      })
      .strict()
      .superRefine((bucket, ctx) => {
        if (!(bucket.retentionDays >= MIN_RETENTION_DAYS)) {
          ctx.addIssue({
            code: "custom",
            path: ["retentionDays"],
            message: `must be at least 1 hour (got ${bucket.retentionDays} days)`,
          });
        } else if (bucket.shardGroupDays !== undefined && bucket.shardGroupDays > bucket.retentionDays) {
          ctx.addIssue({
            code: "custom",
            path: ["shardGroupDays"],
            message: `must not exceed retentionDays (${bucket.shardGroupDays} > ${bucket.retentionDays})`,
          });
        }
      }),
  );
}

function taskSchema(defaults: { every: string; offset: string; lookback: string }, windowSeconds: number) {
  const effectiveEvery = (task: { every?: string; cron?: string }) =>
    task.cron === undefined ? (task.every ?? defaults.every) : undefined;
  return section(
    z
      .object({
        /** Whether the task exists on the server (disabled tasks are deleted, not paused). */
        enabled: flag.default(true),
        /** Run interval (Flux duration); mutually exclusive with `cron`. */
        every: duration.optional(),
        /** Cron schedule (5 or 6 fields, UTC); mutually exclusive with `every`. */
        cron: z
          .string()
          .regex(/^\S+(\s+\S+){4,5}$/, { message: "must be a cron expression of 5 or 6 fields" })
          .optional(),
        /** Delay after each scheduled time, so points that arrive late are still in the window. */
        offset: duration.default(defaults.offset),
        /** How far back each run re-aggregates; overlapping runs rewrite the same points and heal later data. */
        lookback: duration.default(defaults.lookback),
      })
      .strict()
      .superRefine((task, ctx) => {
        if (task.every !== undefined && task.cron !== undefined) {
          ctx.addIssue({ code: "custom", path: ["cron"], message: "set either every or cron, not both" });
        }
        const every = effectiveEvery(task);
        // Malformed durations already have their own issue; the rules below need well-formed ones.
        if (![task.lookback, every ?? "1s"].every((text) => DURATION_PATTERN.test(text))) return;
        const lookback = durationSeconds(task.lookback);
        if (lookback % windowSeconds !== 0) {
          ctx.addIssue({
            code: "custom",
            path: ["lookback"],
            message: `must be a whole number of ${windowSeconds / 3_600} h windows (got ${task.lookback})`,
          });
        } else if (every !== undefined && lookback < durationSeconds(every) + windowSeconds) {
          ctx.addIssue({
            code: "custom",
            path: ["lookback"],
            message: `must cover the run interval plus one window, or windows are skipped (got ${task.lookback} with every ${every})`,
          });
        }
      })
      .transform((task) => ({ ...task, every: effectiveEvery(task) })),
  );
}

/**
 * The one schema of everything a stack can set, with the defaults of `docs/schema.md`. The writer's
 * settings take their rules and defaults from the writer's own configuration module.
 */
export const stackConfigSchema = z
  .object({
    /** Where InfluxDB runs. */
    server: section(
      z
        .object({
          /** `docker`: this program runs `influxd` in a container; `external`: an existing server at `url`. */
          runtime: z.enum(["docker", "external"]).default("docker"),
          /** Image of the docker runtime; pinned so an up never upgrades the database behind the user's back. */
          image: z
            .string()
            .regex(/^[\w./-]+(:[\w.-]+)?(@sha256:[a-f0-9]{64})?$/, { message: "must be an image reference" })
            .refine((image) => /:[\w.-]+$|@sha256:/.test(image) && !image.endsWith(":latest"), {
              message: "must pin a tag or digest (not latest)",
            })
            .default("influxdb:2.7.12"),
          /** Host address the server port is published on; 0.0.0.0 exposes it to the network. */
          bindAddress: ipAddress.default("127.0.0.1"),
          /** Host port of the server (docker runtime). */
          port: port.default(8086),
          /**
           * Named docker volume holding `/var/lib/influxdb2`; kept when the container is replaced or the
           * stack destroyed. Unset: `ha-influx-<stack>-data`, so two stacks on one host never share data.
           */
          volume: dockerName.optional(),
          /** URL of an existing server (external runtime). */
          url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
          /**
           * Operator token (secret): of the existing server (external runtime, required); for the docker
           * runtime, the token the first setup creates, and the one a server that is already set up (a kept
           * volume) is adopted with.
           */
          adminToken: secretText.optional(),
          /** Seconds to wait for `/health` before giving up. */
          readyTimeoutSeconds: count(1, 3_600).default(120),
        })
        .strict(),
    ),
    /** Initial user of a server this program creates (docker runtime). */
    onboarding: section(
      z
        .object({
          /** Admin user name. */
          username: z.string().min(1).default("admin"),
          /** Admin password (secret); InfluxDB requires at least 8 characters. */
          password: z.string().min(8, { message: "must be at least 8 characters" }).optional(),
        })
        .strict(),
    ),
    /** Organisation that owns every bucket, task and token. */
    org: z.string().min(1).default(DEFAULT_ORG),
    /**
     * Whether `pulumi destroy` (or removing a bucket from the program) deletes the history: the
     * organisation, the buckets with their points, and the docker data volume. Off, they stay for the
     * next stack to adopt; tasks, tokens and mappings are deleted either way.
     */
    deleteDataOnDestroy: flag.default(false),
    /** Buckets per retention tier. */
    buckets: section(
      z
        .object({
          events: bucketSchema(DEFAULT_BUCKETS.events),
          weather: bucketSchema(DEFAULT_BUCKETS.weather),
          system: bucketSchema(DEFAULT_BUCKETS.system),
          sports: bucketSchema(DEFAULT_BUCKETS.sports),
          hourly: bucketSchema(DEFAULT_BUCKETS.hourly),
          daily: bucketSchema(DEFAULT_BUCKETS.daily),
        })
        .strict(),
    ),
    /** Downsampling tasks. */
    tasks: section(
      z
        .object({
          hourly: taskSchema({ every: "1h", offset: "5m", lookback: "3h" }, 3_600),
          daily: taskSchema({ every: "1d", offset: "30m", lookback: "3d" }, SECONDS_PER_DAY),
        })
        .strict(),
    ),
    /** IANA time zone of days in the daily rollup and of the writer's time-of-day tag. */
    timeZone: TimeZoneSchema.default("Europe/Berlin"),
    /** Which least-privilege tokens to create. */
    tokens: section(
      z
        .object({
          /** Write-only token for the writer's buckets. */
          writer: flag.default(true),
          /** Read-only token over every project bucket (dashboards, analysts). */
          reader: flag.default(true),
          /** Token for storage monitoring: read of the project buckets and the organisation. */
          monitor: flag.default(true),
        })
        .strict(),
    ),
    /** The bundled writer service. */
    writer: section(
      z
        .object({
          /** Whether to build and run the writer container (needs a docker engine). */
          enabled: flag.default(true),
          /** A prebuilt writer image; unset builds `writer/` with its Dockerfile. */
          image: z.string().min(1).optional(),
          /** Docker volume of the writer's spool; unset: `ha-influx-<stack>-writer-spool`. */
          spoolVolume: dockerName.optional(),
          logLevel: z.enum(LOG_LEVELS).default(WRITER_DEFAULTS.logLevel),
          logFormat: z.enum(LOG_FORMATS).default(WRITER_DEFAULTS.logFormat),
          batchSize: count(1, MAX_BATCH_SIZE).default(WRITER_DEFAULTS.batchSize),
          batchTimeoutSeconds: number().positive().default(WRITER_DEFAULTS.batchTimeoutSeconds),
          writeTimeoutSeconds: number().positive().default(WRITER_DEFAULTS.writeTimeoutSeconds),
          readTimeoutSeconds: number().positive().default(WRITER_DEFAULTS.readTimeoutSeconds),
          /** Home Assistant to subscribe to; unset leaves only the ingest endpoint as a source. */
          homeAssistant: z
            .object({
              /** Base URL, e.g. http://homeassistant.local:8123 (the writer derives the WebSocket URL). */
              url: HomeAssistantUrlSchema,
              /** Long-lived access token (secret); or `tokenFile`. */
              token: secretText.optional(),
              /**
               * A file holding the token, as the writer sees it, read before every login (a rotated token
               * needs no restart). A path, not a secret; only for a writer run outside this program
               * (`writer.enabled: false`): the container the program deploys mounts no such file.
               */
              tokenFile: z.string().min(1, { message: "must not be empty" }).optional(),
              weatherEntity: z
                .string()
                .refine((id) => isEntityId(id) && domainOf(id) === "weather", {
                  message: "must be a weather entity id",
                })
                .optional(),
              /** Whether the writer writes Home Assistant's current states after each (re)subscription; the writer's default is on. */
              snapshotOnStart: flag.optional(),
              /** Seconds between logins after Home Assistant rejects the token (its IP ban counts failures); the writer's default is 300. */
              authRetrySeconds: number().positive({ message: "must be greater than 0" }).optional(),
              /** Home Assistant's `recorder: commit_interval`, which the backfill after a reconnect waits for; the writer's default is 5 (Home Assistant's). */
              recorderCommitIntervalSeconds: number().min(0, { message: "must be 0 or more" }).optional(),
            })
            .strict()
            .optional(),
          /** HTTP ingest endpoint for upstream pipelines. */
          ingest: z
            .object({
              /** Address the writer listens on inside its container. */
              host: ipAddress.default(WRITER_DEFAULTS.ingestHost),
              port: port.default(WRITER_DEFAULTS.ingestPort),
              /** Host address the ingest port is published on. */
              bindAddress: ipAddress.default("127.0.0.1"),
              /** Bearer token upstream pipelines send (secret); the writer serves no ingest without one. */
              token: secretText.optional(),
            })
            .strict()
            .optional(),
          filters: FiltersSchema.optional(),
        })
        .strict(),
    ),
    /**
     * The storage monitor inside the writer (needs `tokens.monitor`): sizes, growth, forecasts, task
     * health and alerts. The README's "Watching storage" says what each alert means.
     */
    monitor: section(
      z
        .object({
          /** Whether the writer runs the monitor. */
          enabled: flag.default(true),
          /** Seconds between samples. */
          intervalSeconds: count(10, 86_400).default(MONITOR_DEFAULTS.intervalSeconds),
          /** Days of samples the growth rate is fitted over. */
          growthWindowDays: number().positive().default(MONITOR_DEFAULTS.growthWindowDays),
          /**
           * A directory the writer sees on InfluxDB's data disk; free space by statfs. Unset with the docker
           * runtime (and no `capacityGb`), the program mounts the data volume into the writer and sets it.
           */
          dataDir: z.string().min(1).optional(),
          /** The disk InfluxDB may fill, in GB, when the writer cannot see its data directory (an external server). */
          capacityGb: number().positive().optional(),
          /** Alert thresholds. */
          alerts: section(
            z
              .object({
                /** Disk use (%) from which `disk_used` fires. */
                diskUsedPercent: number().min(1).max(100).default(MONITOR_DEFAULTS.alerts.diskUsedPercent),
                /** Days until full below which `disk_full_soon` fires. */
                daysUntilFull: number().positive().default(MONITOR_DEFAULTS.alerts.daysUntilFull),
                /** Failed runs in a row from which `task_failing` fires. */
                taskFailedRuns: count(1, 1_000).default(MONITOR_DEFAULTS.alerts.taskFailedRuns),
                /** Windows behind schedule above which `task_lagging` fires. */
                taskLagWindows: number().positive().default(MONITOR_DEFAULTS.alerts.taskLagWindows),
                /** Series in one bucket above which `series_high` fires. */
                seriesMax: count(1, 1e12).default(MONITOR_DEFAULTS.alerts.seriesMax),
                /** New series a day in one bucket above which `series_growth` fires. */
                seriesGrowthPerDay: number().positive().default(MONITOR_DEFAULTS.alerts.seriesGrowthPerDay),
              })
              .strict(),
          ),
        })
        .strict(),
    ),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.server.runtime === "external") {
      if (cfg.server.url === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["server", "url"],
          message: "is required when server.runtime is external",
        });
      }
      if (cfg.server.adminToken === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["server", "adminToken"],
          message:
            "is required when server.runtime is external (pulumi config set --secret --path ha-influx:server.adminToken)",
        });
      }
    } else if (cfg.onboarding.password === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["onboarding", "password"],
        message:
          "is required when server.runtime is docker (pulumi config set --secret --path ha-influx:onboarding.password)",
      });
    }
    if (cfg.writer.enabled && !cfg.tokens.writer) {
      ctx.addIssue({
        code: "custom",
        path: ["tokens", "writer"],
        message: "must be true while writer.enabled is true",
      });
    }
    const homeAssistant = cfg.writer.homeAssistant;
    if (homeAssistant !== undefined) {
      const { token, tokenFile } = homeAssistant;
      if (token === undefined && tokenFile === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["writer", "homeAssistant", "token"],
          message: cfg.writer.enabled
            ? "is required with writer.homeAssistant (pulumi config set --secret --path ha-influx:writer.homeAssistant.token)"
            : "is required with writer.homeAssistant, or tokenFile naming a file that holds it (pulumi config set --secret --path ha-influx:writer.homeAssistant.token)",
        });
      } else if (token !== undefined && tokenFile !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["writer", "homeAssistant", "tokenFile"],
          message: "set either token or tokenFile, not both",
        });
      } else if (tokenFile !== undefined && cfg.writer.enabled) {
        ctx.addIssue({
          code: "custom",
          path: ["writer", "homeAssistant", "tokenFile"],
          message:
            "is read by the writer, and the writer container this program deploys has no such file: set writer.homeAssistant.token (a secret), or writer.enabled false to run the writer yourself",
        });
      }
    }
    const raw = cfg.buckets.events.retentionDays;
    for (const rollup of ["hourly", "daily"] as const) {
      if (cfg.buckets[rollup].retentionDays <= raw) {
        ctx.addIssue({
          code: "custom",
          path: ["buckets", rollup, "retentionDays"],
          message: `must exceed buckets.events.retentionDays, or rollups vanish with the raw data (${cfg.buckets[rollup].retentionDays} <= ${raw})`,
        });
      }
    }
    const names = Object.values(cfg.buckets).map((bucket) => bucket.name);
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["buckets"],
        message: `bucket names must be distinct (${duplicate} is used twice)`,
      });
    }
  });

/** A stack's settings after validation and defaults. */
export type StackConfig = z.output<typeof stackConfigSchema>;
/** One bucket's settings. */
export type BucketConfig = StackConfig["buckets"]["events"];
/** One task's settings. */
export type TaskConfig = StackConfig["tasks"]["hourly"];

/** Thrown for invalid stack configuration; `issues` holds one `key: rule` line per problem. */
export class StackConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid ha-influx stack configuration:\n  ${issues.join("\n  ")}`);
    this.name = "StackConfigError";
  }
}

/**
 * Validates a stack's raw settings (the `ha-influx:*` keys without namespace) and fills in defaults.
 * Throws one {@link StackConfigError} naming every bad key with the rule it broke.
 */
export function parseStackConfig(raw: Record<string, unknown>): StackConfig {
  const result = stackConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new StackConfigError(
    result.error.issues.map((issue) => {
      const key = issue.path.join(".");
      if (issue.code === "unrecognized_keys") {
        return issue.keys.map((unknown) => `${key ? `${key}.` : ""}${unknown}: unknown key`).join("\n  ");
      }
      return `${key || "(root)"}: ${issue.message}`;
    }),
  );
}

/**
 * Reads every `ha-influx:*` key of the current stack. Values are kept as the engine hands them over
 * (objects arrive as JSON text); secret values stay plain here and are wrapped with `pulumi.secret`
 * where resources receive them.
 */
export function readStackConfig(): Record<string, unknown> {
  const prefix = `${CONFIG_NAMESPACE}:`;
  const raw: Record<string, unknown> = {};
  // Every key of the namespace, not only the known ones, so a misspelt key is reported rather than ignored.
  for (const [fullKey, text] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(prefix)) continue;
    raw[fullKey.slice(prefix.length)] = /^\s*[{[]/.test(text) ? JSON.parse(text) : text;
  }
  return raw;
}

/**
 * The writer's configuration: one zod schema over the program's `writerConfig` output (a JSON file or
 * standard input) merged with the environment variables of `docs/schema.md`, where the environment
 * wins. A bad or missing value stops start-up with a message naming the variable or key; unknown keys
 * are errors, so a key the program and the writer spell differently cannot pass unnoticed.
 *
 * This module is the writer's public contract (`ha-influx-writer/config`): the Pulumi program builds
 * `writerConfig` as a `WriterConfigFile` and validates its own stack settings with the rules and
 * defaults exported here, so they exist once.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { ENTITY_ID_RULE, isDomain, isEntityId } from "./entityId";
import { DEFAULT_EVENT_LIMITS, MAX_STRING_FIELD_BYTES, MAX_TAG_VALUE_BYTES } from "./events";
import { globProblem } from "./filters";
import { MonitorConfigSchema } from "./monitor/config";
import { DEFAULT_BUCKETS, DEFAULT_ORG } from "./schema";

/** The monitor's defaults, for the stack config that declares its settings. */
export { MONITOR_DEFAULTS } from "./monitor/config";

const positiveInt = z.number().int().min(1);
const positiveSeconds = z.number().positive();

/** Defaults shared by the writer and the stack configuration. */
export const WRITER_DEFAULTS = {
  logLevel: "info",
  logFormat: "json",
  batchSize: 1000,
  batchTimeoutSeconds: 5,
  writeTimeoutSeconds: 30,
  readTimeoutSeconds: 10,
  ingestHost: "0.0.0.0",
  ingestPort: 8087,
} as const;
/** Most lines one write request may carry. */
export const MAX_BATCH_SIZE = 100_000;

/** True for an IANA time zone that this Node.js runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** An IANA time zone (checked, so a typo fails at start-up rather than at the first event). */
export const TimeZoneSchema = z
  .string()
  .refine(isTimeZone, { message: "must be an IANA time zone such as Europe/Berlin" });

const httpUrl = z
  .string()
  .refine((value) => /^https?:\/\//i.test(value) && URL.canParse(value), { message: "must be an http(s) URL" });

/** Home Assistant's base URL or its WebSocket URL. */
export const HomeAssistantUrlSchema = z
  .string()
  .refine((value) => /^(https?|wss?):\/\//i.test(value) && URL.canParse(value), {
    message: "must be an http(s) or ws(s) URL",
  });

/** An entity id by the project's one rule (`entityId.ts`). */
export const EntityIdSchema = z.string().refine(isEntityId, { message: `must be ${ENTITY_ID_RULE}` });

/** One side (include or exclude) of an entity filter, as Home Assistant's `entity_globs` users know it. */
const filterSelector = z
  .object({
    entities: z.array(EntityIdSchema).default([]),
    domains: z.array(z.string().refine(isDomain, { message: "must be a domain like sensor" })).default([]),
    entityGlobs: z
      .array(
        z
          .string()
          .min(1)
          .superRefine((glob, ctx) => {
            const problem = globProblem(glob);
            if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
          }),
      )
      .default([]),
  })
  .strict();
export type FilterSelector = z.infer<typeof filterSelector>;

/** Include/exclude filters with Home Assistant's semantics (`filters.ts`); each side defaults to empty. */
export const FiltersSchema = z
  .object({ include: filterSelector.prefault({}), exclude: filterSelector.prefault({}) })
  .strict();

/** Bucket roles a routing rule may name; each resolves through `influxdb.buckets`. */
export const ROUTABLE_BUCKETS = ["events", "weather", "system", "sports"] as const;
export type RoutableBucket = (typeof ROUTABLE_BUCKETS)[number];

const routingRule = z
  .object({
    match: filterSelector,
    bucket: z.enum(ROUTABLE_BUCKETS),
    mode: z.enum(["also", "instead"]).default("also"),
  })
  .strict();

/** Log levels a user may choose (pino's). */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
/** Levels the writer takes: the user's, and `silent` for embedding and tests. */
const WRITER_LOG_LEVELS = [...LOG_LEVELS, "silent"] as const;
export type LogLevel = (typeof WRITER_LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "text"] as const;

/** The schema of the resolved configuration (after merging the file and the environment). */
export const WriterConfigSchema = z
  .object({
    /** Where and how to write: the provisioner's InfluxDB outputs. */
    influxdb: z
      .object({
        /** Base URL of the InfluxDB 2.7 server. */
        url: httpUrl,
        /** Organisation name. */
        org: z.string().min(1).default(DEFAULT_ORG),
        /** Token with write permission on the buckets; never logged. */
        token: z.string().min(1),
        /** Bucket names per role. */
        buckets: z
          .object({
            events: z.string().min(1).default(DEFAULT_BUCKETS.events.name),
            weather: z.string().min(1).default(DEFAULT_BUCKETS.weather.name),
            system: z.string().min(1).default(DEFAULT_BUCKETS.system.name),
            sports: z.string().min(1).default(DEFAULT_BUCKETS.sports.name),
          })
          .strict()
          .prefault({}),
        /** Lines per write request. */
        batchSize: positiveInt.max(MAX_BATCH_SIZE).default(WRITER_DEFAULTS.batchSize),
        /** Longest wait before an unfilled batch is sent. */
        batchTimeoutSeconds: positiveSeconds.default(WRITER_DEFAULTS.batchTimeoutSeconds),
        writeTimeoutSeconds: positiveSeconds.default(WRITER_DEFAULTS.writeTimeoutSeconds),
        readTimeoutSeconds: positiveSeconds.default(WRITER_DEFAULTS.readTimeoutSeconds),
        /** A write unanswered this long, or a failed probe, reports InfluxDB unhealthy; the write timeout when absent. */
        healthTimeoutSeconds: positiveSeconds.optional(),
      })
      .strict(),
    /** Retention of the raw, hourly and daily tiers in days (for query templates choosing a tier). */
    retention: z
      .object({
        rawDays: positiveInt.default(DEFAULT_BUCKETS.events.retentionDays),
        hourlyDays: positiveInt.default(DEFAULT_BUCKETS.hourly.retentionDays),
        dailyDays: positiveInt.default(DEFAULT_BUCKETS.daily.retentionDays),
      })
      .strict()
      .prefault({}),
    /**
     * Zone of `time_of_day` and of timestamps written without an offset. Unset: Home Assistant's
     * (from `get_config`) when the Home Assistant source is configured, else UTC.
     */
    timeZone: TimeZoneSchema.optional(),
    logLevel: z.enum(WRITER_LOG_LEVELS).default(WRITER_DEFAULTS.logLevel),
    logFormat: z.enum(LOG_FORMATS).default(WRITER_DEFAULTS.logFormat),
    /** The Home Assistant WebSocket source; absent when not configured. */
    homeAssistant: z
      .object({
        url: HomeAssistantUrlSchema,
        /** Long-lived access token; or `tokenFile`, re-read before every login. */
        token: z.string().min(1).optional(),
        tokenFile: z.string().min(1).optional(),
        weatherEntity: EntityIdSchema.optional(),
        snapshotOnStart: z.boolean().default(true),
        /** Pause after Home Assistant rejects the token (at most one failed login per this long). */
        authRetrySeconds: positiveSeconds.default(300),
        /** Home Assistant's `recorder: commit_interval` (its default 5 s): the backfill after a reconnect waits for it. */
        recorderCommitIntervalSeconds: z.number().min(0).default(5),
      })
      .strict()
      .refine((ha) => ha.token !== undefined || ha.tokenFile !== undefined, {
        message: "required (or a file holding it: HA_TOKEN_FILE, homeAssistant.tokenFile)",
        path: ["token"],
      })
      .optional(),
    /** The HTTP ingest endpoint (served only with a token) and the probes' port. */
    ingest: z
      .object({
        host: z.string().min(1).default(WRITER_DEFAULTS.ingestHost),
        port: z.number().int().min(0).max(65535).default(WRITER_DEFAULTS.ingestPort),
        token: z.string().min(1).optional(),
        maxBodyBytes: positiveInt.default(10 * 1024 * 1024),
        /** Most events one request may carry (413 above); bounds a request's memory and time. */
        maxEventsPerRequest: positiveInt.max(1_000_000).default(10_000),
        /** Largest single event (its JSON text) in bytes; larger ones are rejected without being parsed. */
        maxEventBytes: positiveInt.default(256 * 1024),
      })
      .strict()
      .prefault({}),
    /** Include/exclude filters with Home Assistant's semantics (`filters.ts`). */
    filters: FiltersSchema.prefault({}),
    /** Extra routing rules (`routing.ts`). */
    routing: z
      .object({ rules: z.array(routingRule).default([]) })
      .strict()
      .prefault({}),
    /** The durable spool (`spool.ts`): its directory and its bound in bytes. */
    spool: z
      .object({
        dir: z.string().min(1).default("spool"),
        maxBytes: positiveInt.min(1024 * 1024).default(1024 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    /** Size limits of event values that become tags and string fields (`events.ts`); longer ones are rejected. */
    limits: z
      .object({
        maxTagValueBytes: positiveInt.max(MAX_TAG_VALUE_BYTES).default(DEFAULT_EVENT_LIMITS.maxTagValueBytes),
        maxStringFieldBytes: positiveInt.max(MAX_STRING_FIELD_BYTES).default(DEFAULT_EVENT_LIMITS.maxStringFieldBytes),
      })
      .strict()
      .prefault({}),
    /** How often the writer's own statistics go to the system bucket. */
    statsIntervalSeconds: positiveSeconds.default(60),
    /** The storage monitor (`monitor/`); runs only when this section carries the monitor token. */
    monitor: MonitorConfigSchema.optional(),
  })
  .strict();

/** The resolved, validated configuration every module receives. */
export type WriterConfig = z.output<typeof WriterConfigSchema>;
/** The JSON the writer reads (`writerConfig`): what the schema takes, before its defaults. */
export type WriterConfigFile = z.input<typeof WriterConfigSchema>;

/** Start-up failure that names every bad or missing setting; never contains a secret value. */
export class ConfigError extends Error {
  /** One line per problem: `INFLUXDB_TOKEN (influxdb.token): required`. */
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid writer configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

type EnvKind = "string" | "number" | "level";
/** Environment variables and the configuration key each one sets. */
export const ENV_VARS: Readonly<Record<string, { path: string; kind: EnvKind }>> = {
  INFLUXDB_URL: { path: "influxdb.url", kind: "string" },
  INFLUXDB_TOKEN: { path: "influxdb.token", kind: "string" },
  INFLUXDB_ORG: { path: "influxdb.org", kind: "string" },
  INFLUXDB_BUCKET: { path: "influxdb.buckets.events", kind: "string" },
  INFLUXDB_WEATHER_BUCKET: { path: "influxdb.buckets.weather", kind: "string" },
  INFLUXDB_SYSTEM_BUCKET: { path: "influxdb.buckets.system", kind: "string" },
  INFLUXDB_SPORTS_BUCKET: { path: "influxdb.buckets.sports", kind: "string" },
  INFLUXDB_BATCH_SIZE: { path: "influxdb.batchSize", kind: "number" },
  INFLUXDB_BATCH_TIMEOUT: { path: "influxdb.batchTimeoutSeconds", kind: "number" },
  INFLUXDB_WRITE_TIMEOUT: { path: "influxdb.writeTimeoutSeconds", kind: "number" },
  INFLUXDB_READ_TIMEOUT: { path: "influxdb.readTimeoutSeconds", kind: "number" },
  INFLUXDB_HEALTH_TIMEOUT: { path: "influxdb.healthTimeoutSeconds", kind: "number" },
  RAW_DATA_RETENTION_DAYS: { path: "retention.rawDays", kind: "number" },
  HOURLY_SUMMARY_RETENTION_DAYS: { path: "retention.hourlyDays", kind: "number" },
  DAILY_SUMMARY_RETENTION_DAYS: { path: "retention.dailyDays", kind: "number" },
  LOG_LEVEL: { path: "logLevel", kind: "level" },
  LOG_FORMAT: { path: "logFormat", kind: "string" },
  WRITER_TIME_ZONE: { path: "timeZone", kind: "string" },
  HA_URL: { path: "homeAssistant.url", kind: "string" },
  HA_TOKEN: { path: "homeAssistant.token", kind: "string" },
  HA_TOKEN_FILE: { path: "homeAssistant.tokenFile", kind: "string" },
  HA_AUTH_RETRY_SECONDS: { path: "homeAssistant.authRetrySeconds", kind: "number" },
  HA_RECORDER_COMMIT_INTERVAL: { path: "homeAssistant.recorderCommitIntervalSeconds", kind: "number" },
  HA_WEATHER_ENTITY: { path: "homeAssistant.weatherEntity", kind: "string" },
  INGEST_HOST: { path: "ingest.host", kind: "string" },
  INGEST_PORT: { path: "ingest.port", kind: "number" },
  INGEST_TOKEN: { path: "ingest.token", kind: "string" },
  INGEST_MAX_EVENTS_PER_REQUEST: { path: "ingest.maxEventsPerRequest", kind: "number" },
  WRITER_SPOOL_DIR: { path: "spool.dir", kind: "string" },
  WRITER_SPOOL_MAX_BYTES: { path: "spool.maxBytes", kind: "number" },
  WRITER_STATS_INTERVAL: { path: "statsIntervalSeconds", kind: "number" },
};

/** Python-style level names (`INFO`, `WARNING`, `CRITICAL`; `docs/schema.md`) mapped to pino's. */
const LEVEL_ALIASES: Record<string, string> = { warning: "warn", critical: "fatal", notset: "trace" };

/** Where the configuration JSON comes from: a file path, or `-` for standard input. */
export interface LoadConfigOptions {
  /** Environment variables; they override the file. */
  env: NodeJS.ProcessEnv;
  /** Path of the `writerConfig` JSON, or `-` to read it from `stdin`. */
  file?: string;
  /** Stream read when `file` is `-`; defaults to `process.stdin`. */
  stdin?: NodeJS.ReadableStream;
}

/** Reads the optional `writerConfig` JSON and resolves it with the environment. Throws `ConfigError`. */
export async function loadConfig(options: LoadConfigOptions): Promise<WriterConfig> {
  let json: unknown = {};
  if (options.file !== undefined) {
    const source = options.file === "-" ? "standard input" : options.file;
    let text: string;
    try {
      text =
        options.file === "-" ? await readAll(options.stdin ?? process.stdin) : await readFile(options.file, "utf8");
    } catch (error) {
      throw new ConfigError([`config file ${source}: cannot be read (${(error as Error).message})`]);
    }
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new ConfigError([`config file ${source}: not valid JSON (${(error as Error).message})`]);
    }
  }
  return resolveConfig(json, options.env);
}

/** Merges `writerConfig` JSON with the environment (environment wins) and validates the result. */
export function resolveConfig(json: unknown, env: NodeJS.ProcessEnv): WriterConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new ConfigError(["config file: must be a JSON object"]);
  }
  const merged = structuredClone(json) as Record<string, unknown>;
  const fromEnv = new Map<string, string>();
  const problems: string[] = [];
  for (const [name, { path, kind }] of Object.entries(ENV_VARS)) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    let value: unknown = raw;
    if (kind === "number") {
      value = Number(raw.trim());
      if (raw.trim() === "" || !Number.isFinite(value)) {
        problems.push(`${name} (${path}): must be a number, got "${raw}"`);
        continue;
      }
    } else if (kind === "level") {
      const lower = raw.trim().toLowerCase();
      value = LEVEL_ALIASES[lower] ?? lower;
    }
    setPath(merged, path, value);
    fromEnv.set(path, name);
  }
  if (merged.timeZone === undefined && env.TZ) merged.timeZone = env.TZ.replace(/^:/, "");
  if (problems.length > 0) throw new ConfigError(problems);

  const parsed = WriterConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.flatMap((issue) => {
        const path = issue.path.map(String).join(".");
        if (issue.code === "unrecognized_keys")
          return issue.keys.map((key) => `${path ? `${path}.` : ""}${key}: unknown key`);
        const envName = fromEnv.get(path) ?? envNameFor(path);
        const label = envName ? `${envName} (${path})` : path || "config";
        return `${label}: ${issue.code === "invalid_type" && issue.input === undefined ? "required" : issue.message}`;
      }),
    );
  }
  return parsed.data;
}

/** Secret values in a configuration, for the logger's string redaction. */
export function secretsOf(config: WriterConfig): string[] {
  return [config.influxdb.token, config.homeAssistant?.token, config.ingest.token, config.monitor?.token].filter(
    (secret): secret is string => typeof secret === "string" && secret.length > 0,
  );
}

function envNameFor(path: string): string | undefined {
  return Object.entries(ENV_VARS).find(([, spec]) => spec.path === path)?.[0];
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== "object" || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

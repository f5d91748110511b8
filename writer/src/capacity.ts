#!/usr/bin/env node
/**
 * `ha-influx-capacity`: a capacity report from the samples the storage monitor stored in the system
 * bucket and a live sample of the server: per bucket size, series, growth, retention and the size it
 * settles at; when the disk fills; the entities that weigh most; the rollup tasks' health.
 *
 * Configured like the writer: the program's `writerConfig` output (`--config <file>` or `--config -`
 * for `pulumi stack output writerConfig --show-secrets | ha-influx-capacity --config -`), then the
 * environment, then flags (each wins over the one before). It reads with the monitor token.
 *
 * Exit codes: 0 report printed; 1 a user error or a server problem, in one line on standard error.
 */
import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { z } from "zod";
import { AlertThresholdsSchema, MONITOR_DEFAULTS } from "./monitor/config";
import { loadHistory } from "./monitor/history";
import { InfluxApi } from "./monitor/influxApi";
import { buildReport, queryTopEntities } from "./monitor/report";
import { formatTable } from "./monitor/reportTable";
import { takeSample } from "./monitor/sampler";
import { renderCapacitySvg } from "./monitor/svg";
import { DEFAULT_BUCKETS, DEFAULT_ORG } from "./schema";

const USAGE = `usage: ha-influx-capacity [--config <writerConfig.json> | --config -] [options]

  --config <file|->     the program's writerConfig output (its influxdb and monitor sections)
  --url <url>           InfluxDB URL                              (INFLUXDB_URL, influxdb.url)
  --org <name>          organisation                              (INFLUXDB_ORG, influxdb.org)
  --token <token>       the monitor token                         (INFLUXDB_MONITOR_TOKEN, monitor.token)
  --system-bucket <b>   where the monitor stores its samples      (INFLUXDB_SYSTEM_BUCKET, influxdb.buckets.system)
  --events-bucket <b>   raw events, for the top entities          (INFLUXDB_BUCKET, influxdb.buckets.events)
  --data-dir <dir>      a directory on InfluxDB's data disk: free space by statfs (monitor.dataDir)
  --capacity-gb <n>     the disk InfluxDB may fill, when --data-dir is not visible (monitor.capacityBytes)
  --window-days <n>     days of samples to fit the growth over    (monitor.growthWindowDays, default ${MONITOR_DEFAULTS.growthWindowDays})
  --top <n>             how many top entities to list (default 10; 0 leaves them out)
  --format <f>          table (default), json or svg
  --output <file>       write the report there instead of standard output
`;

/** What the report needs, after the file, the environment and the flags are merged. */
const OptionsSchema = z.object({
  url: z.string().refine((v) => /^https?:\/\//i.test(v) && URL.canParse(v), "must be an http(s) URL"),
  org: z.string().min(1),
  token: z.string().min(1, "required"),
  systemBucket: z.string().min(1),
  eventsBucket: z.string().min(1),
  dataDir: z.string().min(1).optional(),
  capacityBytes: z.number().positive().optional(),
  windowDays: z.number().positive(),
  top: z.number().int().min(0).max(1000),
  format: z.enum(["table", "json", "svg"]),
  timeoutMs: z.number().positive(),
  alerts: AlertThresholdsSchema,
});
type Options = z.infer<typeof OptionsSchema>;

/** The parts of `writerConfig` the report reads (the rest, the writer's token included, is ignored). */
const ConfigFileSchema = z
  .object({
    influxdb: z
      .object({
        url: z.string().optional(),
        org: z.string().optional(),
        buckets: z.object({ events: z.string().optional(), system: z.string().optional() }).loose().optional(),
        readTimeoutSeconds: z.number().positive().optional(),
      })
      .loose()
      .optional(),
    monitor: z
      .object({
        token: z.string().optional(),
        dataDir: z.string().optional(),
        capacityBytes: z.number().optional(),
        growthWindowDays: z.number().optional(),
        alerts: z.record(z.string(), z.unknown()).optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

/** A user error: printed as one line, exit code 1. */
class UsageError extends Error {}

/** Where output goes (tests pass their own). */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin?: NodeJS.ReadableStream;
}

const defaultIo: Io = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

/** The command line's options (a function so that its result type can be named). */
function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      url: { type: "string" },
      org: { type: "string" },
      token: { type: "string" },
      "system-bucket": { type: "string" },
      "events-bucket": { type: "string" },
      "data-dir": { type: "string" },
      "capacity-gb": { type: "string" },
      "window-days": { type: "string" },
      top: { type: "string" },
      format: { type: "string" },
      output: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** Runs the command; resolves with the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv, io: Io = defaultIo): Promise<number> {
  try {
    let values: ReturnType<typeof parseCommandLine>["values"];
    try {
      values = parseCommandLine(argv).values;
    } catch (error) {
      throw new UsageError(`${(error as Error).message} (--help lists the options)`);
    }
    if (values.help) {
      io.stdout(USAGE);
      return 0;
    }
    const options = await resolveOptions(values, env, io);
    const api = new InfluxApi({
      url: options.url,
      org: options.org,
      token: options.token,
      timeoutMs: options.timeoutMs,
    });
    io.stderr(`sampling ${options.url} (org ${options.org})\n`);
    const sample = await takeSample({ api, dataDir: options.dataDir, capacityBytes: options.capacityBytes });
    io.stderr(`reading ${options.windowDays} days of stored samples from ${options.systemBucket}\n`);
    const [history, topEntities] = await Promise.all([
      loadHistory(api, options.systemBucket, options.windowDays),
      options.top > 0 && sample.buckets.some((b) => b.name === options.eventsBucket)
        ? queryTopEntities(api, options.eventsBucket, options.top)
        : undefined,
    ]);
    const report = buildReport({
      sample,
      history,
      windowDays: options.windowDays,
      server: options.url,
      org: options.org,
      thresholds: options.alerts,
      topEntities,
    });
    const text =
      options.format === "json"
        ? `${JSON.stringify(report, null, 2)}\n`
        : options.format === "svg"
          ? renderCapacitySvg(report, history)
          : formatTable(report);
    if (values.output !== undefined) {
      await writeFile(values.output, text);
      io.stderr(`wrote ${values.output}\n`);
    } else io.stdout(text);
    return 0;
  } catch (error) {
    // One line, never the token: every message here names an endpoint or an option, not a value.
    io.stderr(`ha-influx-capacity: ${(error as Error).message.replace(/\s*\n\s*/g, " ")}\n`);
    return 1;
  }
}

async function resolveOptions(
  flags: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
  io: Io,
): Promise<Options> {
  let file: z.infer<typeof ConfigFileSchema> = {};
  const configPath = flags.config as string | undefined;
  if (configPath !== undefined) {
    const source = configPath === "-" ? "standard input" : configPath;
    let text: string;
    try {
      text = configPath === "-" ? await readAll(io.stdin ?? process.stdin) : await readFile(configPath, "utf8");
    } catch (error) {
      throw new UsageError(
        `config ${source}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UsageError(`config ${source}: not valid JSON`);
    }
    const parsed = ConfigFileSchema.safeParse(json);
    if (!parsed.success)
      throw new UsageError(
        `config ${source}: ${parsed.error.issues[0]!.path.join(".")}: ${parsed.error.issues[0]!.message}`,
      );
    file = parsed.data;
  }
  const str = (flag: string) => flags[flag] as string | undefined;
  const num = (flag: string): number | undefined => {
    const raw = str(flag);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value)) throw new UsageError(`--${flag} must be a number, got "${raw}"`);
    return value;
  };
  const capacityGb = num("capacity-gb");
  const merged = {
    url: str("url") ?? env.INFLUXDB_URL ?? file.influxdb?.url,
    org: str("org") ?? env.INFLUXDB_ORG ?? file.influxdb?.org ?? DEFAULT_ORG,
    token: str("token") ?? env.INFLUXDB_MONITOR_TOKEN ?? file.monitor?.token,
    systemBucket:
      str("system-bucket") ??
      env.INFLUXDB_SYSTEM_BUCKET ??
      file.influxdb?.buckets?.system ??
      DEFAULT_BUCKETS.system.name,
    eventsBucket:
      str("events-bucket") ?? env.INFLUXDB_BUCKET ?? file.influxdb?.buckets?.events ?? DEFAULT_BUCKETS.events.name,
    // A --capacity-gb given here wins over the file's data directory, which (for the docker runtime) is a
    // path inside the writer container that this machine may not have.
    dataDir: str("data-dir") ?? (capacityGb !== undefined ? undefined : file.monitor?.dataDir),
    capacityBytes: capacityGb !== undefined ? capacityGb * 1e9 : file.monitor?.capacityBytes,
    windowDays: num("window-days") ?? file.monitor?.growthWindowDays ?? MONITOR_DEFAULTS.growthWindowDays,
    top: num("top") ?? 10,
    format: str("format") ?? "table",
    timeoutMs: (file.influxdb?.readTimeoutSeconds ?? 30) * 1000,
    alerts: file.monitor?.alerts ?? {},
  };
  const parsed = OptionsSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0]);
    const where = OPTION_SOURCES[key] ?? key;
    throw new UsageError(
      `${where}: ${issue.code === "invalid_type" && issue.input === undefined ? "required" : issue.message}`,
    );
  }
  return parsed.data;
}

/** How the user sets each option, for error messages. */
const OPTION_SOURCES: Record<string, string> = {
  url: "--url (INFLUXDB_URL, influxdb.url)",
  org: "--org (INFLUXDB_ORG, influxdb.org)",
  token: "--token (INFLUXDB_MONITOR_TOKEN, monitor.token)",
  systemBucket: "--system-bucket",
  eventsBucket: "--events-bucket",
  dataDir: "--data-dir",
  capacityBytes: "--capacity-gb (monitor.capacityBytes)",
  windowDays: "--window-days",
  top: "--top",
  format: "--format (table, json or svg)",
  alerts: "monitor.alerts",
};

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`ha-influx-capacity: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
